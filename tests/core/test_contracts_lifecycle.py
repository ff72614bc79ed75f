"""Contract lifecycle (PRODUCT C4, D3): urging with its ten-hour limit, automatic reminders
on the enterprise's schedule, deadline notices, expired at once, revoking many, and who is
told when a contract ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import housekeeping
from core.contracts import access, ending, ledger, reminders, send, signing, trail, urging
from core.contracts.states import ContractState
from core.devtools import sms_inbox
from core.enterprise import members as enterprise_members
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.signing.samples import sample_contract_pdf
from handlers.app import build_deps
from storage.models import Contract, ContractSigner, OutboxMessage, WechatBinding
from tests.contract_support import (
    META,
    company,
    parties,
    person,
    send_contract,
    sign_as,
    start_tsa,
)
from tests.enterprise_factories import make_user, user_phone


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


@pytest.fixture
async def other_process(config, clock):
    """A second process's wiring over the same database (its own engine and pool)."""
    d = build_deps(config, clock=clock)
    yield d
    await d.db.dispose()


async def texts(deps, outbox, phone: str, needle: str) -> list[str]:
    await outbox.drain()
    return [m.text for m in await sms_inbox(deps, phone, limit=200) if needle in m.text]


async def send_with_deadline(deps, flow, days: float, signers=None, title="限期合同") -> str:
    return await send.create_and_send(
        deps, flow.admin_id, flow.enterprise_id, title=title, filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=signers or [person(flow.employee_phone)],
        deadline=deps.clock.now() + timedelta(days=days), meta=META)


async def member_with_role(deps, flow, builtin: str, name: str) -> str:
    user_id = await make_user(deps, name=name)
    async with deps.db.transaction() as tx:
        role_id = await roles.builtin_role_id(tx, flow.enterprise_id, builtin)
    await enterprise_members.add_member(
        deps, flow.admin_id, flow.enterprise_id, phone=await user_phone(deps, user_id),
        name=name, role_ids=[role_id], meta=META)
    return user_id


# -- urging ----------------------------------------------------------------------------------


