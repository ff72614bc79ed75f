"""Account services: register, log in both ways, lockout, reset/change password, change phone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import accounts
from core.accounts import send_code
from core.audit import verify_chain
from core.context import RequestMeta
from core.errors import Conflict, InvalidInput, Locked, PermissionDenied, RateLimited
from core.sessions import CurrentSession, load_session
from storage.models import AgreementAcceptance, AuditEntry, User, UserSession
from tests.factories import (
    DEFAULT_PASSWORD,
    get_user,
    last_code,
    login_as,
    make_user,
    next_phone,
    solved_captcha,
    user_by_phone,
)

META = RequestMeta(ip="10.1.0.1", user_agent="pytest")
ALL = accounts.REQUIRED_AGREEMENTS
NEW_PASSWORD = "N3w-Passw0rd"


async def _count(deps, model, *where) -> int:
    async with deps.db.sessions() as s:
        query = select(func.count()).select_from(model)
        for cond in where:
            query = query.where(cond)
        return (await s.execute(query)).scalar_one()


async def _actions(deps) -> list[str]:
    async with deps.db.sessions() as s:
        return list((await s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)))
                    .scalars())


async def _register(deps, outbox, phone: str, **overrides):
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    args = {"phone": phone, "code": code, "password": DEFAULT_PASSWORD,
            "password_confirm": DEFAULT_PASSWORD, "agreements": ALL, "meta": META}
    args.update(overrides)
    return await accounts.register(deps, **args)


async def _current(deps, logged) -> CurrentSession:
    session = await load_session(deps, logged.session.token)
    assert session is not None
    return session


async def _login_pw(deps, phone: str, password: str, meta: RequestMeta = META):
    captcha_id, answer = await solved_captcha(deps)
    return await accounts.login_by_password(deps, phone=phone, password=password,
                                            captcha_id=captcha_id, captcha_answer=answer,
                                            meta=meta)


# ------------------------------------------------------------------ register


async def test_register_creates_user_agreements_audit_and_session(deps, outbox) -> None:
    phone = next_phone()
    result = await _register(deps, outbox, phone)
    user = await user_by_phone(deps, phone)
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    async with deps.db.sessions() as s:
        rows = (await s.execute(select(AgreementAcceptance))).scalars().all()
    assert {(r.agreement, r.version, r.ip) for r in rows} == {
        ("service", "2026-11", "10.1.0.1"), ("privacy", "2026-11", "10.1.0.1"),
        ("certificate", "2026-11", "10.1.0.1"),
    }
    assert all(r.accepted_at == deps.clock.now() for r in rows)
    assert await load_session(deps, result.session.token) is not None
    assert await _actions(deps) == ["user.registered", "user.login"]
    assert (await verify_chain(deps.db)).ok


async def test_register_with_wrong_code_writes_no_user(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidInput) as exc:
        await accounts.register(deps, phone=phone, code=wrong, password=DEFAULT_PASSWORD,
                                password_confirm=DEFAULT_PASSWORD, agreements=ALL, meta=META)
    assert exc.value.code == "invalid_code"
    assert await _count(deps, User) == 0 and await _count(deps, AgreementAcceptance) == 0
    assert await _count(deps, AuditEntry) == 0


async def test_register_code_cannot_be_reused(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    await accounts.register(deps, phone=phone, code=code, password=DEFAULT_PASSWORD,
                            password_confirm=DEFAULT_PASSWORD, agreements=ALL, meta=META)
    async with deps.db.transaction() as tx:
        await tx.session.execute(User.__table__.delete())
    with pytest.raises(InvalidInput) as exc:
        await accounts.register(deps, phone=phone, code=code, password=DEFAULT_PASSWORD,
                                password_confirm=DEFAULT_PASSWORD, agreements=ALL, meta=META)
    assert exc.value.code == "code_expired"


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Aa1!", "8–16"),
        ("Aa1!Aa1!Aa1!Aa1!x", "8–16"),
        ("abcdefgh1", "至少三种"),
        ("ABCDEFGH!", "至少三种"),
        ("Abc 1234!", "空格"),
        ("密码Abc123!", "字母、数字"),
    ],
)
async def test_register_refuses_weak_passwords(deps, outbox, password, fragment) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        await _register(deps, outbox, next_phone(), password=password, password_confirm=password)
    assert await _count(deps, User) == 0


async def test_register_refuses_mismatched_confirmation(deps, outbox) -> None:
    with pytest.raises(InvalidInput, match="不一致"):
        await _register(deps, outbox, next_phone(), password_confirm="Other-Passw0rd")
    assert await _count(deps, User) == 0


async def test_register_requires_all_three_agreements(deps, outbox) -> None:
    with pytest.raises(InvalidInput) as exc:
        await _register(deps, outbox, next_phone(), agreements=("service", "privacy"))
    assert exc.value.code == "agreements_required"
    assert await _count(deps, User) == 0


async def test_register_an_existing_phone_is_a_conflict(deps, outbox) -> None:
    phone = next_phone()
    await _register(deps, outbox, phone)
    with pytest.raises(Conflict, match="已注册"):
        await accounts.register(deps, phone=phone, code="123456", password=DEFAULT_PASSWORD,
                                password_confirm=DEFAULT_PASSWORD, agreements=ALL, meta=META)
    assert await _count(deps, User) == 1


async def test_invited_person_claims_the_prepared_account(deps, outbox) -> None:
    invited = await make_user(deps, password=None, status="invited")
    await _register(deps, outbox, invited.phone)
    user = await get_user(deps, invited.id)
    assert user.status == "active" and user.password_hash
    assert await _count(deps, User) == 1


# ------------------------------------------------------------------ password login


async def test_password_login_starts_a_session_and_audits(deps) -> None:
    user = await make_user(deps)
    result = await _login_pw(deps, user.phone, DEFAULT_PASSWORD)
    assert result.profile.id == user.id
    current = await load_session(deps, result.session.token)
    assert current is not None and current.method == "password"
    assert await _actions(deps) == ["user.login"]


async def test_password_login_with_wrong_captcha_is_refused_before_the_password(deps) -> None:
    user = await make_user(deps)
    captcha_id, _ = await solved_captcha(deps)
    with pytest.raises(InvalidInput) as exc:
        await accounts.login_by_password(deps, phone=user.phone, password=DEFAULT_PASSWORD,
                                         captcha_id=captcha_id, captcha_answer="XXXX", meta=META)
    assert exc.value.code == "invalid_captcha"
    assert await _count(deps, UserSession) == 0


async def test_password_login_captcha_cannot_be_reused(deps) -> None:
    user = await make_user(deps)
    captcha_id, answer = await solved_captcha(deps)
    await accounts.login_by_password(deps, phone=user.phone, password=DEFAULT_PASSWORD,
                                     captcha_id=captcha_id, captcha_answer=answer, meta=META)
    with pytest.raises(InvalidInput) as exc:
        await accounts.login_by_password(deps, phone=user.phone, password=DEFAULT_PASSWORD,
                                         captcha_id=captcha_id, captcha_answer=answer, meta=META)
    assert exc.value.code == "captcha_expired"


async def test_wrong_password_and_unknown_phone_get_the_same_answer(deps) -> None:
    user = await make_user(deps)
    with pytest.raises(InvalidInput) as known:
        await _login_pw(deps, user.phone, "Wrong-Passw0rd")
    with pytest.raises(InvalidInput) as unknown:
        await _login_pw(deps, next_phone(), "Wrong-Passw0rd")
    assert known.value.message == unknown.value.message == "手机号或密码错误，还可尝试 4 次"


async def test_fifth_wrong_password_locks_the_phone(deps, clock) -> None:
    user = await make_user(deps)
    for _ in range(4):
        with pytest.raises(InvalidInput):
            await _login_pw(deps, user.phone, "Wrong-Passw0rd")
    with pytest.raises(Locked) as exc:
        await _login_pw(deps, user.phone, "Wrong-Passw0rd")
    assert exc.value.retry_after == 15 * 60
    # Even the right password is refused while locked.
    clock.advance(minutes=5)
    with pytest.raises(Locked) as exc:
        await _login_pw(deps, user.phone, DEFAULT_PASSWORD)
    assert exc.value.retry_after == 10 * 60
    assert "user.locked" in await _actions(deps)
    assert await _count(deps, UserSession) == 0


async def test_lock_ends_after_the_lockout(deps, clock) -> None:
    user = await make_user(deps)
    for _ in range(5):
        with pytest.raises((InvalidInput, Locked)):
            await _login_pw(deps, user.phone, "Wrong-Passw0rd")
    clock.advance(minutes=15, seconds=1)
    assert (await _login_pw(deps, user.phone, DEFAULT_PASSWORD)).profile.id == user.id


async def test_sms_login_lifts_the_password_lock(deps, outbox) -> None:
    user = await make_user(deps)
    for _ in range(5):
        with pytest.raises((InvalidInput, Locked)):
            await _login_pw(deps, user.phone, "Wrong-Passw0rd")
    await send_code(deps, purpose="login", phone=user.phone, meta=META)
    code = await last_code(deps, outbox, user.phone)
    await accounts.login_by_sms(deps, phone=user.phone, code=code, meta=META)
    assert (await _login_pw(deps, user.phone, DEFAULT_PASSWORD)).profile.id == user.id


async def test_failures_per_ip_are_limited(deps, config) -> None:
    deps.config = config.replace(security={"login_max_failures_per_ip": 3})
    for _ in range(3):
        with pytest.raises(InvalidInput):
            await _login_pw(deps, next_phone(), "Wrong-Passw0rd")
    with pytest.raises(RateLimited):
        await _login_pw(deps, next_phone(), "Wrong-Passw0rd")
    other_ip = RequestMeta(ip="10.9.9.9")
    with pytest.raises(InvalidInput):
        await _login_pw(deps, next_phone(), "Wrong-Passw0rd", meta=other_ip)


async def test_disabled_account_cannot_log_in(deps) -> None:
    user = await make_user(deps, status="disabled")
    with pytest.raises(PermissionDenied):
        await _login_pw(deps, user.phone, DEFAULT_PASSWORD)


# ------------------------------------------------------------------ SMS login


async def test_sms_login_starts_a_session(deps, outbox) -> None:
    user = await make_user(deps)
    await send_code(deps, purpose="login", phone=user.phone, meta=META)
    code = await last_code(deps, outbox, user.phone)
    result = await accounts.login_by_sms(deps, phone=user.phone, code=code, meta=META)
    assert (await load_session(deps, result.session.token)).method == "sms"


async def test_sms_login_for_unknown_phone_fails_like_a_wrong_code(deps) -> None:
    phone = next_phone()
    await send_code(deps, purpose="login", phone=phone, meta=META)
    with pytest.raises(InvalidInput) as exc:
        await accounts.login_by_sms(deps, phone=phone, code="123456", meta=META)
    assert exc.value.code == "code_expired"
    assert await _count(deps, User) == 0


# ------------------------------------------------------------------ reset password


async def test_reset_password_sets_the_password_and_ends_all_sessions(deps, outbox) -> None:
    user = await make_user(deps)
    logged = await login_as(deps, user)
    await send_code(deps, purpose="reset_password", phone=user.phone, meta=META)
    code = await last_code(deps, outbox, user.phone)
    await accounts.reset_password(deps, phone=user.phone, code=code, password=NEW_PASSWORD,
                                  password_confirm=NEW_PASSWORD, meta=META)
    assert await load_session(deps, logged.session.token) is None
    assert (await _login_pw(deps, user.phone, NEW_PASSWORD)).profile.id == user.id
    assert "user.password_reset" in await _actions(deps)


async def test_reset_password_with_wrong_code_changes_nothing(deps, outbox) -> None:
    user = await make_user(deps)
    await send_code(deps, purpose="reset_password", phone=user.phone, meta=META)
    code = await last_code(deps, outbox, user.phone)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidInput):
        await accounts.reset_password(deps, phone=user.phone, code=wrong, password=NEW_PASSWORD,
                                      password_confirm=NEW_PASSWORD, meta=META)
    assert (await get_user(deps, user.id)).password_hash == user.password_hash
    assert await _count(deps, AuditEntry) == 0


# ------------------------------------------------------------------ change password


async def test_change_password_keeps_this_session_and_ends_the_others(deps) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    other = await login_as(deps, user)
    await accounts.change_password(deps, await _current(deps, this),
                                   old_password=DEFAULT_PASSWORD, password=NEW_PASSWORD,
                                   password_confirm=NEW_PASSWORD, meta=META)
    assert await load_session(deps, this.session.token) is not None
    assert await load_session(deps, other.session.token) is None
    assert (await _login_pw(deps, user.phone, NEW_PASSWORD)).profile.id == user.id


async def test_change_password_with_wrong_old_password_changes_nothing(deps) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    with pytest.raises(InvalidInput, match="原密码错误"):
        await accounts.change_password(deps, await _current(deps, this),
                                       old_password="Wrong-Passw0rd", password=NEW_PASSWORD,
                                       password_confirm=NEW_PASSWORD, meta=META)
    assert (await get_user(deps, user.id)).password_hash == user.password_hash


async def test_change_password_refuses_a_weak_new_password(deps) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    with pytest.raises(InvalidInput, match="至少三种"):
        await accounts.change_password(deps, await _current(deps, this),
                                       old_password=DEFAULT_PASSWORD, password="abcdefgh",
                                       password_confirm="abcdefgh", meta=META)


# ------------------------------------------------------------------ change phone


async def _phone_codes(deps, outbox, user, new_phone: str) -> tuple[str, str]:
    await send_code(deps, purpose="change_phone_old", user_id=user.id, meta=META)
    old_code = await last_code(deps, outbox, user.phone)
    await send_code(deps, purpose="change_phone_new", phone=new_phone, meta=META)
    new_code = await last_code(deps, outbox, new_phone)
    return old_code, new_code


async def test_change_phone_needs_both_codes_and_ends_other_sessions(deps, outbox) -> None:
    user = await make_user(deps)
    this, other = await login_as(deps, user), await login_as(deps, user)
    new_phone = next_phone()
    old_code, new_code = await _phone_codes(deps, outbox, user, new_phone)
    profile = await accounts.change_phone(deps, await _current(deps, this), old_code=old_code,
                                          new_phone=new_phone, new_code=new_code, meta=META)
    assert profile.phone == new_phone
    assert await load_session(deps, other.session.token) is None
    assert await load_session(deps, this.session.token) is not None
    assert "user.phone_changed" in await _actions(deps)


async def test_change_phone_with_wrong_new_code_keeps_the_old_code_usable(deps, outbox) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    new_phone = next_phone()
    old_code, new_code = await _phone_codes(deps, outbox, user, new_phone)
    wrong = "000000" if new_code != "000000" else "111111"
    current = await _current(deps, this)
    with pytest.raises(InvalidInput) as exc:
        await accounts.change_phone(deps, current, old_code=old_code, new_phone=new_phone,
                                    new_code=wrong, meta=META)
    assert exc.value.field == "new_code"
    assert (await get_user(deps, user.id)).phone == user.phone
    await accounts.change_phone(deps, current, old_code=old_code, new_phone=new_phone,
                                new_code=new_code, meta=META)
    assert (await get_user(deps, user.id)).phone == new_phone


async def test_change_phone_to_a_taken_number_is_a_conflict(deps, outbox) -> None:
    user, other = await make_user(deps), await make_user(deps)
    this = await login_as(deps, user)
    with pytest.raises(Conflict):
        await send_code(deps, purpose="change_phone_new", phone=other.phone, meta=META)
    with pytest.raises(Conflict):
        await accounts.change_phone(deps, await _current(deps, this), old_code="123456",
                                    new_phone=other.phone, new_code="123456", meta=META)
    assert (await get_user(deps, user.id)).phone == user.phone


# ------------------------------------------------------------------ email, logout, demo


async def test_update_email_normalises_and_audits(deps) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    profile = await accounts.update_email(deps, await _current(deps, this),
                                          email=" Zhang@Example.COM ", meta=META)
    assert profile.email == "zhang@example.com"
    assert await _actions(deps) == ["user.email_changed"]
    with pytest.raises(InvalidInput):
        await accounts.update_email(deps, await _current(deps, this), email="nope", meta=META)


async def test_logout_ends_the_session(deps) -> None:
    user = await make_user(deps)
    this = await login_as(deps, user)
    await accounts.logout(deps, await _current(deps, this), META)
    assert await load_session(deps, this.session.token) is None


async def test_profile_masks_phone_name_and_id(deps) -> None:
    user = await make_user(deps, verified=True, real_name="张三丰")
    profile = await accounts.get_profile(deps, user.id)
    assert profile.phone_masked == user.phone[:3] + "****" + user.phone[-4:]
    assert profile.real_name_masked == "张**"
    assert profile.id_number_masked == "110101********123X"


async def test_ensure_demo_user_is_idempotent(deps) -> None:
    first = await accounts.ensure_demo_user(deps, phone="13800000001", password="Demo@2026")
    second = await accounts.ensure_demo_user(deps, phone="13800000001", password="Demo@2026")
    assert first == second and await _count(deps, User) == 1
    assert (await _login_pw(deps, "13800000001", "Demo@2026")).profile.id == first
