"""A signer's rejection (拒签) and a contract's expiry (已过期) in a real browser against a
real server, on a phone (390×844) and on a PC (1366×768):

- HR sends a contract to 陈一 (first), 林二 (second) and the enterprise; 陈一 signs; 林二
  opens the link in the SMS telling them it is their turn, logs in, taps 拒签, gives a
  reason. The page shows 已拒签 and the reason; the dev SMS inbox shows the notice with
  the reason for HR and for 陈一; HR's ledger shows 已拒签 and the contract page who
  rejected it and why.
- A contract with a deadline passes it: at once (before any sweep) the employee's page
  and HR's ledger read 已过期 and signing is not offered; the periodic sweep then sends
  the expiry notice to HR and the pending signer. A contract whose deadline is less than
  a day away sends the "due tomorrow" notice.

Screenshots land in test-output/<test name>/."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select, update

from core.contracts import disclosure
from core.enterprise import seals as enterprise_seals
from core.signatures import add_signature
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from storage.models import Contract, Member, PeriodicRun, Seal
from tests.contract_support import META, signature_png
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import ENTERPRISE, inbox, sign_in
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user

HR_PHONE = "13712380001"
CHEN, LIN = "13800008001", "13800008002"
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}
REASON = "薪资条款与面谈约定不一致"


async def _parties(deps) -> dict[str, str]:
    """HR (the main admin, who also holds the contract seal) and two verified workers
    with a signature who accepted the signing disclosure."""
    hr = await make_user(deps, phone=HR_PHONE, verified=True, real_name="王五",
                         id_number=id_number("501"))
    ent, _ = await certified_enterprise(deps, owner_id=hr.id, name=ENTERPRISE)
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(select(Seal.id).where(
            Seal.enterprise_id == ent, Seal.kind == "contract"))).scalar_one()
        member_id = (await session.execute(select(Member.id).where(
            Member.enterprise_id == ent, Member.user_id == hr.id))).scalar_one()
    await enterprise_seals.grant_seal(deps, hr.id, ent, seal_id, member_id, META)
    tokens = {}
    for name, phone, digits in (("陈一", CHEN, "502"), ("林二", LIN, "503")):
        user = await make_user(deps, phone=phone, verified=True, real_name=name,
                               id_number=id_number(digits))
        await add_signature(deps, user.id, signature_png(), META)
        await disclosure.show(deps, user.id, None, META)
        await disclosure.accept(deps, user.id, None, META)
        tokens[phone] = (await login_as(deps, user)).session.token
    return {"ent": ent, "seal_id": seal_id, "hr_token": (await login_as(deps, hr)).session.token,
            "chen_token": tokens[CHEN], "lin_token": tokens[LIN]}


async def _api(live_server, method: str, path: str, token: str, **kwargs) -> dict:
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{live_server.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {token}"}, **kwargs) as r:
        body = await r.json()
        assert r.status < 300, (r.status, body)
        return body


async def _send(live_server, data: dict[str, str], title: str, people: list[tuple[str, str]],
                deadline: datetime | None = None) -> str:
    """HR sends through the server's API (so the SMS links carry the server's address):
    the people in turn, then the enterprise's seal."""
    signers = [{"party": "person", "name": name, "phone": phone, "order": i + 1,
                "boxes": [{"page": 3 - i, "rect": list(EMPLOYEE_BOX)}]}  # one box each
               for i, (name, phone) in enumerate(people)]
    signers.append({"party": "enterprise", "seal_id": data["seal_id"],
                    "order": len(people) + 1,
                    "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]})
    form = aiohttp.FormData()
    form.add_field("enterprise_id", data["ent"])
    form.add_field("title", title)
    form.add_field("signers", json.dumps(signers))
    if deadline is not None:
        form.add_field("deadline", deadline.isoformat())
    form.add_field("file", sample_contract_pdf(3), filename="劳动合同.pdf",
                   content_type="application/pdf")
    return (await _api(live_server, "POST", "/contracts", data["hr_token"], data=form))["id"]


async def _texts(live_server, phone: str, needle: str, wait: float = 20.0) -> list[str]:
    """The SMS texts to `phone` containing `needle` (waits for the outbox)."""
    deadline = time.monotonic() + wait
    while True:
        found = [m["text"] for m in await inbox(live_server, phone) if needle in m["text"]]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _code(live_server, phone: str, seen: set[str], wait: float = 20.0) -> str:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        fresh = [m["code"] for m in await inbox(live_server, phone)
                 if m["id"] not in seen and m["code"]]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new SMS code for {phone}")


async def _sign_by_api(live_server, token: str, phone: str, contract_id: str) -> None:
    seen = {m["id"] for m in await inbox(live_server, phone)}
    await _api(live_server, "POST", f"/contracts/{contract_id}/sign/code", token, json={})
    code = await _code(live_server, phone, seen)
    await _api(live_server, "POST", f"/contracts/{contract_id}/sign", token,
               json={"code": code})


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


async def _sms_page(page, live_server, phone: str) -> str:
    """The dev SMS inbox for one phone, read as a page."""
    await page.goto(f"{live_server.url}/dev/sms?phone={phone}")
    await page.wait_for_selector("article.sms")
    return await page.inner_text("main")


async def _open_sms_link(browser, live_server, phone: str, needle: str, device: dict):
    """The person taps the link in their SMS on a fresh browser: the login page (by SMS
    code) first, then back to the contract."""
    texts = await _texts(live_server, phone, needle)
    assert texts, f"no SMS with {needle!r} to {phone}"
    link = re.search(r"https?://\S+/contracts/\w+", texts[0])
    assert link is not None, texts[0]
    assert link.group(0).startswith(live_server.url), link.group(0)
    context = await browser.new_context(**device)
    page = await context.new_page()
    await page.goto(link.group(0))
    await page.wait_for_url(re.compile(r".*/login\?next="))
    await page.click("text=验证码登录")
    await page.fill("#f-phone", phone)
    seen = {m["id"] for m in await inbox(live_server, phone)}
    await page.click("[data-send-code]")
    await page.fill("#f-code", await _code(live_server, phone, seen))
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_url(link.group(0))
    return context, page


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_a_signer_rejects_and_everyone_learns_why(deps, live_server, browser, shot,
                                                        device) -> None:
    data = await _parties(deps)
    title = "劳动合同（陈一、林二）"
    cid = await _send(live_server, data, title, [("陈一", CHEN), ("林二", LIN)])
    assert await _texts(live_server, CHEN, title)
    assert not await _texts(live_server, LIN, title, wait=1.0)  # not 林二's turn yet
    await _sign_by_api(live_server, data["chen_token"], CHEN, cid)

    # -- 林二: the SMS says it is their turn; the link, the login, the contract -------------
    context, page = await _open_sms_link(browser, live_server, LIN, title, DEVICES[device])
    await page.wait_for_selector("#go-sign")
    assert await page.inner_text("#contract-state") == "签署中"
    await _no_overflow(page)
    await shot(page, f"{device}-lin-opens-the-link")
    await page.click("details.card summary:text-is('拒签')")
    await page.fill("textarea[name=reason]", REASON)
    await shot(page, f"{device}-lin-types-the-reason")
    await page.click("button:text-is('确认拒签')")
    await page.wait_for_url(re.compile(rf".*/contracts/{cid}\?done=rejected$"))
    assert await page.inner_text("#contract-state") == "已拒签"
    assert await page.inner_text("[data-flash]") == "已拒签"
    main = await page.inner_text("main")
    assert f"原因：{REASON}" in main
    assert await page.locator("#go-sign").count() == 0
    assert await page.locator("details.card summary:text-is('拒签')").count() == 0
    signers = await page.inner_text("main ul.list")
    assert re.search(r"陈一.*\n?.*已签署", signers) and re.search(r"林二.*\n?.*已拒签", signers), \
        signers
    # The enterprise no longer waits for anything: not "等待前序签署" on an ended contract.
    assert "等待前序签署" not in signers and re.search(r"企业盖章）\n?.*未签署", signers), signers
    await _no_overflow(page)
    await shot(page, f"{device}-lin-rejected")

    # -- the SMS inbox: HR and 陈一 are told, with the reason; 林二 is not told of their own act
    notice = f"《{title}》已被林二拒签，原因：{REASON}。"
    for phone in (HR_PHONE, CHEN):
        assert await _texts(live_server, phone, notice), f"no rejection notice to {phone}"
    assert not await _texts(live_server, LIN, "拒签", wait=1.0)
    for phone, who in ((HR_PHONE, "hr"), (CHEN, "chen")):
        text = await _sms_page(page, live_server, phone)
        assert notice in text, text
        await _no_overflow(page)
        await shot(page, f"{device}-sms-inbox-{who}")
    await context.close()

    # -- HR in the console: the ledger reads 已拒签; the contract page names 林二 and the reason
    path = f"/console/e/{data['ent']}/contracts"
    hr_context, hr = await sign_in(browser, live_server, HR_PHONE, DEVICES[device], path)
    row = hr.locator(f"#contract-table tr[data-id='{cid}']")
    assert "已拒签" in await row.inner_text()
    assert "陈一 已签署、林二 已拒签、企业 未签署" in await row.inner_text()
    await _no_overflow(hr)
    await shot(hr, f"{device}-hr-ledger")
    await hr.goto(f"{live_server.url}{path}?state=ended")
    assert "已拒签" in await hr.locator(f"#contract-table tr[data-id='{cid}']").inner_text()
    await hr.click(f"#contract-table tr[data-id='{cid}'] a:text-is('{title}')")
    await hr.wait_for_url(f"**/contracts/{cid}")
    assert await hr.inner_text("#contract-state") == "已拒签"
    assert f"原因：{REASON}" in await hr.inner_text("main")
    assert re.search(r"林二.*\n?.*已拒签", await hr.inner_text("main ul.list"))
    assert await hr.locator("#urge").count() == 0
    await _no_overflow(hr)
    await shot(hr, f"{device}-hr-contract-page")
    await hr_context.close()


async def _hold(deps, task: str) -> None:
    """The periodic task is not due for an hour (it ran as the server started): what
    follows happens between two sweeps, whenever in the minute it starts."""
    deadline = time.monotonic() + 20
    while True:
        async with deps.db.transaction() as tx:
            held = await tx.changed(update(PeriodicRun).where(PeriodicRun.name == task)
                                    .values(next_run_at=datetime.now(UTC) + timedelta(hours=1)))
        if held or time.monotonic() > deadline:
            assert held, f"the server never ran {task}"
            return
        await asyncio.sleep(0.2)


async def _hurry(deps, task: str) -> None:
    """The periodic task's next run falls due now: stands for waiting out its period (a
    minute for contracts.expire, five for contracts.remind); the server's own scheduler,
    which looks every few seconds, still does the work."""
    async with deps.db.transaction() as tx:
        await tx.session.execute(update(PeriodicRun).where(PeriodicRun.name == task)
                                 .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1)))


