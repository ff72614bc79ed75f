"""Proofs typed back (deposit amounts, authorisation and admin-change codes) cannot be
guessed by restarting: starts, wrong answers and cool-downs are limited per enterprise and
per user, refusals are audited and repeated failures alert the operator."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.enterprise import admin_change as A
from core.enterprise import certification as cert
from core.enterprise import members as M
from core.enterprise import proofs
from core.enterprise.operators import create_operator
from core.errors import InvalidInput, Locked, RateLimited
from storage.models import AuditEntry
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    deposit_amount,
    joined_member,
    make_user,
    submit,
    user_phone,
)
from tests.factories import last_code

AMOUNTS = [f"0.{c:02d}" for c in range(1, 100)]
REP_PHONE = "13800138000"


async def _start_deposit(deps, user: str, ent: str) -> cert.AttemptView:
    return await cert.start_deposit(deps, user, ent, account_name="测试科技有限公司",
                                    account_number="6222020200001234", bank_name="工商银行",
                                    meta=META)


async def _actions(deps, enterprise_id: str) -> list[str]:
    async with deps.db.sessions() as s:
        return list((await s.execute(
            select(AuditEntry.action).where(AuditEntry.tenant_id == enterprise_id)
            .order_by(AuditEntry.seq))).scalars())


async def test_deposit_brute_force_is_stopped_long_before_it_could_succeed(deps, clock) -> None:
    # Before these limits an attacker restarted and guessed until an amount matched
    # (27-43 restarts). This one restarts at once, waits whenever told to, and guesses
    # every amount but the right one, so luck cannot end the loop: what is measured is
    # how far the limits let it go.
    user = await make_user(deps)
    ent = await submit(deps, user)
    restarts = guesses = 0
    refusals: list[RateLimited] = []
    stopped: Locked | None = None
    for _ in range(100):
        try:
            attempt = await _start_deposit(deps, user, ent.id)
        except RateLimited as err:
            refusals.append(err)
            clock.advance(seconds=err.retry_after or 60)
            continue
        except Locked as err:
            stopped = err
            break
        restarts += 1
        right = await deposit_amount(deps, attempt.id)
        for amount in (a for a in AMOUNTS if a != right):
            with pytest.raises(InvalidInput) as wrong:
                await cert.confirm_deposit(deps, user, attempt.id, amount, META)
            guesses += 1
            if wrong.value.code == "deposit_exhausted":
                break
    assert stopped is not None and stopped.code == "proof_locked"
    assert "对公打款验证多次失败，该认证方式已暂停" in stopped.message
    # 3 deposits of 3 tries: 9 of the 99 amounts, instead of as many as it takes.
    assert (restarts, guesses) == (3, 9)
    assert refusals and refusals[0].code == "proof_cooldown"
    assert refusals[0].message == "对公打款验证错误次数过多，请 60 分钟后再试"
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certifying"
    actions = await _actions(deps, ent.id)
    assert actions.count(proofs.EXHAUSTED_ACTION) == 3
    assert proofs.REFUSED_ACTION in actions and proofs.ALERT_ACTION in actions
    operator = await create_operator(deps, await user_phone(deps, await make_user(deps)))
    alerts = await proofs.recent_alerts(deps, operator)
    assert {(a.enterprise_name, a.kind_label) for a in alerts} == {("测试科技有限公司",
                                                                     "对公打款验证")}
    assert "对公打款验证已锁定" in {a.reason_label for a in alerts}


async def test_deposit_restarts_are_limited_per_day_without_answering(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    for _ in range(proofs.DEPOSIT.starts_per_day):
        await _start_deposit(deps, user, ent.id)
    with pytest.raises(RateLimited) as err:
        await _start_deposit(deps, user, ent.id)
    assert err.value.code == "proof_limit"
    assert err.value.message == "今日对公打款验证次数已达上限，请明天再试或改用其他认证方式"
    assert err.value.retry_after and err.value.retry_after > 3600


async def test_deposit_starts_count_per_user_across_enterprises(deps) -> None:
    user = await make_user(deps)
    first = await submit(deps, user)
    for _ in range(proofs.DEPOSIT.starts_per_day):
        await _start_deposit(deps, user, first.id)
    second = await submit(deps, user)
    with pytest.raises(RateLimited) as err:
        await _start_deposit(deps, user, second.id)
    assert err.value.code == "proof_limit"


async def test_legal_rep_code_guesses_are_limited_per_day(deps, clock, outbox) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    rule = proofs.LEGAL_REP_CODE
    guesses = 0
    stopped: RateLimited | None = None
    for _ in range(20):
        try:
            attempt = await cert.start_phone(deps, user, ent.id, REP_PHONE, META)
        except RateLimited as err:
            assert err.code == "proof_cooldown"
            clock.advance(seconds=err.retry_after or 60)
            continue
        code = await last_code(deps, outbox, REP_PHONE)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        try:
            while True:
                with pytest.raises(InvalidInput) as err:
                    await cert.confirm_phone(deps, user, attempt.id, wrong, META)
                guesses += 1
                if err.value.code == "code_exhausted":
                    break
        except RateLimited as err:
            stopped = err
            break
    assert stopped is not None and stopped.code == "proof_limit"
    assert stopped.message == "今日法定代表人授权码验证错误次数过多，已暂停验证，请明天再试"
    assert guesses == rule.wrong_per_day
    assert proofs.REFUSED_ACTION in await _actions(deps, ent.id)
    # The right code of a new attempt is refused too until the window has passed.
    clock.advance(seconds=proofs.DAY + 1)
    attempt = await cert.start_phone(deps, user, ent.id, REP_PHONE, META)
    done = await cert.confirm_phone(deps, user, attempt.id,
                                    await last_code(deps, outbox, REP_PHONE), META)
    assert done.state == "passed"


async def test_admin_transfer_code_guesses_are_limited(deps, clock, outbox) -> None:
    ent, admin = await certified_enterprise(deps)
    new_admin = await joined_member(deps, ent, admin, "hr")
    target = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == new_admin)
    phone = await user_phone(deps, admin)
    rule = proofs.ADMIN_TRANSFER_CODE
    guesses = 0
    refusals: list[str] = []
    stopped: RateLimited | None = None
    for _ in range(20):
        try:
            await A.send_transfer_code(deps, admin, ent, META)
        except RateLimited as err:
            refusals.append(err.code)
            clock.advance(seconds=err.retry_after or 60)
            continue
        wrong = f"{(int(await last_code(deps, outbox, phone)) + 1) % 1_000_000:06d}"
        try:
            while True:
                with pytest.raises(InvalidInput) as err:
                    await A.transfer_admin(deps, admin, ent, code=wrong,
                                           new_member_id=target.id, handover_keys=[],
                                           meta=META)
                guesses += 1
                if err.value.code == "code_exhausted":
                    break
        except RateLimited as err:
            stopped = err
            break
    assert stopped is not None and stopped.code == "proof_limit"
    assert "管理员变更验证码验证错误次数过多" in stopped.message
    assert guesses == rule.wrong_per_day and "proof_cooldown" in refusals
    actions = await _actions(deps, ent)
    assert proofs.EXHAUSTED_ACTION in actions and proofs.ALERT_ACTION in actions
    assert "admin.changed" not in actions
