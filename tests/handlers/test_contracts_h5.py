"""Contract pages through the real app: console send, read on the phone, sign with the SMS
code, seal, download, verify; refusals as pages, not 500s."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from aiohttp import FormData
from yarl import URL

from core.signing.samples import sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import employee, parties, person, send_contract, sign_as
from tests.core.signing.pdfs import encrypted_pdf, hybrid_xref_pdf
from tests.enterprise_factories import user_phone
from tests.factories import last_code, login_as

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
FLASH_RE = re.compile(r'<div class="alert [^"]*"[^>]*data-flash[^>]*>(.*?)</div>', re.S)


def flash_messages(html: str) -> list[str]:
    """The page's status messages (base.html): at most one may show at a time."""
    return [m.strip() for m in FLASH_RE.findall(html)]


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
async def app_flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def as_user(client, deps, user_id: str) -> None:
    from tests.factories import get_user

    user = await get_user(deps, user_id)
    assert user is not None
    logged = await login_as(deps, user)
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"ls_session": logged.session.token})


async def upload_draft(client, flow, title: str, pages: int) -> tuple[str, str]:
    """Upload a sample PDF through the console's new-contract form, as the logged-in user:
    (the form page's HTML, the draft's edit URL)."""
    html = await (await client.get("/console/contracts/new")).text()
    form = FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("enterprise_id", flow.enterprise_id)
    form.add_field("title", title)
    form.add_field("file", sample_contract_pdf(pages), filename="合同.pdf",
                   content_type="application/pdf")
    uploaded = await client.post("/console/contracts/new", data=form, allow_redirects=False)
    assert uploaded.status == 303
    return html, uploaded.headers["Location"]


async def test_contract_pages_ask_to_log_in(client) -> None:
    response = await client.get("/contracts", allow_redirects=False)
    assert response.status == 302
    assert URL(response.headers["Location"]).path == "/login"