async def _contract(deps, cid: str) -> Contract:
    async with deps.db.sessions() as session:
        row = await session.get(Contract, cid)
        assert row is not None
        return row


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_a_contract_expires_at_its_deadline_and_the_sweep_tells(
        deps, live_server, browser, shot, device) -> None:
    data = await _parties(deps)
    title = "劳动合同（陈一，限期）"
    cid = await _send(live_server, data, title, [("陈一", CHEN)],
                      deadline=datetime.now(UTC) + timedelta(days=3))
    assert await _texts(live_server, CHEN, title)

    # -- 陈一 opens the link while the contract is live --------------------------------------
    context, page = await _open_sms_link(browser, live_server, CHEN, title, DEVICES[device])
    await page.wait_for_selector("#go-sign")
    assert await page.inner_text("#contract-state") == "签署中"
    await shot(page, f"{device}-chen-before-the-deadline")

    await _hold(deps, "contracts.expire")
    # The deadline passes. Sending refuses a deadline in the past, so the stored deadline
    # is moved to a minute ago: this stands for the days going by.
    async with deps.db.transaction() as tx:
        await tx.session.execute(update(Contract).where(Contract.id == cid).values(
            deadline=datetime.now(UTC) - timedelta(minutes=1)))

    # -- at once, before any sweep: 已过期, and no signing --------------------------------------
    await page.reload()
    assert await page.inner_text("#contract-state") == "已过期"
    assert await page.locator("#go-sign").count() == 0
    assert await page.locator("details.card summary:text-is('拒签')").count() == 0
    await _no_overflow(page)
    await shot(page, f"{device}-chen-expired-at-once")
    assert "待签署" not in await page.inner_text("main ul.list")
    # The signing page sends them back to the contract.
    await page.goto(f"{live_server.url}/contracts/{cid}/sign")
    await page.wait_for_url(f"{live_server.url}/contracts/{cid}")
    assert await page.locator("#sign-start").count() == 0
    await page.goto(f"{live_server.url}/contracts?tab=to_sign")
    assert title not in await page.inner_text("main")
    await shot(page, f"{device}-chen-nothing-to-sign")

    path = f"/console/e/{data['ent']}/contracts"
    hr_context, hr = await sign_in(browser, live_server, HR_PHONE, DEVICES[device], path)
    row = hr.locator(f"#contract-table tr[data-id='{cid}']")
    assert "已过期" in await row.inner_text()
    assert "陈一 未签署、企业 未签署" in await row.inner_text()
    assert await row.locator("button.urge-one").count() == 0
    await _no_overflow(hr)
    await shot(hr, f"{device}-hr-ledger-expired-at-once")
    assert (await _contract(deps, cid)).state == "in_progress"  # the sweep has not run yet
    assert not await _texts(live_server, HR_PHONE, "已过期", wait=0.5)

    # -- the sweep ends it and tells HR and the pending signer ----------------------------------
    await _hurry(deps, "contracts.expire")
    notice = f"《{title}》已超过签署截止时间，未签署完成，合同已过期。"
    for phone in (HR_PHONE, CHEN):
        assert await _texts(live_server, phone, notice, wait=30.0), f"no expiry notice to {phone}"
    assert (await _contract(deps, cid)).state == "expired"
    for phone, who in ((HR_PHONE, "hr"), (CHEN, "chen")):
        text = await _sms_page(page, live_server, phone)
        assert notice in text, text
        await _no_overflow(page)
        await shot(page, f"{device}-sms-inbox-expired-{who}")
    await hr.goto(f"{live_server.url}{path}?state=ended")
    assert "已过期" in await hr.locator(f"#contract-table tr[data-id='{cid}']").inner_text()
    await shot(hr, f"{device}-hr-ledger-ended-tab")
    # Nor can a signing code be asked for through the API.
    async with aiohttp.ClientSession() as http, http.post(
            f"{live_server.url}/api/v1/contracts/{cid}/sign/code", json={},
            headers={"Authorization": f"Bearer {data['chen_token']}"}) as r:
        assert r.status == 409, await r.text()
        assert (await r.json())["error"]["code"] in ("contract_expired", "contract_not_signable")
    await hr_context.close()
    await context.close()


