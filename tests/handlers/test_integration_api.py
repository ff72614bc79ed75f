"""API keys beside user tokens, the events feed over HTTP, and the console's integration
settings (webhooks with their secret shown once, API keys)."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.enterprise import members as M
from core.integration import api_keys as K
from core.integration import events as EV
from storage.models import ApiKey
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    joined_member,
    new_phone,
    session_token,
)


async def _key(deps, user_id: str, ent: str, scope: str) -> str:
    _view, token = await K.create_key(deps, user_id, ent, name=f"{scope} 对接", scope=scope,
                                      meta=META)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _code(resp) -> str:
    return (await resp.json())["error"]["code"]


async def test_a_key_reads_its_enterprise_and_is_stored_hashed(client, deps, clock) -> None:
    ent, admin = await certified_enterprise(deps)
    token = await _key(deps, admin, ent, "read")
    assert token.startswith("lsk_")
    resp = await client.get(f"/api/v1/enterprises/{ent}/members", headers=_bearer(token))
    assert resp.status == 200 and len((await resp.json())["members"]) == 1
    async with deps.db.sessions() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert token not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    assert row.last_used_at == clock.now() and row.last_used_ip == "127.0.0.1"
    [view] = await K.list_keys(deps, admin, ent)
    assert view.last_used_at == clock.now()


async def test_a_read_key_cannot_write(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    resp = await client.post(f"/api/v1/enterprises/{ent}/employees",
                             headers=_bearer(await _key(deps, admin, ent, "read")),
                             json={"name": "员工甲", "phone": new_phone()})
    assert resp.status == 403 and await _code(resp) == "api_key_scope"


async def test_an_employees_key_onboards_but_cannot_manage_members(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    headers = _bearer(await _key(deps, admin, ent, "employees"))
    resp = await client.post(f"/api/v1/enterprises/{ent}/employees", headers=headers,
                             json={"name": "员工甲", "phone": new_phone()})
    assert resp.status == 201
    resp = await client.post(f"/api/v1/enterprises/{ent}/members", headers=headers,
                             json={"phone": new_phone(), "name": "成员", "role_ids": []})
    assert resp.status == 403 and await _code(resp) == "api_key_scope"


async def test_a_key_stays_in_its_enterprise(client, deps) -> None:
    ent_a, admin = await certified_enterprise(deps)
    ent_b, _ = await certified_enterprise(deps, owner_id=admin, name="乙公司有限公司")
    headers = _bearer(await _key(deps, admin, ent_a, "admin"))
    for path in (f"/api/v1/enterprises/{ent_b}/members",
                 f"/api/v1/events?enterprise_id={ent_b}"):
        resp = await client.get(path, headers=headers)
        assert resp.status == 403 and await _code(resp) == "api_key_enterprise", path
    # The same person's own session reaches both.
    own = {"Authorization": f"Bearer {await session_token(deps, admin)}"}
    assert (await client.get(f"/api/v1/enterprises/{ent_b}/members", headers=own)).status == 200


async def test_a_key_never_acts_as_a_person(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    headers = _bearer(await _key(deps, admin, ent, "admin"))
    for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/auth/logout"),
                         ("GET", "/api/v1/contracts"), ("GET", "/api/v1/identity"),
                         ("GET", "/api/v1/enterprises")):
        resp = await client.request(method, path, headers=headers, json={})
        assert resp.status == 403 and await _code(resp) == "api_key_not_allowed", path
    # Nor is it a login for the pages.
    resp = await client.get("/console", headers=headers, allow_redirects=False)
    assert resp.status == 303


async def test_a_revoked_key_is_refused(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    token = await _key(deps, admin, ent, "read")
    [view] = await K.list_keys(deps, admin, ent)
    await K.revoke_key(deps, admin, ent, view.id, META)
    resp = await client.get(f"/api/v1/enterprises/{ent}/members", headers=_bearer(token))
    assert resp.status == 401 and await _code(resp) == "unauthenticated"
    resp = await client.get(f"/api/v1/enterprises/{ent}/members",
                            headers=_bearer("lsk_" + "x" * 43))
    assert resp.status == 401


async def test_a_key_has_no_more_than_its_makers_permissions_now(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    maker = await joined_member(deps, ent, admin, "admin")
    headers = _bearer(await _key(deps, maker, ent, "admin"))
    resp = await client.get(f"/api/v1/enterprises/{ent}/webhooks", headers=headers)
    assert resp.status == 200
    roles = {r.builtin: r.id for r in await M.list_roles(deps, admin, ent)}
    member = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == maker)
    await M.update_member(deps, admin, ent, member.id, role_ids=[roles["hr"]],
                          business_type_ids=[], meta=META)
    resp = await client.get(f"/api/v1/enterprises/{ent}/webhooks", headers=headers)
    assert resp.status == 403 and await _code(resp) == "permission_denied"
    await M.remove_member(deps, admin, ent, member.id, assignments={}, meta=META)
    resp = await client.get(f"/api/v1/enterprises/{ent}/members", headers=headers)
    assert resp.status == 401


async def test_the_events_feed_pages_with_a_key(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    async with deps.db.transaction() as tx:
        ids = [(await EV.emit(tx, deps, ent, "batch.finished", {"n": n})).id for n in range(5)]
    headers = _bearer(await _key(deps, admin, ent, "read"))
    resp = await client.get("/api/v1/events?limit=2", headers=headers)
    body = await resp.json()
    assert resp.status == 200 and [e["id"] for e in body["events"]] == ids[:2]
    assert body["has_more"] and body["next_cursor"] == "2"
    resp = await client.get(f"/api/v1/events?after={ids[1]}&limit=100", headers=headers)
    body = await resp.json()
    assert [e["data"]["n"] for e in body["events"]] == [2, 3, 4] and not body["has_more"]
    resp = await client.get(f"/api/v1/events?after={body['next_cursor']}", headers=headers)
    assert (await resp.json())["events"] == []
    for query in ("limit=0", "limit=101", "after=evt_unknown", "after=-1", "limit=1e9"):
        resp = await client.get(f"/api/v1/events?{query}", headers=headers)
        assert resp.status == 400, query
    # A person's session names the enterprise.
    own = {"Authorization": f"Bearer {await session_token(deps, admin)}"}
    assert (await client.get("/api/v1/events", headers=own)).status == 400
    resp = await client.get(f"/api/v1/events?enterprise_id={ent}", headers=own)
    assert resp.status == 200 and len((await resp.json())["events"]) == 5


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_console_webhook_secret_and_api_key_are_shown_once(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, admin)})
    page = f"/console/e/{ent}/settings/webhooks"
    html = await (await client.get(page)).text()
    assert "还没有回调地址" in html
    resp = await client.post(page, data={
        "_csrf": _csrf(html), "action": "create", "url": "http://127.0.0.1:9/hook",
        "event_types": ["contract.sent", "contract.completed"], "description": "人事系统"})
    html = await resp.text()
    assert resp.status == 200
    secret = re.search(r'id="secret-value">(whsec_[^<]+)<', html)
    assert secret is not None
    html = await (await client.get(page)).text()
    assert "http://127.0.0.1:9/hook" in html and secret.group(1) not in html
    # A bad URL re-renders the form with the message and what was typed.
    resp = await client.post(page, data={"_csrf": _csrf(html), "action": "create",
                                         "url": "ftp://x", "event_types": ["contract.sent"]})
    assert resp.status == 400 and "回调地址格式不正确" in await resp.text()

    keys = f"/console/e/{ent}/settings/api-keys"
    html = await (await client.get(keys)).text()
    resp = await client.post(keys, data={"_csrf": _csrf(html), "action": "create",
                                         "name": "薪资系统", "scope": "read"})
    token = re.search(r'id="token-value">(lsk_[^<]+)<', await resp.text())
    assert token is not None
    html = await (await client.get(keys)).text()
    assert "薪资系统" in html and token.group(1) not in html and "从未使用" in html
    api = await client.get(f"/api/v1/enterprises/{ent}/members",
                           headers=_bearer(token.group(1)), cookies={})
    assert api.status == 200
    [view] = await K.list_keys(deps, admin, ent)
    resp = await client.post(keys, data={"_csrf": _csrf(html), "action": "revoke",
                                         "key_id": view.id}, allow_redirects=False)
    assert resp.status == 303
    assert "已吊销" in await (await client.get(keys)).text()


async def test_webhook_endpoints_and_deliveries_through_the_api(client, deps, outbox,
                                                                aiohttp_server, clock) -> None:
    from tests.integration_support import start_receiver

    ent, admin = await certified_enterprise(deps)
    headers = {"Authorization": f"Bearer {await session_token(deps, admin)}"}
    base = f"/api/v1/enterprises/{ent}"
    receiver = await start_receiver(aiohttp_server, lambda: clock.now().timestamp())
    resp = await client.post(f"{base}/webhooks", headers=headers, json={
        "url": receiver.url, "event_types": ["batch.finished", "no.such.type"]})
    made = await resp.json()
    assert resp.status == 201 and made["endpoint"]["event_types"] == ["batch.finished"]
    hook = made["endpoint"]["id"]
    resp = await client.post(f"{base}/webhooks/{hook}/secret", headers=headers)
    receiver.secret = (await resp.json())["secret"]
    assert resp.status == 200 and receiver.secret != made["secret"]
    resp = await client.post(f"{base}/webhooks", headers=headers,
                             json={"url": receiver.url, "event_types": []})
    assert resp.status == 400 and await _code(resp) == "no_event_types"

    receiver.down = True
    async with deps.db.transaction() as tx:
        await EV.emit(tx, deps, ent, "batch.finished", {"n": 1})
    await outbox.drain()
    resp = await client.get(f"{base}/webhook-deliveries?status=retrying", headers=headers)
    [delivery] = (await resp.json())["deliveries"]
    assert delivery["attempts"] == 1 and delivery["last_status"] == 503
    receiver.down = False
    resp = await client.post(f"{base}/webhook-deliveries/{delivery['id']}/redeliver",
                             headers=headers)
    assert resp.status == 200 and (await resp.json())["status"] == "pending"
    await outbox.drain()
    assert receiver.types() == ["batch.finished"]

    resp = await client.patch(f"{base}/webhooks/{hook}", headers=headers,
                              json={"enabled": False})
    assert resp.status == 200 and (await resp.json())["enabled"] is False
    async with deps.db.transaction() as tx:
        await EV.emit(tx, deps, ent, "batch.finished", {"n": 2})
    await outbox.drain()
    assert len(receiver.accepted) == 1  # a disabled endpoint gets nothing
    resp = await client.delete(f"{base}/webhooks/{hook}", headers=headers)
    assert resp.status == 200
    listed = await (await client.get(f"{base}/webhooks", headers=headers)).json()
    assert listed["endpoints"] == []
    resp = await client.delete(f"{base}/webhooks/{hook}", headers=headers)
    assert resp.status == 404 and await _code(resp) == "webhook_not_found"
    # Another enterprise's admin sees none of it.
    other_ent, other = await certified_enterprise(deps, name="乙公司有限公司")
    theirs = {"Authorization": f"Bearer {await session_token(deps, other)}"}
    resp = await client.get(f"{base}/webhook-deliveries", headers=theirs)
    assert resp.status == 404
    resp = await client.post(
        f"/api/v1/enterprises/{other_ent}/webhook-deliveries/{delivery['id']}/redeliver",
        headers=theirs)
    assert resp.status == 404 and await _code(resp) == "delivery_not_found"
