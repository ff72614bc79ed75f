"""The HR console through the real app: certification, members, imports, isolation."""

from __future__ import annotations

import re

import aiohttp

from core.enterprise import members as M
from core.enterprise.operators import create_operator
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    deposit_amount,
    id_number,
    make_user,
    new_phone,
    png_bytes,
    session_token,
    user_phone,
    xlsx_bytes,
)
from tests.enterprise_factories import credit_code as make_code


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


async def _login(client, deps, user_id: str) -> None:
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, user_id)})


async def _token(client, path: str) -> str:
    return _csrf(await (await client.get(path)).text())


async def test_console_requires_login(client) -> None:
    resp = await client.get("/console", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")


async def test_certify_by_micro_deposit_through_pages(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    csrf = await _token(client, "/console/certify/new")
    form = aiohttp.FormData()
    for key, value in {"_csrf": csrf, "name": "页面测试有限公司", "credit_code": make_code(),
                       "address": "北京市朝阳区建国路 88 号", "legal_rep_name": "李四",
                       "legal_rep_id_number": id_number("456"),
                       "certificate_kind": "cloud"}.items():
        form.add_field(key, value)
    form.add_field("licence", png_bytes(), filename="licence.png", content_type="image/png")
    resp = await client.post("/console/certify/new", data=form, allow_redirects=False)
    assert resp.status == 303
    status_page = resp.headers["Location"].split("?")[0]
    ent_id = status_page.rsplit("/", 1)[1]
    html = await (await client.get(status_page)).text()
    assert "对公打款认证" in html
    resp = await client.post(f"/console/certify/{ent_id}/deposit", data={
        "_csrf": _csrf(html), "account_name": "页面测试有限公司",
        "account_number": "6222020200001234", "bank_name": "工商银行"}, allow_redirects=False)
    attempt_page = resp.headers["Location"].split("?")[0]
    attempt_id = attempt_page.rsplit("/", 1)[1]
    assert "页面测试有限公司" in await (await client.get("/dev/payments")).text()
    html = await (await client.get(attempt_page)).text()
    resp = await client.post(f"{attempt_page}/deposit", data={
        "_csrf": _csrf(html), "amount": await deposit_amount(deps, attempt_id)},
        allow_redirects=False)
    assert resp.status == 303
    html = await (await client.get(f"/console/e/{ent_id}/seals")).text()
    assert "页面测试有限公司公章" in html and "待生成图片" in html


async def test_wrong_amount_rerenders_with_tries_left(client, deps) -> None:
    user = await make_user(deps)
    from tests.enterprise_factories import submit

    ent = await submit(deps, user)
    await _login(client, deps, user)
    html = await (await client.get(f"/console/certify/{ent.id}")).text()
    resp = await client.post(f"/console/certify/{ent.id}/deposit", data={
        "_csrf": _csrf(html), "account_name": "测试科技有限公司",
        "account_number": "6222020200001234", "bank_name": "工商银行"}, allow_redirects=False)
    attempt_page = resp.headers["Location"].split("?")[0]
    right = await deposit_amount(deps, attempt_page.rsplit("/", 1)[1])
    resp = await client.post(f"{attempt_page}/deposit", data={
        "_csrf": _csrf(html), "amount": "0.01" if right != "0.01" else "0.02"})
    assert resp.status == 400 and "还可尝试 2 次" in await resp.text()


async def test_fourth_deposit_of_the_day_is_refused_on_the_page(client, deps) -> None:
    from tests.enterprise_factories import submit

    user = await make_user(deps)
    ent = await submit(deps, user)
    await _login(client, deps, user)
    html = await (await client.get(f"/console/certify/{ent.id}")).text()
    form = {"_csrf": _csrf(html), "account_name": "测试科技有限公司",
            "account_number": "6222020200001234", "bank_name": "工商银行"}
    for _ in range(3):
        sent = await client.post(f"/console/certify/{ent.id}/deposit", data=form,
                                 allow_redirects=False)
        assert sent.status == 303
    resp = await client.post(f"/console/certify/{ent.id}/deposit", data=form)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 3600
    assert "今日对公打款验证次数已达上限，请明天再试或改用其他认证方式" in await resp.text()


async def test_legal_rep_face_goes_to_the_provider_and_back(client, deps) -> None:
    from tests.enterprise_factories import submit

    user = await make_user(deps)
    ent = await submit(deps, user)
    await _login(client, deps, user)
    html = await (await client.get(f"/console/certify/{ent.id}")).text()
    resp = await client.post(f"/console/certify/{ent.id}/face", data={"_csrf": _csrf(html)},
                             allow_redirects=False)
    # A page that navigates to the provider (another origin in production), not a redirect
    # of the form post, which CSP form-action 'self' would stop.
    assert resp.status == 200
    page = await resp.text()
    start = page.index('id="provider-go" href="') + len('id="provider-go" href="')
    provider = page[start:page.index('"', start)].replace("&amp;", "&")
    base_url = deps.config.server.base_url.rstrip("/")
    liveness = await (await client.get(provider.removeprefix(base_url))).text()
    start = liveness.index('id="start-face" href="') + len('id="start-face" href="')
    back = liveness[start:liveness.index('"', start)].replace("&amp;", "&")
    assert re.fullmatch(re.escape(base_url) + r"/console/attempt/\w+/face", back)
    done = await client.get(back.removeprefix(base_url), allow_redirects=False)
    assert done.status == 303
    assert "已认证" in await (await client.get(f"/console/certify/{ent.id}")).text()


async def test_credit_code_warning_offers_confirmation(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    csrf = await _token(client, "/console/certify/new")
    from tests.enterprise_factories import bad_check_credit_code

    resp = await client.post("/console/certify/new", data={
        "_csrf": csrf, "name": "校验位测试有限公司", "credit_code": bad_check_credit_code(),
        "address": "北京市朝阳区建国路 88 号", "legal_rep_name": "李四",
        "legal_rep_id_number": id_number("456")})
    html = await resp.text()
    assert resp.status == 400 and 'name="accept_warning"' in html and "校验位测试有限公司" in html


async def test_join_request_approved_in_console(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    person = await make_user(deps, name="赵六")
    await M.request_join(deps, person, ent, "HR 部门新同事", META)
    await _login(client, deps, admin)
    html = await (await client.get(f"/console/e/{ent}/joins")).text()
    request_id = re.search(r'/joins/([0-9a-f]{32})"', html).group(1)
    employee_role = re.search(r'value="([0-9a-f]{32})" checked> 员工', html).group(1)
    resp = await client.post(f"/console/e/{ent}/joins/{request_id}", data={
        "_csrf": _csrf(html), "decision": "approve", "role_ids": employee_role},
        allow_redirects=False)
    assert resp.status == 303
    members = await M.list_members(deps, admin, ent)
    assert any(m.user_id == person and m.status == "active" for m in members)


async def test_import_page_reports_row_errors(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    csrf = await _token(client, f"/console/e/{ent}/employees/import")
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf)
    form.add_field("file", xlsx_bytes([["员工一", "123", None, None, None, None]]),
                   filename="e.xlsx")
    resp = await client.post(f"/console/e/{ent}/employees/import", data=form)
    html = await resp.text()
    assert resp.status == 422 and "请输入正确的 11 位手机号" in html


async def test_import_page_refuses_non_excel(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    csrf = await _token(client, f"/console/e/{ent}/employees/import")
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf)
    form.add_field("file", png_bytes(), filename="e.xlsx")
    resp = await client.post(f"/console/e/{ent}/employees/import", data=form)
    assert resp.status == 415 and "xlsx" in await resp.text()


async def test_template_download_is_xlsx(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    resp = await client.get(f"/console/e/{ent}/employees/import/template.xlsx")
    assert resp.status == 200 and (await resp.read()).startswith(b"PK")


async def test_member_of_a_cannot_open_b_pages(client, deps) -> None:
    ent_a, admin_a = await certified_enterprise(deps)
    ent_b, _ = await certified_enterprise(deps, name="乙公司有限公司")
    await _login(client, deps, admin_a)
    for path in ("", "/members", "/seals", "/employees", "/audit", "/departments"):
        resp = await client.get(f"/console/e/{ent_b}{path}")
        assert resp.status == 404, path
    csrf = await _token(client, f"/console/e/{ent_a}/members")
    resp = await client.post(f"/console/e/{ent_b}/members", data={
        "_csrf": csrf, "phone": new_phone(), "name": "入侵者"})
    assert resp.status == 404


async def test_console_post_needs_csrf(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    resp = await client.post(f"/console/e/{ent}/departments", data={
        "action": "add", "name": "研发部"})
    assert resp.status == 400 and "页面已过期" in await resp.text()


async def test_operator_console_hidden_from_others(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    assert (await client.get("/operator")).status == 404
    await create_operator(deps, await user_phone(deps, user))
    page = await client.get("/operator")
    assert page.status == 200
    assert "运营后台" in await page.text()


async def test_collection_link_page(client, deps, outbox) -> None:
    from core import devtools
    from core.enterprise import employees as E

    ent, admin = await certified_enterprise(deps)
    phone = new_phone()
    await E.onboard_employee(deps, admin, ent, {"name": "员工甲", "phone": phone}, META)
    await outbox.drain()
    link = re.search(r"(/collect/[\w-]+)", (await devtools.sms_inbox(deps, phone))[0].text)[1]
    html = await (await client.get(link)).text()
    resp = await client.post(link, data={"_csrf": _csrf(html), "name": "员工甲",
                                         "id_number": id_number("321"), "position": "工程师",
                                         "start_date": "2026-12-01"})
    assert resp.status == 200 and "已提交" in await resp.text()
    assert (await client.get(link)).status == 404


async def test_api_tenant_isolation_and_flow(client, deps) -> None:
    ent_a, admin_a = await certified_enterprise(deps)
    ent_b, admin_b = await certified_enterprise(deps, name="乙公司有限公司")
    headers = {"Authorization": f"Bearer {await session_token(deps, admin_a)}"}
    resp = await client.get(f"/api/v1/enterprises/{ent_a}/members", headers=headers)
    assert resp.status == 200 and len((await resp.json())["members"]) == 1
    for path in ("members", "seals", "employees", "join-requests"):
        resp = await client.get(f"/api/v1/enterprises/{ent_b}/{path}", headers=headers)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "enterprise_not_found"
    resp = await client.post(f"/api/v1/enterprises/{ent_b}/employees", headers=headers,
                             json={"name": "员工甲", "phone": new_phone()})
    assert resp.status == 404
    resp = await client.post(f"/api/v1/enterprises/{ent_a}/employees", headers=headers,
                             json={"name": "员工甲", "phone": new_phone()})
    assert resp.status == 201 and (await resp.json())["status"] == "collecting"
    del admin_b


async def test_api_import_reports_errors_with_422(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    headers = {"Authorization": f"Bearer {await session_token(deps, admin)}"}
    form = aiohttp.FormData()
    form.add_field("file", xlsx_bytes([["员工一", "123", None, None, None, None]]),
                   filename="e.xlsx")
    resp = await client.post(f"/api/v1/enterprises/{ent}/employees/import", data=form,
                             headers=headers)
    body = await resp.json()
    assert resp.status == 422 and body["imported"] == 0 and body["errors"][0]["row"] == 2


async def test_api_certification_by_deposit(client, deps) -> None:
    user = await make_user(deps)
    headers = {"Authorization": f"Bearer {await session_token(deps, user)}"}
    form = aiohttp.FormData()
    for key, value in {"name": "接口测试有限公司", "credit_code": make_code(),
                       "address": "北京市朝阳区建国路 88 号", "legal_rep_name": "李四",
                       "legal_rep_id_number": id_number("456")}.items():
        form.add_field(key, value)
    form.add_field("licence", png_bytes(), filename="l.png")
    resp = await client.post("/api/v1/enterprises", data=form, headers=headers)
    assert resp.status == 201
    ent = (await resp.json())["id"]
    resp = await client.post(f"/api/v1/enterprises/{ent}/certification/deposit",
                             headers=headers, json={"account_name": "接口测试有限公司",
                                                    "account_number": "6222020200001234",
                                                    "bank_name": "工商银行"})
    attempt = (await resp.json())["id"]
    resp = await client.post(f"/api/v1/certification-attempts/{attempt}/deposit",
                             headers=headers, json={"amount": await deposit_amount(deps, attempt)})
    assert (await resp.json())["state"] == "passed"
    resp = await client.get("/api/v1/enterprises", headers=headers)
    assert (await resp.json())["certified_by_me"][0]["state"] == "certified"


async def test_every_console_page_renders(client, deps) -> None:
    from core.enterprise import certification as C
    from core.enterprise import employees as E
    from core.enterprise import seals as S
    from tests.enterprise_factories import submit

    ent, admin = await certified_enterprise(deps)
    seal = (await S.list_seals(deps, admin, ent))[0]
    member = (await M.list_members(deps, admin, ent))[0]
    emp = await E.onboard_employee(deps, admin, ent, {"name": "员工甲", "phone": new_phone()},
                                   META)
    other = await make_user(deps)
    await M.request_join(deps, other, ent, "申请加入", META)
    pending = await submit(deps, admin, name="待认证有限公司")
    letter = await C.start_letter(deps, admin, pending.id, META)
    await C.upload_letter(deps, admin, letter.id, png_bytes(), META)
    await create_operator(deps, await user_phone(deps, admin))
    await _login(client, deps, admin)
    base = f"/console/e/{ent}"
    paths = [
        "/console", "/console/join?q=测试", f"/console/certify/{pending.id}",
        f"/console/attempt/{letter.id}", base, f"{base}/members", f"{base}/members/{member.id}",
        f"{base}/joins", f"{base}/roles", f"{base}/seals", f"{base}/seals/{seal.id}",
        f"{base}/admin", f"{base}/employees", f"{base}/employees?tab=collecting",
        f"{base}/employees/{emp.id}", f"{base}/employees/import", f"{base}/departments",
        f"{base}/settings", f"{base}/audit", f"{base}/audit?seal={seal.id}&from=2026-01-01",
        "/operator", "/operator?q=测试", f"/operator/attempts/{letter.id}/letter",
        f"/operator/enterprises/{pending.id}/licence",
    ]
    for path in paths:
        resp = await client.get(path)
        assert resp.status == 200, path
    html = await (await client.get(base)).text()
    assert "<svg" in html and "合同月度统计" in html


async def test_plain_member_is_offered_only_pages_they_may_open(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    person = await make_user(deps, name="赵六")
    req = await M.request_join(deps, person, ent, "新同事", META)
    employee_role = next(r.id for r in await M.list_roles(deps, admin, ent)
                         if r.builtin == "employee")
    await M.decide_join(deps, admin, ent, req.id, approve=True, role_ids=[employee_role],
                        meta=META)
    await _login(client, deps, person)
    html = await (await client.get(f"/console/e/{ent}")).text()
    nav = re.search(r'<nav class="tabs console-nav".*?</nav>', html, re.S).group(0)
    # 合同: every member opens the ledger, which lists only what they may see (what they
    # started, seal or are copied on).
    assert re.findall(r">([^<]+)</a>", nav) == ["工作台", "合同", "管理员"]
    ledger = await client.get(f"/console/e/{ent}/contracts")
    assert ledger.status == 200
    resp = await client.get(f"/console/e/{ent}/admin")
    assert resp.status == 200 and "仅主管理员可以更换管理员" in await resp.text()


async def test_join_rejection_is_a_form_of_its_own(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    person = await make_user(deps, name="赵六")
    await M.request_join(deps, person, ent, "新同事", META)
    await _login(client, deps, admin)
    html = await (await client.get(f"/console/e/{ent}/joins")).text()
    forms = re.findall(r"<form .*?</form>", html, re.S)
    approve = next(f for f in forms if 'value="approve"' in f)
    reject = next(f for f in forms if 'value="reject"' in f)
    # Enter in the reason box submits the reject form, never the approval.
    assert 'name="reason"' not in approve and 'name="reason"' in reject
    action = re.search(r'action="([^"]+)"', reject).group(1)
    resp = await client.post(action, data={"_csrf": _csrf(html), "decision": "reject",
                                           "reason": "不是本公司员工"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].endswith("?ok=rejected")
    assert (await M.my_join_requests(deps, person))[0].state == "rejected"


async def test_audit_page_reads_in_chinese_without_internal_ids(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    html = await (await client.get(f"/console/e/{ent}/audit")).text()
    log = re.search(r"<h2>操作日志</h2>.*?</table>", html, re.S).group(0)
    assert "提交企业认证" in log and "企业认证通过" in log and "创建印章" in log
    assert "对公打款认证" in log  # the method, by name
    assert not re.search(r"[0-9a-f]{32}", log) and "enterprise.certified" not in log


async def test_adding_an_employee_with_a_bad_phone_keeps_what_was_typed(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    base = f"/console/e/{ent}/employees"
    resp = await client.post(base, data={
        "_csrf": await _token(client, base), "name": "陈小明", "phone": "1380013",
        "position": "仓库管理员", "start_date": "2026-12-01", "send_link": "1"})
    assert resp.status == 400
    html = await resp.text()
    form = re.search(r'<section class="card" id="add-employee">.*?</section>', html, re.S)
    assert form is not None
    form_html = form.group(0)
    for typed in ('value="陈小明"', 'value="1380013"', 'value="仓库管理员"',
                  'value="2026-12-01"'):
        assert typed in form_html, typed
    assert re.search(r'name="send_link" value="1" checked', form_html)


async def test_an_added_employee_is_shown_on_the_tab_they_are_on(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    base = f"/console/e/{ent}/employees"
    resp = await client.post(base, data={
        "_csrf": await _token(client, base), "name": "陈小明", "phone": new_phone(),
        "send_link": "1"}, allow_redirects=False)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith(f"{base}?tab=collecting&new=")
    html = await (await client.get(location)).text()
    assert "已添加" in html and "共 1 人" in html
    assert re.search(r'class="[^"]*active[^"]*"[^>]*>采集中<', html)
    assert re.search(r'class="row-new"[^>]*>.*?陈小明', html, re.S)



async def test_seal_usage_log_reads_in_chinese_without_internal_ids(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    from core.enterprise import seals as S

    seal = next(s for s in await S.list_seals(deps, admin, ent) if s.kind == "contract")
    me = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == admin)
    await S.grant_seal(deps, admin, ent, seal.id, me.id, META)
    await _login(client, deps, admin)
    html = await (await client.get(f"/console/e/{ent}/seals/{seal.id}")).text()
    log = re.search(r'<table class="table table-list" id="seal-usage">.*?</table>', html,
                    re.S).group(0)
    assert "印章授权" in log and f"成员：{me.display_name}" in log and "创建印章" in log
    assert not re.search(r"[0-9a-f]{32}", log) and "seal.granted" not in log


async def test_seal_page_offers_no_empty_grant_form_once_every_member_holds_it(
        client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    from core.enterprise import seals as S

    seal = next(s for s in await S.list_seals(deps, admin, ent) if s.kind == "contract")
    await _login(client, deps, admin)
    page = f"/console/e/{ent}/seals/{seal.id}"
    html = await (await client.get(page)).text()
    assert 'value="grant"' in html and "no-grant-candidates" not in html
    me = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == admin)
    await S.grant_seal(deps, admin, ent, seal.id, me.id, META)
    html = await (await client.get(page)).text()
    assert 'value="grant"' not in html and '<select name="member_id"' not in html
    assert "所有成员均已获授权" in html


async def test_refused_add_forms_keep_what_was_typed(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await _login(client, deps, admin)
    hr_role = next(r.id for r in await M.list_roles(deps, admin, ent) if r.builtin == "hr")
    base = f"/console/e/{ent}"
    resp = await client.post(f"{base}/members", data={
        "_csrf": await _token(client, f"{base}/members"), "phone": "1380013", "name": "孙七",
        "role_ids": hr_role})
    html = await resp.text()
    assert resp.status == 400 and 'value="1380013"' in html and 'value="孙七"' in html
    assert re.search(rf'value="{hr_role}" checked', html)
    resp = await client.post(f"{base}/seals", data={
        "_csrf": await _token(client, f"{base}/seals"), "name": "章", "kind": "custom"})
    html = await resp.text()
    assert resp.status == 400 and 'value="章"' in html
    assert '<option value="custom" selected>' in html