async def test_the_day_before_the_deadline_the_sender_and_the_signer_are_told(
        deps, live_server, browser, shot) -> None:
    data = await _parties(deps)
    title = "劳动合同（林二，明日截止）"
    cid = await _send(live_server, data, title, [("林二", LIN)],
                      deadline=datetime.now(UTC) + timedelta(days=3))
    assert await _texts(live_server, LIN, title)
    # Two days go by: the deadline is now 23 hours ahead, and the notice a day before it
    # (stored when the contract was sent) fell due an hour ago.
    deadline = datetime.now(UTC) + timedelta(hours=23)
    async with deps.db.transaction() as tx:
        await tx.session.execute(update(Contract).where(Contract.id == cid).values(
            deadline=deadline, due_notice_at=deadline - timedelta(days=1)))
    await _hurry(deps, "contracts.remind")
    to_signer = await _texts(live_server, LIN, "即将截止签署", wait=30.0)
    to_hr = await _texts(live_server, HR_PHONE, f"您发起的《{title}》即将截止", wait=30.0)
    assert to_signer and title in to_signer[0] and f"/contracts/{cid}" in to_signer[0]
    assert to_hr and "尚未签署：林二" in to_hr[0]
    assert (await _contract(deps, cid)).due_notice_at is None  # sent once

    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    for phone, who in ((HR_PHONE, "hr"), (LIN, "lin")):
        text = await _sms_page(page, live_server, phone)
        assert "即将截止" in text, text
        await _no_overflow(page)
        await shot(page, f"sms-inbox-due-tomorrow-{who}")
    await context.close()