async def test_urging_tells_the_pending_signer_by_sms(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    done = await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    assert done.urged == ("张三",)
    assert await texts(deps, outbox, flow.employee_phone, "提醒您尽快签署")


async def test_a_signer_is_urged_at_most_once_in_ten_hours(deps, outbox, flow, clock) -> None:
    contract_id = await send_contract(deps, flow)
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    clock.advance(hours=9, minutes=59)
    with pytest.raises(urging.UrgeTooSoon) as err:
        await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    assert err.value.message == "已催办，1 小时后可再次催办"
    assert err.value.status == 429
    clock.advance(minutes=1)
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    assert len(await texts(deps, outbox, flow.employee_phone, "提醒您尽快签署")) == 2


async def test_the_button_says_how_long_to_wait(deps, flow, clock) -> None:
    contract_id = await send_contract(deps, flow)
    before = await access.view_contract(deps, flow.admin_id, contract_id)
    assert before.can_urge and before.urge_label is None
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    clock.advance(hours=2)
    after = await access.view_contract(deps, flow.admin_id, contract_id)
    assert not after.can_urge and after.urge_label == "已催办，8 小时后可再次催办"
    [item] = await access.enterprise_contracts(deps, flow.admin_id, flow.enterprise_id)
    assert not item.can_urge and item.urge_label == "已催办，8 小时后可再次催办"


async def test_the_limit_holds_across_processes(deps, other_process, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    results = await asyncio.gather(
        urging.urge_contract(deps, flow.admin_id, contract_id, META),
        urging.urge_contract(other_process, flow.admin_id, contract_id, META),
        return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["UrgeOutcome", "UrgeTooSoon"]
    with pytest.raises(urging.UrgeTooSoon):
        await urging.urge_contract(other_process, flow.admin_id, contract_id, META)
    assert len(await texts(deps, outbox, flow.employee_phone, "提醒您尽快签署")) == 1


async def test_only_the_sending_side_may_urge(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    with pytest.raises(NotFound):
        await urging.urge_contract(deps, flow.employee_id, contract_id, META)
    legal = await member_with_role(deps, flow, "legal", "孙七")
    with pytest.raises(PermissionDenied):
        await urging.urge_contract(deps, legal, contract_id, META)
    assert not (await access.view_contract(deps, legal, contract_id)).can_urge
    hr = await member_with_role(deps, flow, "hr", "周八")
    assert (await urging.urge_contract(deps, hr, contract_id, META)).urged


async def test_urging_a_seal_turn_tells_the_seal_holder(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow, [company(flow.seal_id, order=1),
                                                   person(flow.employee_phone, order=2)])
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    sealer_phone = await user_phone(deps, flow.sealer_id)
    assert await texts(deps, outbox, sealer_phone, "发起方提醒您尽快处理")
    assert not await texts(deps, outbox, flow.employee_phone, "提醒您尽快签署")


async def test_urging_many_reports_each_contract(deps, outbox, flow) -> None:
    first = await send_contract(deps, flow, title="合同一")
    second = await send_contract(deps, flow, title="合同二")
    await urging.urge_contract(deps, flow.admin_id, first, META)
    rows = await urging.urge_many(deps, flow.admin_id, [first, second, "nope"], META,
                                  enterprise_id=flow.enterprise_id)
    assert [(r.contract_id, r.ok, r.code) for r in rows] == [
        (first, False, "urge_too_soon"), (second, True, None),
        ("nope", False, "contract_not_found")]
    with pytest.raises(InvalidInput):
        await urging.urge_many(deps, flow.admin_id, [], META)
    with pytest.raises(InvalidInput):
        await urging.urge_many(deps, flow.admin_id, [f"id{i}" for i in range(101)], META)


async def test_a_finished_contract_cannot_be_urged(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await ending.revoke_contract(deps, flow.admin_id, contract_id, "条款有误", META)
    with pytest.raises(Conflict) as err:
        await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    assert err.value.code == "contract_not_in_progress"


# -- the reminder schedule --------------------------------------------------------------------


async def set_schedule(deps, flow, first=3, every=2, most=5) -> None:
    await reminders.set_reminder_schedule(
        deps, flow.admin_id, flow.enterprise_id, enabled=True, first_days=first,
        every_days=every, max_times=most, meta=META)


async def run_days(deps, clock, days: int, step_hours: int = 6) -> None:
    for _ in range(days * 24 // step_hours):
        clock.advance(hours=step_hours)
        await housekeeping.sweep(deps)


@pytest.mark.parametrize("first, every, most", [(0, 2, 5), (3, 0, 5), (3, 31, 5), (3, 2, 0),
                                                (3, 2, 11), (None, 2, 5)])
async def test_the_schedule_has_bounds(deps, flow, first, every, most) -> None:
    with pytest.raises(InvalidInput):
        await set_schedule(deps, flow, first, every, most)


async def test_reminders_are_off_until_the_enterprise_sets_them(deps, outbox, flow,
                                                                clock) -> None:
    await send_contract(deps, flow)
    await run_days(deps, clock, 6)
    assert not await texts(deps, outbox, flow.employee_phone, "还在等您签署")


async def test_reminders_follow_the_schedule_and_stop_at_the_most(deps, outbox, flow,
                                                                 clock) -> None:
    await set_schedule(deps, flow, 3, 2, 5)
    await send_contract(deps, flow)
    clock.advance(days=2, hours=23)
    await housekeeping.sweep(deps)
    assert not await texts(deps, outbox, flow.employee_phone, "还在等您签署")
    clock.advance(hours=1)
    await housekeeping.sweep(deps)
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 1
    await run_days(deps, clock, 2)  # day 5
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 2
    await run_days(deps, clock, 20)
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 5


async def test_reminders_never_fall_after_the_deadline(deps, outbox, flow, clock) -> None:
    await set_schedule(deps, flow, 3, 2, 5)
    contract_id = await send_with_deadline(deps, flow, 8)
    await run_days(deps, clock, 7)
    async with deps.db.sessions() as session:
        row = await session.get(Contract, contract_id)
        assert row is not None and row.reminders_sent == 3
        assert row.next_reminder_at is None  # day 9 would be past the deadline
    await run_days(deps, clock, 5)
    # Days 3, 5 and 7.
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 3


async def test_a_signed_contract_gets_no_more_reminders(deps, outbox, flow, clock) -> None:
    await set_schedule(deps, flow, 1, 1, 5)
    contract_id = await send_contract(deps, flow, [person(flow.employee_phone)])
    await run_days(deps, clock, 1)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    await run_days(deps, clock, 5)
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 1


async def test_two_workers_send_each_reminder_once(deps, other_process, outbox, flow,
                                                   clock) -> None:
    await set_schedule(deps, flow, 1, 1, 5)
    await send_contract(deps, flow)
    clock.advance(days=1)
    await asyncio.gather(reminders.run(deps), reminders.run(other_process))
    await reminders.run(other_process)
    assert len(await texts(deps, outbox, flow.employee_phone, "还在等您签署")) == 1


async def test_a_schedule_change_applies_to_contracts_in_progress(deps, outbox, flow,
                                                                 clock) -> None:
    contract_id = await send_contract(deps, flow)
    clock.advance(days=2)
    await set_schedule(deps, flow, 3, 2, 5)
    async with deps.db.sessions() as session:
        contract = await session.get(Contract, contract_id)
        assert contract is not None and contract.sent_at is not None
        assert contract.next_reminder_at == contract.sent_at + timedelta(days=3)
    await reminders.set_reminder_schedule(deps, flow.admin_id, flow.enterprise_id,
                                          enabled=False, first_days=None, every_days=None,
                                          max_times=None, meta=META)
    await run_days(deps, clock, 4)
    assert not await texts(deps, outbox, flow.employee_phone, "还在等您签署")


async def test_the_sender_and_the_pending_signer_hear_the_day_before(deps, outbox, flow,
                                                                    clock) -> None:
    await send_with_deadline(deps, flow, 5)
    admin_phone = await user_phone(deps, flow.admin_id)
    clock.advance(days=3, hours=23)
    await housekeeping.sweep(deps)
    assert not await texts(deps, outbox, admin_phone, "即将截止")
    clock.advance(hours=1)
    await housekeeping.sweep(deps)
    await housekeeping.sweep(deps)
    assert len(await texts(deps, outbox, admin_phone, "即将截止")) == 1
    assert len(await texts(deps, outbox, flow.employee_phone, "即将截止")) == 1


async def test_a_short_deadline_gets_no_day_before_notice(deps, outbox, flow, clock) -> None:
    await send_with_deadline(deps, flow, 0.5)
    await run_days(deps, clock, 1)
    assert not await texts(deps, outbox, flow.employee_phone, "即将截止")


# -- expiry -----------------------------------------------------------------------------------


async def test_past_the_deadline_reads_as_expired_at_once(deps, flow, clock) -> None:
    contract_id = await send_with_deadline(deps, flow, 1 / 24)
    clock.advance(hours=2)  # no sweep has run
    async with deps.db.sessions() as session:
        row = await session.get(Contract, contract_id)
        assert row is not None and row.state == ContractState.IN_PROGRESS
    view = await access.view_contract(deps, flow.admin_id, contract_id)
    assert view.state == ContractState.EXPIRED and view.state_label == "已过期"
    assert not view.can_revoke and not view.can_urge
    assert not await access.list_contracts(deps, flow.employee_id, "to_sign")
    [ended] = await access.list_contracts(deps, flow.employee_id, "ended")
    assert ended.state == ContractState.EXPIRED
    assert not await access.enterprise_contracts(deps, flow.admin_id, flow.enterprise_id,
                                                 "in_progress")
    [item] = await access.enterprise_contracts(deps, flow.admin_id, flow.enterprise_id,
                                               "ended")
    assert item.state_label == "已过期" and not item.can_revoke
    assert await access.count_to_sign(deps, flow.employee_id) == 0


async def test_past_the_deadline_nothing_moves(deps, flow, clock) -> None:
    contract_id = await send_with_deadline(deps, flow, 1 / 24)
    clock.advance(hours=2)
    for attempt in (
        lambda: ending.reject_contract(deps, flow.employee_id, contract_id, "晚了", META),
        lambda: ending.revoke_contract(deps, flow.admin_id, contract_id, "晚了", META),
        lambda: urging.urge_contract(deps, flow.admin_id, contract_id, META),
        lambda: signing.request_sign(deps, flow.employee_id, contract_id, META),
    ):
        with pytest.raises(Conflict) as err:
            await attempt()
        assert err.value.code == "contract_expired"


async def test_the_sender_and_the_pending_signers_are_told_when_it_expires(
        deps, outbox, flow, clock) -> None:
    await send_with_deadline(deps, flow, 1 / 24)
    clock.advance(hours=2)
    assert (await housekeeping.sweep(deps))["contracts_expired"] == 1
    await housekeeping.sweep(deps)
    admin_phone = await user_phone(deps, flow.admin_id)
    assert len(await texts(deps, outbox, admin_phone, "已过期")) == 1
    assert len(await texts(deps, outbox, flow.employee_phone, "已过期")) == 1


# -- revoking many, rejecting: who is told ------------------------------------------------------


async def test_revoking_many_tells_every_party_that_signed(deps, outbox, flow) -> None:
    person_signed = await send_contract(deps, flow, [person(flow.employee_phone, order=1),
                                                     company(flow.seal_id, order=2)],
                                        title="员工已签")
    await sign_as(deps, outbox, flow.employee_id, person_signed)
    company_signed = await send_contract(deps, flow, [company(flow.seal_id, order=1),
                                                      person(flow.employee_phone, order=2)],
                                         title="企业已盖章")
    await sign_as(deps, outbox, flow.sealer_id, company_signed)
    rows = await ending.revoke_many(deps, flow.admin_id, [person_signed, company_signed,
                                                          "nope"], "岗位调整", META)
    assert [r.ok for r in rows] == [True, True, False] and rows[2].code == "contract_not_found"
    told = await texts(deps, outbox, flow.employee_phone, "原因：岗位调整")
    assert any("员工已签" in t for t in told)
    sealer_phone = await user_phone(deps, flow.sealer_id)
    assert any("企业已盖章" in t for t in await texts(deps, outbox, sealer_phone,
                                                         "原因：岗位调整"))
    for cid in (person_signed, company_signed):
        view = await access.view_contract(deps, flow.admin_id, cid)
        assert view.state == ContractState.REVOKED and view.end_reason == "岗位调整"


async def test_revoking_many_needs_a_reason_and_a_selection(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    with pytest.raises(InvalidInput):
        await ending.revoke_many(deps, flow.admin_id, [contract_id], " ", META)
    with pytest.raises(InvalidInput):
        await ending.revoke_many(deps, flow.admin_id, [], "原因", META)


async def test_revoking_within_another_enterprise_is_not_found(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    [row] = await ending.revoke_many(deps, flow.admin_id, [contract_id], "原因", META,
                                     enterprise_id="someone-else")
    assert row.code == "contract_not_found"


async def test_a_rejection_tells_the_sender_and_who_signed_with_the_reason(
        deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow, [company(flow.seal_id, order=1),
                                                   person(flow.employee_phone, order=2)])
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    await ending.reject_contract(deps, flow.employee_id, contract_id, "薪资与约定不符", META)
    admin_phone = await user_phone(deps, flow.admin_id)
    sealer_phone = await user_phone(deps, flow.sealer_id)
    assert await texts(deps, outbox, admin_phone, "拒签，原因：薪资与约定不符")
    assert await texts(deps, outbox, sealer_phone, "拒签，原因：薪资与约定不符")
    assert not await texts(deps, outbox, flow.employee_phone, "拒签，原因")


async def _labels(deps, user_id: str, enterprise_id: str, contract_id: str
                  ) -> tuple[list[str], str, list[str]]:
    """The signers' labels on the contract page, in the ledger row and on the trail."""
    view = await access.view_contract(deps, user_id, contract_id)
    page = await ledger.ledger(deps, user_id, enterprise_id)
    [row] = [i for i in page.items if i.id == contract_id]
    shown = await trail.load_trail(deps, user_id, contract_id)
    return ([s.state_label for s in view.signers], row.signers,
            [p.state_label for p in shown.parties])


async def test_after_a_rejection_nobody_reads_as_still_waiting(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow, [person(flow.employee_phone, order=1),
                                                   company(flow.seal_id, order=2)])
    on_page, in_ledger, on_trail = await _labels(deps, flow.admin_id, flow.enterprise_id,
                                                 contract_id)
    assert on_page == on_trail == ["待签署", "等待前序签署"]
    await ending.reject_contract(deps, flow.employee_id, contract_id, "薪资与约定不符", META)
    on_page, in_ledger, on_trail = await _labels(deps, flow.admin_id, flow.enterprise_id,
                                                 contract_id)
    assert on_page == on_trail == ["已拒签", "未签署"]
    assert in_ledger == "张三 已拒签、企业 未签署"


async def test_past_the_deadline_the_unsigned_read_as_unsigned_at_once(deps, flow,
                                                                       clock) -> None:
    contract_id = await send_with_deadline(
        deps, flow, 1 / 24, signers=[person(flow.employee_phone), company(flow.seal_id)])
    clock.advance(hours=2)  # no sweep has run
    on_page, in_ledger, on_trail = await _labels(deps, flow.admin_id, flow.enterprise_id,
                                                 contract_id)
    assert on_page == on_trail == ["未签署", "未签署"]
    assert in_ledger == "张三 未签署、企业 未签署"


async def test_urge_counts_are_kept_on_the_signer(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    async with deps.db.sessions() as session:
        signer = (await session.execute(select(ContractSigner).where(
            ContractSigner.contract_id == contract_id, ContractSigner.party == "person"))
        ).scalar_one()
    assert signer.urge_count == 1 and signer.last_urged_at is not None


async def test_a_signer_bound_to_wechat_is_urged_by_template_message(deps, flow) -> None:
    async with deps.db.transaction() as tx:
        tx.session.add(WechatBinding(openid="o_employee", user_id=flow.employee_id,
                                     created_at=deps.clock.now()))
    contract_id = await send_contract(deps, flow)
    await urging.urge_contract(deps, flow.admin_id, contract_id, META)
    async with deps.db.sessions() as session:
        jobs = list((await session.execute(select(OutboxMessage).where(
            OutboxMessage.kind == "notify.send"))).scalars())
    urged = [j for j in jobs if j.payload["event"] == "urged"]
    assert [j.payload["user_id"] for j in urged] == [flow.employee_id]
    assert urged[0].payload["link"].endswith(f"/contracts/{contract_id}")