async def test_console_upload_place_boxes_and_send(client, deps, outbox, app_flow) -> None:
    await as_user(client, deps, app_flow.admin_id)
    html, edit_url = await upload_draft(client, app_flow, "劳动合同（控制台）", pages=3)
    assert "杭州示例劳务科技有限公司" in html
    contract_id = edit_url.split("/")[3]
    edit = await client.get(edit_url)
    edit_html = await edit.text()
    assert "contract-boxes.js" in edit_html and f"/contracts/{contract_id}/pages/0.png" in edit_html
    image = await client.get(f"/contracts/{contract_id}/pages/0.png")
    assert image.status == 200 and (await image.read())[:8] == b"\x89PNG\r\n\x1a\n"
    sent = await client.post(f"/console/contracts/{contract_id}/send", data={
        "_csrf": csrf_of(edit_html),
        "party_0": "enterprise", "seal_0": app_flow.seal_id, "order_0": "2",
        "boxes_0": "3,72,110,242,250",
        "party_1": "person", "name_1": "张三", "phone_1": app_flow.employee_phone,
        "order_1": "1", "boxes_1": "3,330,170,500,250",
        "party_2": "person", "name_2": "", "phone_2": "", "boxes_2": "",
    }, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    await outbox.drain()
    from core.devtools import sms_inbox

    assert any(contract_id in m.text for m in await sms_inbox(deps, app_flow.employee_phone))


async def test_console_refuses_a_non_pdf_with_a_clear_message(client, deps, app_flow) -> None:
    await as_user(client, deps, app_flow.admin_id)
    html = await (await client.get("/console/contracts/new")).text()
    for data, expected in ((b"hello, not a pdf at all" * 10, "不是有效的 PDF"),
                           (encrypted_pdf(), "已加密"),
                           (hybrid_xref_pdf(), "混合交叉引用")):
        form = FormData()
        form.add_field("_csrf", csrf_of(html))
        form.add_field("enterprise_id", app_flow.enterprise_id)
        form.add_field("title", "坏文件")
        form.add_field("file", data, filename="x.pdf", content_type="application/pdf")
        response = await client.post("/console/contracts/new", data=form)
        assert response.status == 400
        assert expected in await response.text()


async def test_employee_signs_on_the_phone_with_the_sms_code(
    client, deps, outbox, app_flow
) -> None:
    contract_id = await send_contract(deps, app_flow)
    await as_user(client, deps, app_flow.employee_id)
    home = await (await client.get("/")).text()
    assert "1 份合同待签署" in home
    view = await (await client.get(f"/contracts/{contract_id}")).text()
    assert "去签署" in view and "劳动合同（测试）" in view
    sign = await (await client.get(f"/contracts/{contract_id}/sign")).text()
    code_page = await client.post(f"/contracts/{contract_id}/sign/code",
                                  data={"_csrf": csrf_of(sign)})
    code_html = await code_page.text()
    assert code_page.status == 200 and "确认签署" in code_html
    assert f"/contracts/{contract_id}/stamp.png" in code_html
    stamp = await client.get(f"/contracts/{contract_id}/stamp.png")
    assert stamp.status == 200
    code = await last_code(deps, outbox, app_flow.employee_phone)
    done = await client.post(f"/contracts/{contract_id}/sign/confirm",
                             data={"_csrf": csrf_of(code_html), "code": code})
    assert done.status == 200 and "签署成功" in await done.text()


async def test_an_unverified_signer_goes_to_the_real_name_check_and_back(
    client, deps, app_flow
) -> None:
    from storage.models import User

    contract_id = await send_contract(deps, app_flow)
    async with deps.db.transaction() as tx:
        (await tx.session.get(User, app_flow.employee_id)).identity_state = "unverified"
    await as_user(client, deps, app_flow.employee_id)
    sign_path = f"/contracts/{contract_id}/sign"
    resp = await client.get(sign_path, allow_redirects=False)
    assert resp.status == 302
    location = URL(resp.headers["Location"])
    assert location.path == "/identity" and location.query["next"] == sign_path
    form = await (await client.get(resp.headers["Location"])).text()
    assert "认证通过后将自动返回刚才的页面" in form
    # Verified (the provider's page in between): /identity sends them back to sign.
    async with deps.db.transaction() as tx:
        (await tx.session.get(User, app_flow.employee_id)).identity_state = "verified"
    back = await client.get("/identity", allow_redirects=False)
    assert back.status == 303 and back.headers["Location"] == sign_path


async def test_wrong_code_re_renders_the_form(client, deps, outbox, app_flow) -> None:
    contract_id = await send_contract(deps, app_flow)
    await as_user(client, deps, app_flow.employee_id)
    sign = await (await client.get(f"/contracts/{contract_id}/sign")).text()
    code_html = await (await client.post(f"/contracts/{contract_id}/sign/code",
                                         data={"_csrf": csrf_of(sign)})).text()
    code = await last_code(deps, outbox, app_flow.employee_phone)
    wrong = "000000" if code != "000000" else "111111"
    response = await client.post(f"/contracts/{contract_id}/sign/confirm",
                                 data={"_csrf": csrf_of(code_html), "code": wrong})
    html = await response.text()
    assert response.status == 400 and "验证码错误" in html
    # One message at a time: the error replaces "sent"; the hint names the real phone.
    masked = app_flow.employee_phone[:3] + "****" + app_flow.employee_phone[-4:]
    assert len(flash_messages(html)) == 1 and "验证码错误" in flash_messages(html)[0]
    assert "您的手机" not in html and f"发送至 {masked} " in html
    # A new code (after the resend wait): the success message replaces the error.
    deps.clock.advance(seconds=61)
    again = await (await client.post(f"/contracts/{contract_id}/sign/code",
                                     data={"_csrf": csrf_of(html)})).text()
    assert flash_messages(again) == [f"验证码已发送至 {masked}"]


async def test_code_sent_names_the_real_masked_phone(client, deps, outbox, app_flow) -> None:
    contract_id = await send_contract(deps, app_flow)
    await as_user(client, deps, app_flow.employee_id)
    sign = await (await client.get(f"/contracts/{contract_id}/sign")).text()
    code_html = await (await client.post(f"/contracts/{contract_id}/sign/code",
                                         data={"_csrf": csrf_of(sign)})).text()
    masked = app_flow.employee_phone[:3] + "****" + app_flow.employee_phone[-4:]
    assert flash_messages(code_html) == [f"验证码已发送至 {masked}"]
    assert "您的手机" not in code_html


async def test_first_signing_offers_the_name_seal_and_signs_with_it(
    client, deps, outbox, app_flow
) -> None:
    newcomer = await employee(deps, "王小明", with_signature=False)
    phone = await user_phone(deps, newcomer)
    contract_id = await send_contract(deps, app_flow, [person(phone, "王小明")])
    await as_user(client, deps, newcomer)
    sign_path = f"/contracts/{contract_id}/sign"
    response = await client.get(sign_path, allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert location.path == "/me/signatures" and location.query["next"] == sign_path
    # 我的签名 offers the pre-made name seal beside drawing one (which comes back here).
    page = await (await client.get(str(location))).text()
    assert "预制人名章" in page and 'id="sig-choose"' in page
    assert f'/me/signatures/new?next={quote(sign_path, safe="/")}' in page
    seal_id = re.search(r'data-signature-id="([^"]+)" data-source="name_seal"', page).group(1)
    chosen = await client.post(f"/me/signatures/{seal_id}/default",
                               data={"_csrf": csrf_of(page), "next": sign_path},
                               allow_redirects=False)
    assert chosen.status == 303 and chosen.headers["Location"] == sign_path
    sign = await (await client.get(sign_path)).text()
    assert "默认签名将放入" in sign
    code_html = await (await client.post(f"{sign_path}/code",
                                         data={"_csrf": csrf_of(sign)})).text()
    seal_png = await (await client.get(f"/me/signatures/{seal_id}.png")).read()
    stamp = await (await client.get(f"/contracts/{contract_id}/stamp.png")).read()
    assert stamp == seal_png  # the seal is what goes into the boxes
    code = await last_code(deps, outbox, phone)
    done = await client.post(f"{sign_path}/confirm",
                             data={"_csrf": csrf_of(code_html), "code": code})
    assert done.status == 200 and "签署成功" in await done.text()


async def test_sign_without_csrf_is_refused(client, deps, app_flow) -> None:
    contract_id = await send_contract(deps, app_flow)
    await as_user(client, deps, app_flow.employee_id)
    response = await client.post(f"/contracts/{contract_id}/sign/code", data={})
    assert response.status == 400 and "页面已过期" in await response.text()


async def test_reject_and_revoke_pages(client, deps, app_flow) -> None:
    first = await send_contract(deps, app_flow, title="甲")
    second = await send_contract(deps, app_flow, title="乙")
    await as_user(client, deps, app_flow.employee_id)
    html = await (await client.get(f"/contracts/{first}")).text()
    rejected = await client.post(f"/contracts/{first}/reject",
                                 data={"_csrf": csrf_of(html), "reason": "薪资不符"})
    assert "已拒签" in await rejected.text()
    await as_user(client, deps, app_flow.admin_id)
    html = await (await client.get(f"/contracts/{second}")).text()
    revoked = await client.post(f"/contracts/{second}/revoke",
                                data={"_csrf": csrf_of(html), "reason": "信息有误"})
    assert "合同已撤销" in await revoked.text()


async def test_verify_page_reports_signatures_and_refuses_garbage(
    client, deps, outbox, app_flow
) -> None:
    contract_id = await send_contract(deps, app_flow)
    await sign_as(deps, outbox, app_flow.employee_id, contract_id)
    await sign_as(deps, outbox, app_flow.sealer_id, contract_id)
    await as_user(client, deps, app_flow.employee_id)
    pdf = await (await client.get(f"/contracts/{contract_id}/download")).read()
    client.session.cookie_jar.clear()
    html = await (await client.get("/verify")).text()
    form = FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("file", pdf, filename="signed.pdf", content_type="application/pdf")
    result = await (await client.post("/verify", data=form)).text()
    assert "所有签名有效" in result and "杭州示例劳务科技有限公司" in result
    assert "合同状态：已完成" in result
    form = FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("file", b"\x00" * 500, filename="junk.pdf", content_type="application/pdf")
    junk = await client.post("/verify", data=form)
    assert junk.status == 400 and "不是有效的 PDF" in await junk.text()


async def test_an_outsider_gets_not_found(client, deps, app_flow) -> None:
    contract_id = await send_contract(deps, app_flow)
    stranger = await employee(deps, "路人甲")
    await as_user(client, deps, stranger)
    for path in (f"/contracts/{contract_id}", f"/contracts/{contract_id}/download",
                 f"/contracts/{contract_id}/pages/0.png"):
        assert (await client.get(path)).status == 404
