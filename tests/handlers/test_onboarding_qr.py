"""Onboarding by QR code through the real app: HR's poster page, the worker's join page
(login, real-name check and back, CSRF, refusals), the API, and the WeChat scan's link."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import select

from core.context import RequestMeta
from core.enterprise import departments as DP
from core.enterprise import employees as E
from core.enterprise import onboarding_qr as OQ
from core.wechat.accounts import bind_openid
from handlers.app import build_deps, init_app
from storage.models import Employee
from tests.bot.wx import FakeWechat
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    joined_member,
    make_user,
    new_phone,
    session_token,
)
from tests.identity_support import id_number as identity_number
from tests.identity_support import make_user as make_unverified


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


async def _login(client, deps, user_id: str) -> None:
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, user_id)})


async def _employees(deps, ent: str) -> list[Employee]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(Employee).where(Employee.enterprise_id == ent))).scalars().all())


@pytest.fixture
async def shop(deps) -> dict[str, str]:
    ent, admin = await certified_enterprise(deps, name="扫码入职有限公司")
    dept = await DP.add_department(deps, admin, ent, "生产部", None, META)
    await E.set_onboarding_fields(deps, admin, ent,
                                  ["id_number", "department", "position", "start_date"], META)
    token = (await OQ.onboarding_poster(deps, admin, ent, META)).token
    return {"ent": ent, "admin": admin, "dept": dept.id, "token": token,
            "join": f"/onboarding/join?scene={token}"}


def _form(csrf: str, shop: dict[str, str], **overrides: str) -> dict[str, str]:
    data = {"_csrf": csrf, "scene": shop["token"], "department": shop["dept"],
            "position": "操作工", "start_date": "2026-12-01"}
    data.update(overrides)
    return data


# ---------------------------------------------------------------- worker pages


async def test_join_page_sends_a_visitor_to_login_and_back(client, shop) -> None:
    resp = await client.get(shop["join"], allow_redirects=False)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith("/login?next=")
    assert unquote(location.split("next=", 1)[1]) == shop["join"]


async def test_verified_worker_joins_and_hr_approves_in_the_console(client, deps, shop) -> None:
    worker = await make_user(deps, name="赵铁柱")
    await _login(client, deps, worker)
    resp = await client.get(shop["join"])
    html = await resp.text()
    assert resp.status == 200 and "扫码入职有限公司" in html and 'id="join-form"' in html
    assert "赵铁柱" in html  # the worker's own name, from the verified identity
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    resp = await client.post("/onboarding/join", data=_form(_csrf(html), shop),
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == shop["join"] + "&ok=1"
    done = await (await client.get(resp.headers["Location"])).text()
    assert "已提交，等待企业审核" in done and 'id="join-form"' not in done

    await _login(client, deps, shop["admin"])
    base = f"/console/e/{shop['ent']}/employees"
    pending = await (await client.get(f"{base}?tab=pending_review")).text()
    assert "赵铁柱" in pending
    [e] = await _employees(deps, shop["ent"])
    resp = await client.post(f"{base}/{e.id}", data={"_csrf": _csrf(pending),
                                                     "action": "approve"})
    assert resp.status == 200
    assert (await _employees(deps, shop["ent"]))[0].status == "active"


async def test_unverified_worker_passes_the_real_name_check_and_comes_back(
    client, deps, shop
) -> None:
    phone = new_phone()
    worker = await make_unverified(deps, phone=phone)
    await _login(client, deps, worker)
    html = await (await client.get(shop["join"])).text()
    assert 'id="join-verify"' in html and 'id="join-form"' not in html
    link = unescape(re.search(r'id="join-verify-link" href="([^"]+)"', html).group(1))
    assert link.startswith("/identity?next=")

    form_page = await (await client.get(link)).text()
    assert 'id="identity-return"' in form_page
    resp = await client.post("/identity", allow_redirects=False, data={
        "_csrf": _csrf(form_page), "name": "王小明", "id_type": "id_card",
        "id_number": identity_number(), "email": "wang@example.com", "phone": phone,
        "method": "carrier3", "notice_personal_info": "1", "notice_biometric": "1"})
    assert resp.status == 303 and resp.headers["Location"] == "/identity"
    resp = await client.get("/identity", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == shop["join"]
    back = await (await client.get(shop["join"])).text()
    assert 'id="join-form"' in back and "王小明" in back
    # The remembered page is used once: /identity shows the status again afterwards.
    assert (await client.get("/identity", allow_redirects=False)).status == 200


@pytest.mark.parametrize("verified", [True, False])
async def test_identity_ignores_an_offsite_next(client, deps, verified: bool) -> None:
    # verified: an accepted next would redirect; unverified: it would be remembered
    worker = await make_user(deps, verified=verified)
    await _login(client, deps, worker)
    resp = await client.get("/identity?next=//evil.example/x", allow_redirects=False)
    assert resp.status == 200
    html = await resp.text()
    # Not remembered as a page to return to, and not echoed into the page.
    assert 'id="identity-return"' not in html and "evil.example" not in html
    assert "ls_identity_next" not in resp.cookies


async def test_join_post_needs_csrf(client, deps, shop) -> None:
    worker = await make_user(deps)
    await _login(client, deps, worker)
    resp = await client.post("/onboarding/join", data=_form("", shop))
    assert resp.status == 400
    assert await _employees(deps, shop["ent"]) == []


async def test_bad_input_rerenders_the_form_with_the_message(client, deps, shop) -> None:
    worker = await make_user(deps)
    await _login(client, deps, worker)
    html = await (await client.get(shop["join"])).text()
    resp = await client.post("/onboarding/join",
                             data=_form(_csrf(html), shop, start_date="下周一",
                                        position="焊工<b>"))
    page = await resp.text()
    assert resp.status == 400 and "日期格式" in page
    assert 'value="焊工&lt;b&gt;"' in page  # kept, escaped
    assert await _employees(deps, shop["ent"]) == []


async def test_second_submission_shows_a_clear_message_and_no_duplicate(
    client, deps, shop
) -> None:
    worker = await make_user(deps)
    await _login(client, deps, worker)
    csrf = _csrf(await (await client.get(shop["join"])).text())
    await client.post("/onboarding/join", data=_form(csrf, shop))
    resp = await client.post("/onboarding/join", data=_form(csrf, shop))
    assert resp.status == 409 and "无需重复登记" in await resp.text()
    assert len(await _employees(deps, shop["ent"])) == 1


async def test_unknown_expired_and_reset_codes_get_clear_pages(client, deps, shop,
                                                               clock) -> None:
    worker = await make_user(deps)
    await _login(client, deps, worker)
    resp = await client.get("/onboarding/join?scene=s-no-such-token")
    assert resp.status == 404 and "入职二维码无效" in await resp.text()
    await OQ.reset_onboarding_poster(deps, shop["admin"], shop["ent"], META)
    resp = await client.get(shop["join"])
    assert resp.status == 409 and "已过期或已被企业重置" in await resp.text()


# ---------------------------------------------------------------- HR poster page


async def test_poster_page_shows_the_code_expiry_and_reset(client, deps, shop) -> None:
    await _login(client, deps, shop["admin"])
    employees = await (await client.get(f"/console/e/{shop['ent']}/employees")).text()
    assert f"/console/e/{shop['ent']}/employees/qr" in employees
    resp = await client.get(f"/console/e/{shop['ent']}/employees/qr")
    html = await resp.text()
    assert resp.status == 200 and "<svg" in html and "扫码入职有限公司" in html
    assert f"/onboarding/join?scene={shop['token']}" in html
    assert 'id="poster-expires"' in html and 'id="poster-reset"' in html
    assert "mp.weixin.qq.com" not in resp.headers["Content-Security-Policy"]


async def test_reset_through_the_console(client, deps, shop) -> None:
    await _login(client, deps, shop["admin"])
    page = f"/console/e/{shop['ent']}/employees/qr"
    csrf = _csrf(await (await client.get(page)).text())
    resp = await client.post(page, data={"_csrf": csrf, "action": "reset"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == page + "?ok=reset"
    html = await (await client.get(resp.headers["Location"])).text()
    assert "旧二维码已失效" in html and shop["token"] not in html
    assert (await client.post(page, data={"action": "reset"})).status == 400  # no CSRF


async def test_non_hr_member_and_outsider_cannot_open_the_poster(client, deps, shop) -> None:
    page = f"/console/e/{shop['ent']}/employees/qr"
    member = await joined_member(deps, shop["ent"], shop["admin"], "employee")
    await _login(client, deps, member)
    resp = await client.get(page)
    assert resp.status == 403 and shop["token"] not in await resp.text()
    _, outsider = await certified_enterprise(deps, name="别家有限公司")
    await _login(client, deps, outsider)
    resp = await client.get(page)
    assert resp.status == 404
    csrf = _csrf(await (await client.get("/console/certify/new")).text())
    assert (await client.post(page, data={"_csrf": csrf, "action": "reset"})).status == 404
    assert (await client.get(page, allow_redirects=False)).status == 404


async def test_poster_shows_the_wechat_image_when_wechat_issued_one(
    aiohttp_client, config, clock, deps, shop
) -> None:
    # With the real WeChat client the stored ticket becomes WeChat's image, and this
    # page's CSP lets that one origin in (nothing is fetched from WeChat here).
    live = config.replace(wechat={"client": "http"})
    live_deps = build_deps(live, clock=clock)
    try:
        client = await aiohttp_client(init_app(live, deps=live_deps, run_workers=False))
        await _login(client, live_deps, shop["admin"])
        resp = await client.get(f"/console/e/{shop['ent']}/employees/qr")
        html = await resp.text()
        assert resp.status == 200 and 'id="poster-wechat-qr"' in html
        assert "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=dev-" in html
        assert "img-src 'self' data: blob: https://mp.weixin.qq.com;" in \
            resp.headers["Content-Security-Policy"]
    finally:
        await live_deps.db.dispose()


# ---------------------------------------------------------------- API


async def test_api_poster_reset_and_join(client, deps, shop) -> None:
    hr = {"Authorization": f"Bearer {await session_token(deps, shop['admin'])}"}
    resp = await client.get(f"/api/v1/enterprises/{shop['ent']}/employees/qr", headers=hr)
    poster = await resp.json()
    assert resp.status == 200 and poster["scene"] == shop["token"]
    resp = await client.post(f"/api/v1/enterprises/{shop['ent']}/employees/qr/reset",
                             headers=hr)
    token = (await resp.json())["scene"]
    assert resp.status == 200 and token != shop["token"]

    worker = {"Authorization": f"Bearer {await session_token(deps, await make_user(deps))}"}
    resp = await client.get(f"/api/v1/onboarding/scenes/{shop['token']}", headers=worker)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "onboarding_qr_expired"
    form = await (await client.get(f"/api/v1/onboarding/scenes/{token}", headers=worker)).json()
    assert [f["key"] for f in form["fields"]] == ["department", "position", "start_date"]
    body = {"values": {"department": shop["dept"], "position": "操作工",
                       "start_date": "2026-13-01"}}
    resp = await client.post(f"/api/v1/onboarding/scenes/{token}/join", json=body,
                             headers=worker)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "start_date"
    body["values"]["start_date"] = "2026-12-01"
    resp = await client.post(f"/api/v1/onboarding/scenes/{token}/join", json=body,
                             headers=worker)
    assert resp.status == 201 and (await resp.json())["status"] == "pending_review"
    resp = await client.post(f"/api/v1/onboarding/scenes/{token}/join", json=body,
                             headers=worker)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "employee_exists"


async def test_api_poster_is_refused_to_non_hr_and_outsiders(client, deps, shop) -> None:
    member = await joined_member(deps, shop["ent"], shop["admin"], "employee")
    _, outsider = await certified_enterprise(deps, name="别家有限公司")
    for user, status in ((member, 403), (outsider, 404)):
        headers = {"Authorization": f"Bearer {await session_token(deps, user)}"}
        for method, path in (("GET", "qr"), ("POST", "qr/reset")):
            resp = await client.request(
                method, f"/api/v1/enterprises/{shop['ent']}/employees/{path}", headers=headers)
            assert resp.status == status, (method, path)


# ---------------------------------------------------------------- WeChat scan


async def test_wechat_scan_of_the_poster_links_to_the_working_join_page(
    client, config, deps, shop
) -> None:
    worker = await make_user(deps, name="孙小红")
    await bind_openid(deps, worker, "o_poster_scan", RequestMeta())
    reply = await FakeWechat(client, config).event("o_poster_scan", "SCAN", shop["token"])
    assert "扫码入职有限公司" in reply
    href = unescape(re.search(r'href="([^"]+)"', reply).group(1))
    # Follow the OAuth link as WeChat's browser would (dev authorize page, this openid).
    client.session.cookie_jar.update_cookies({"ls_sim_openid": "o_poster_scan"})
    target = href
    for _ in range(5):
        parts = urlsplit(target)
        resp = await client.get(parts.path + (f"?{parts.query}" if parts.query else ""),
                                allow_redirects=False)
        if resp.status not in (302, 303):
            break
        target = resp.headers["Location"]
    html = await resp.text()
    assert resp.status == 200 and 'id="join-form"' in html and "孙小红" in html
