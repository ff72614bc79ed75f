"""The lifecycle over the JSON API: urge one or many (429 within ten hours), revoke many,
expired at once in what the API returns; and the console's list selection and settings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.contracts import send
from core.devtools import sms_inbox
from core.signing.samples import sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import META, parties, person
from tests.handlers.test_contracts_api import create, headers


@pytest.fixture
async def api_flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def test_urge_over_the_api_then_429_with_the_wait(client, deps, outbox, api_flow,
                                                        clock) -> None:
    contract = await create(client, deps, api_flow)
    h = await headers(deps, api_flow.admin_id)
    r = await client.post(f"/api/v1/contracts/{contract['id']}/urge", json={}, headers=h)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["urged"] == ["张三"] and body["skipped"] == []
    clock.advance(hours=3)
    again = await client.post(f"/api/v1/contracts/{contract['id']}/urge", json={}, headers=h)
    assert again.status == 429
    error = (await again.json())["error"]
    assert error["code"] == "urge_too_soon"
    assert error["message"] == "已催办，7 小时后可再次催办"
    view = await (await client.get(f"/api/v1/contracts/{contract['id']}", headers=h)).json()
    assert view["can_urge"] is False and view["urge_label"] == "已催办，7 小时后可再次催办"
    await outbox.drain()
    assert any("提醒您尽快签署" in m.text
               for m in await sms_inbox(deps, api_flow.employee_phone))


async def test_a_signer_cannot_urge(client, deps, api_flow) -> None:
    contract = await create(client, deps, api_flow)
    r = await client.post(f"/api/v1/contracts/{contract['id']}/urge", json={},
                          headers=await headers(deps, api_flow.employee_id))
    assert r.status == 404 and (await r.json())["error"]["code"] == "contract_not_found"


async def test_urge_one_unknown_signer_is_404(client, deps, api_flow) -> None:
    contract = await create(client, deps, api_flow)
    r = await client.post(f"/api/v1/contracts/{contract['id']}/urge",
                          json={"signer_id": "x" * 32},
                          headers=await headers(deps, api_flow.admin_id))
    assert r.status == 404 and (await r.json())["error"]["code"] == "signer_not_found"


async def test_bulk_urge_and_bulk_revoke(client, deps, outbox, api_flow) -> None:
    first = (await create(client, deps, api_flow))["id"]
    second = (await create(client, deps, api_flow))["id"]
    h = await headers(deps, api_flow.admin_id)
    r = await client.post("/api/v1/contracts/urge", json={"contract_ids": [first, second]},
                          headers=h)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["done"] == 2 and body["failed"] == 0
    r = await client.post("/api/v1/contracts/urge", json={"contract_ids": [first]}, headers=h)
    assert (await r.json())["items"][0]["code"] == "urge_too_soon"
    r = await client.post("/api/v1/contracts/revoke",
                          json={"contract_ids": [first, second, "nope"], "reason": "岗位调整"},
                          headers=h)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert (body["done"], body["failed"]) == (2, 1)
    view = await (await client.get(f"/api/v1/contracts/{first}", headers=h)).json()
    assert view["state"] == "revoked" and view["end_reason"] == "岗位调整"


@pytest.mark.parametrize("payload", [
    {"contract_ids": []}, {"contract_ids": ["a"] * 101}, {"contract_ids": "abc"},
    {"contract_ids": ["x" * 33]}, {},
])
async def test_bulk_bad_input_is_400(client, deps, api_flow, payload) -> None:
    h = await headers(deps, api_flow.admin_id)
    for path in ("/api/v1/contracts/urge", "/api/v1/contracts/revoke"):
        r = await client.post(path, json={**payload, "reason": "x"}, headers=h)
        assert r.status == 400, (path, await r.text())


async def test_bulk_revoke_needs_a_reason(client, deps, api_flow) -> None:
    contract = await create(client, deps, api_flow)
    r = await client.post("/api/v1/contracts/revoke",
                          json={"contract_ids": [contract["id"]], "reason": "  "},
                          headers=await headers(deps, api_flow.admin_id))
    assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_reason"


async def test_the_api_reads_expired_at_once(client, deps, api_flow, clock) -> None:
    contract_id = await send.create_and_send(
        deps, api_flow.admin_id, api_flow.enterprise_id, title="限期合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(api_flow.employee_phone)],
        deadline=clock.now() + timedelta(hours=1), meta=META)
    clock.advance(hours=2)
    h = await headers(deps, api_flow.employee_id)
    view = await (await client.get(f"/api/v1/contracts/{contract_id}", headers=h)).json()
    assert view["state"] == "expired" and view["can_sign"] is False
    listed = await (await client.get("/api/v1/contracts?tab=ended", headers=h)).json()
    assert [(c["id"], c["state"]) for c in listed["items"]] == [(contract_id, "expired")]
    sent = await client.post(f"/api/v1/contracts/{contract_id}/sign/code", json={}, headers=h)
    assert sent.status == 409 and (await sent.json())["error"]["code"] == "contract_expired"


# -- the console --------------------------------------------------------------------------------


async def console_form(client, deps, user_id: str, path: str) -> tuple[dict, str]:
    h = await headers(deps, user_id)
    page = await client.get(path, headers=h)
    text = await page.text()
    token = re.search(r'name="_csrf" value="([^"]+)"', text)
    assert token is not None
    return h, token.group(1)


async def test_the_console_list_urges_and_revokes_the_selection(client, deps, outbox,
                                                                api_flow) -> None:
    first = (await create(client, deps, api_flow))["id"]
    second = (await create(client, deps, api_flow))["id"]
    path = f"/console/e/{api_flow.enterprise_id}/contracts"
    h, token = await console_form(client, deps, api_flow.admin_id, path)
    r = await client.post(path, data={"_csrf": token, "action": "urge", "ids": [first]},
                          headers=h)
    text = await r.text()
    assert r.status == 200 and "已催办 1 份合同" in text
    assert "已催办，10 小时后可再次催办" in text
    r = await client.post(path, data={"_csrf": token, "one": first}, headers=h)
    assert "已催办 0 份合同，1 份未催办" in await r.text()
    r = await client.post(path, data=[("_csrf", token), ("action", "revoke"), ("ids", first),
                                      ("ids", second), ("reason", "模板有误")], headers=h)
    assert "已撤销 2 份合同" in await r.text()
    r = await client.post(path, data={"_csrf": token, "action": "revoke", "ids": [first],
                                      "reason": ""}, headers=h)
    assert r.status == 400 and "请填写原因" in await r.text()


async def test_the_console_sets_the_reminder_schedule(client, deps, api_flow) -> None:
    path = f"/console/e/{api_flow.enterprise_id}/settings"
    h, token = await console_form(client, deps, api_flow.admin_id, path)
    r = await client.post(path, data={"_csrf": token, "action": "reminders", "enabled": "1",
                                      "first_days": "3", "every_days": "2", "max_times": "5"},
                          headers=h, allow_redirects=True)
    assert "发起 3 天后首次提醒，之后每 2 天提醒一次，最多 5 次" in await r.text()
    r = await client.post(path, data={"_csrf": token, "action": "reminders", "enabled": "1",
                                      "first_days": "99", "every_days": "x", "max_times": "5"},
                          headers=h)
    assert r.status == 400 and "首次提醒天数须为 1–30 之间的整数" in await r.text()


async def test_the_contract_page_urges(client, deps, outbox, api_flow) -> None:
    contract = await create(client, deps, api_flow)
    path = f"/contracts/{contract['id']}"
    h, token = await console_form(client, deps, api_flow.admin_id, path)
    r = await client.post(f"{path}/urge", data={"_csrf": token}, headers=h)
    text = await r.text()
    assert "已催办，待签署方将收到" in text and "已催办，10 小时后可再次催办" in text
    r = await client.post(f"{path}/urge", data={"_csrf": token}, headers=h)
    assert r.status == 429 and "已催办，10 小时后可再次催办" in await r.text()


async def test_the_reminder_schedule_over_the_api(client, deps, api_flow) -> None:
    path = f"/api/v1/enterprises/{api_flow.enterprise_id}/contract-reminders"
    h = await headers(deps, api_flow.admin_id)
    before = await (await client.get(path, headers=h)).json()
    assert before["enabled"] is False
    r = await client.put(path, json={"enabled": True, "first_days": 3, "every_days": 2,
                                     "max_times": 5}, headers=h)
    assert r.status == 200, await r.text()
    assert (await r.json())["summary"].startswith("发起 3 天后首次提醒")
    bad = await client.put(path, json={"enabled": True, "first_days": 0, "every_days": 2,
                                       "max_times": 5}, headers=h)
    assert bad.status == 400
    outsider = await client.get(path, headers=await headers(deps, api_flow.employee_id))
    assert outsider.status == 404
    employee = await client.put(path, json={"enabled": False},
                                headers=await headers(deps, api_flow.employee_id))
    assert employee.status == 404
