"""Onboarding by QR code in a real browser (PRODUCT B5, E4):

1. HR opens the poster in the console → a verified worker opens the join link on the
   phone, fills the form and submits → HR sees them pending review and approves.
2. Through the WeChat simulator: a new follower scans the poster's scene, registers, is
   sent to the real-name check (face) and comes back to the join page, then registers.
"""

from __future__ import annotations

from sqlalchemy import select

from core.context import RequestMeta
from core.enterprise import departments as DP
from core.enterprise import employees as E
from storage.models import Employee
from tests.e2e.conftest import PHONE
from tests.e2e.test_wechat import follow_register_and_bind, wait_bot_reply
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user

META = RequestMeta(ip="127.0.0.1", user_agent="e2e-setup")
ENTERPRISE = "苏州扫码示范制造有限公司"


async def _setup(deps) -> dict[str, str]:
    admin = await make_user(deps, phone="13712350001", verified=True, real_name="王五",
                            id_number=id_number("311"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name=ENTERPRISE)
    await DP.add_department(deps, admin.id, ent, "生产部", None, META)
    await E.set_onboarding_fields(deps, admin.id, ent,
                                  ["id_number", "department", "position", "start_date"], META)
    return {"ent": ent, "admin_token": (await login_as(deps, admin)).session.token}


async def _page_as(browser, url: str, token: str):
    context = await browser.new_context(**PHONE)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    return context, await context.new_page()


async def _statuses(deps, ent: str) -> list[tuple[str, str]]:
    async with deps.db.sessions() as session:
        return [tuple(r) for r in (await session.execute(
            select(Employee.name, Employee.status).where(Employee.enterprise_id == ent)))]


async def _fill_join_form(page) -> None:
    await page.select_option("#j-dept", label="生产部")
    await page.fill("#j-position", "装配工")
    await page.fill("#j-start_date", "2026-12-01")


async def test_hr_poster_worker_joins_hr_approves(deps, live_server, browser, shot) -> None:
    url = live_server.url
    data = await _setup(deps)
    worker = await make_user(deps, phone="13712350002", verified=True, real_name="张小三",
                             id_number=id_number("312"))
    hr_context, hr = await _page_as(browser, url, data["admin_token"])
    await hr.goto(f"{url}/console/e/{data['ent']}/employees")
    await hr.click("#employees-qr-link")
    await hr.wait_for_selector("#poster-link-qr svg")
    await shot(hr, "hr-poster")
    join_url = await hr.input_value("#poster-url")
    assert join_url.startswith(f"{url}/onboarding/join?scene=")
    assert ENTERPRISE in await hr.inner_text("#poster")
    await hr.emulate_media(media="print")
    assert not await hr.is_visible("#poster-print")  # the print layout is the poster only
    await shot(hr, "hr-poster-print")
    await hr.emulate_media(media="screen")

    worker_context, phone = await _page_as(
        browser, url, (await login_as(deps, worker)).session.token)
    await phone.goto(join_url)
    await phone.wait_for_selector("#join-form")
    body = await phone.inner_text("body")
    assert ENTERPRISE in body and "张小三" in body and "张**" not in body  # own name
    await _fill_join_form(phone)
    await shot(phone, "worker-join-form")
    await phone.click("#join-submit")
    await phone.wait_for_selector("#join-done")
    assert "已提交，等待企业审核" in await phone.inner_text("#join-done")
    await shot(phone, "worker-submitted")

    await hr.goto(f"{url}/console/e/{data['ent']}/employees?tab=pending_review")
    await hr.click("text=张小三")
    await hr.wait_for_selector("button[value=approve]")
    await shot(hr, "hr-review")
    await hr.click("button[value=approve]")
    await hr.wait_for_selector("text=已保存")
    await shot(hr, "hr-approved")
    assert await _statuses(deps, data["ent"]) == [("张小三", "active")]
    await worker_context.close()
    await hr_context.close()


async def test_new_follower_scans_the_poster_in_wechat_and_joins(
    deps, live_server, browser, phone, shot
) -> None:
    url = live_server.url
    data = await _setup(deps)
    hr_context, hr = await _page_as(browser, url, data["admin_token"])
    await hr.goto(f"{url}/console/e/{data['ent']}/employees/qr")
    scene = (await hr.inner_text("#poster-scene")).strip()
    await hr_context.close()

    sim = phone
    await follow_register_and_bind(sim, live_server, shot, "w")
    await sim.goto(f"{url}/dev/wechat")
    await sim.click("#sim-scan-panel summary")
    await sim.locator(f"#sim-scene option[value='{scene}']").wait_for(state="attached")
    await sim.select_option("#sim-scene", scene)
    await sim.click("#sim-scan")
    reply = await wait_bot_reply(sim, 1)
    assert ENTERPRISE in reply and "开始登记" in reply
    await shot(sim, "w-bot-reply")

    await sim.locator("li.sim-msg[data-role=bot] a.sim-link", has_text="开始登记").last.click()
    await sim.wait_for_selector("#join-verify")
    await shot(sim, "w-join-needs-real-name")
    await sim.click("#join-verify-link")
    await sim.wait_for_selector("#identity-return")
    await sim.fill("#f-name", "李小四")
    await sim.fill("#f-id-number", id_number("313"))
    await sim.fill("#f-email", "xiaosi@example.com")
    await sim.check("input[name=method][value=face]")
    await sim.check("input[name=notice_personal_info]")
    await sim.check("input[name=notice_biometric]")
    await sim.evaluate("window.scrollTo(0, 0)")  # the sticky top bar, for the picture
    await shot(sim, "w-identity-form")
    await sim.click("#identity-form button[type=submit]")
    await sim.wait_for_url("**/dev/identity/face/**")
    await sim.click("text=开始检测")
    await sim.wait_for_selector("#join-form")  # straight back to the join page
    assert "李小四" in await sim.inner_text("#join-form")  # their own page: full name
    await _fill_join_form(sim)
    await shot(sim, "w-join-form")
    await sim.click("#join-submit")
    await sim.wait_for_selector("#join-done")
    await shot(sim, "w-submitted")
    assert await _statuses(deps, data["ent"]) == [("李小四", "pending_review")]
