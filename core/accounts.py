"""Employee accounts: register, log in (password + captcha, SMS code), reset and change
password, change phone, email, log out.

Every service is one transaction that writes its audit row with the change. Where a
refusal must still leave a trace (a wrong SMS code costs a try, a used captcha stays
used, a wrong password counts towards the lockout) the transaction commits that trace
and the error is raised after it. Password hashing (argon2, ~50 ms) runs in a thread
outside the transaction so the database is never held while the CPU works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import audit, captcha, ratelimit, sms_codes
from core.context import Deps, RequestMeta
from core.crypto import mask_name, mask_phone
from core.enterprise.members import activate_invitations_for
from core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    Locked,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from core.ratelimit import Limit
from core.sessions import CurrentSession, IssuedSession, end_all_sessions, start_session
from core.sms import queue_sms
from core.validators import (
    check_password_strength,
    check_sms_code_format,
    normalize_email,
    normalize_phone,
)
from storage.models import AgreementAcceptance, User, UserSession
from storage.uow import Tx

REQUIRED_AGREEMENTS = ("service", "privacy", "certificate")
AGREEMENT_TITLES = {
    "service": "用户服务协议",
    "privacy": "隐私政策",
    "certificate": "数字证书使用协议",
}
MAX_PASSWORD_INPUT = 64  # longer input is refused before hashing (no hashing DoS)


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class Profile:
    id: str
    phone: str
    phone_masked: str
    email: str | None
    status: str
    identity_state: str
    # The full name is for the person's own pages; anything shown to others is masked.
    real_name: str | None
    real_name_masked: str | None
    id_number_masked: str | None
    verified_at: datetime | None
    created_at: datetime

    @property
    def verified(self) -> bool:
        return self.identity_state == "verified"


@dataclass(frozen=True)
class LoginResult:
    profile: Profile
    session: IssuedSession


@dataclass(frozen=True)
class CodeSent:
    phone_masked: str
    resend_after: int
    ttl_seconds: int


def _profile(user: User) -> Profile:
    return Profile(
        id=user.id,
        phone=user.phone,
        phone_masked=mask_phone(user.phone),
        email=user.email,
        status=user.status,
        identity_state=user.identity_state,
        real_name=user.real_name,
        real_name_masked=mask_name(user.real_name) if user.real_name else None,
        id_number_masked=user.id_number_masked,
        verified_at=user.verified_at,
        created_at=user.created_at,
    )


# ---------------------------------------------------------------- passwords


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the phone is unknown, so both cases cost the same time.
    return _hasher().hash("not-a-real-password-Aa1!")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


def _verify_sync(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash)."""
    hasher = _hasher()
    try:
        hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, hasher.check_needs_rehash(stored)


async def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    return await asyncio.to_thread(_verify_sync, stored, password)


def _new_password(password: str, confirm: str, field: str = "password") -> str:
    if len(password or "") > MAX_PASSWORD_INPUT:
        raise InvalidInput("密码长度须为 8–16 位", code="weak_password", field=field)
    check_password_strength(password or "", field)
    if password != confirm:
        raise InvalidInput("两次输入的密码不一致", code="password_mismatch",
                           field="password_confirm")
    return password


# ---------------------------------------------------------------- lookups


async def _user_by_phone(tx: Tx, phone: str) -> User | None:
    return (
        await tx.session.execute(select(User).where(User.phone == phone))
    ).scalar_one_or_none()


async def _user(tx: Tx, user_id: str) -> User:
    user = await tx.session.get(User, user_id, with_for_update=True)
    if user is None or user.status != "active":
        raise Unauthenticated()
    return user


async def get_profile(deps: Deps, user_id: str) -> Profile:
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise NotFound("账号不存在")
    return _profile(user)


# ---------------------------------------------------------------- SMS codes


async def send_code(
    deps: Deps,
    *,
    purpose: str,
    meta: RequestMeta,
    phone: str | None = None,
    user_id: str | None = None,
) -> CodeSent:
    """Send an SMS code for `purpose`. For "own_phone" purposes the number is the user's."""
    kind = sms_codes.PURPOSES.get(sms_codes.check_purpose(purpose))
    if kind == "own_phone":
        if user_id is None:
            raise Unauthenticated()
    else:
        phone = normalize_phone(phone or "")
    async with deps.db.transaction() as tx:
        if kind == "own_phone":
            user = await _user(tx, user_id or "")
            phone = user.phone
        assert phone is not None
        existing = await _user_by_phone(tx, phone)
        registered = existing is not None and existing.status != "invited"
        if kind == "new_phone" and registered:
            if purpose == "register":
                raise Conflict("该手机号已注册，请直接登录", code="phone_taken", field="phone")
            raise Conflict("该手机号已被其他账号使用", code="phone_taken", field="phone")
        await sms_codes.check_send_limits(tx, deps, phone, meta)
        if kind == "existing" and (existing is None or existing.status != "active"):
            # Tell only the phone's owner; the caller sees the same answer as for a member.
            await queue_sms(tx, deps, phone, "notice",
                            {"text": "该手机号尚未注册 LaborSign，如需使用请先注册。"})
        else:
            await sms_codes.issue_code(tx, deps, phone, purpose, meta)
    return CodeSent(
        mask_phone(phone), deps.config.sms.per_phone_interval_seconds,
        deps.config.sms.code_ttl_seconds,
    )


# ---------------------------------------------------------------- register


async def _accept_agreements(
    tx: Tx, deps: Deps, user_id: str, now: datetime, meta: RequestMeta
) -> dict[str, str]:
    versions = {
        "service": deps.config.agreements.service_version,
        "privacy": deps.config.agreements.privacy_version,
        "certificate": deps.config.agreements.certificate_version,
    }
    for name, version in versions.items():
        tx.session.add(AgreementAcceptance(user_id=user_id, agreement=name, version=version,
                                           accepted_at=now, ip=meta.ip))
    return versions


async def register(
    deps: Deps,
    *,
    phone: str,
    code: str,
    password: str,
    password_confirm: str,
    agreements: Collection[str],
    meta: RequestMeta,
    email: str | None = None,
) -> LoginResult:
    phone = normalize_phone(phone)
    code = check_sms_code_format(code)
    _new_password(password, password_confirm)
    email = normalize_email(email)
    missing = [a for a in REQUIRED_AGREEMENTS if a not in set(agreements)]
    if missing:
        raise InvalidInput(
            "请阅读并同意《用户服务协议》《隐私政策》《数字证书使用协议》",
            code="agreements_required", field="agreements",
        )
    password_hash = await hash_password(password)
    failure: DomainError | None = None
    result: LoginResult | None = None
    try:
        async with deps.db.transaction() as tx:
            now = deps.clock.now()
            user = await _user_by_phone(tx, phone)
            if user is not None and user.status != "invited":
                raise Conflict("该手机号已注册，请直接登录", code="phone_taken", field="phone")
            check = await sms_codes.verify(tx, deps, phone, "register", code)
            if not check.ok:
                failure = check.error
            else:
                await sms_codes.consume(tx, deps, check)
                if user is None:
                    user = User(phone=phone, created_at=now, status="active",
                                identity_state="unverified")
                    tx.session.add(user)
                # An invited person (added by an employer) claims the prepared account.
                user.status = "active"
                user.password_hash = password_hash
                user.password_changed_at = now
                if email:
                    user.email = email
                await tx.session.flush()
                versions = await _accept_agreements(tx, deps, user.id, now, meta)
                await audit.record(
                    tx, at=now, action="user.registered", actor_id=user.id, subject_type="user",
                    subject_id=user.id, data={"phone": mask_phone(phone), "agreements": versions},
                    meta=meta,
                )
                # Memberships an enterprise prepared for this phone (未激活) start now.
                await activate_invitations_for(tx, deps, user.id, phone)
                session = await start_session(tx, deps, user, "register", meta)
                await audit.record(
                    tx, at=now, action="user.login", actor_id=user.id, subject_type="user",
                    subject_id=user.id, data={"method": "register"}, meta=meta,
                )
                result = LoginResult(_profile(user), session)
    except IntegrityError:
        # Two registrations for one number raced; the other one won.
        raise Conflict("该手机号已注册，请直接登录", code="phone_taken", field="phone") from None
    if failure is not None:
        raise failure
    assert result is not None
    return result


# ---------------------------------------------------------------- password login


def _lock_bucket() -> str:
    return "login_lock"


async def _check_locked(tx: Tx, deps: Deps, phone: str, meta: RequestMeta) -> None:
    sec = deps.config.security
    now = deps.clock.now()
    try:
        await ratelimit.check(tx, _lock_bucket(), phone, [Limit(1, sec.lockout_minutes * 60)],
                              now)
    except RateLimited as exc:
        minutes = max(1, -(-(exc.retry_after or 60) // 60))
        raise Locked(f"密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试，或使用短信验证码登录",
                     retry_after=exc.retry_after) from None
    if meta.ip:
        await ratelimit.check(
            tx, "login_fail_ip", meta.ip,
            [Limit(sec.login_max_failures_per_ip, sec.login_failure_window_minutes * 60,
                   "登录失败次数过多，请稍后再试")],
            now,
        )


async def _record_failure(
    tx: Tx, deps: Deps, phone: str, user: User | None, meta: RequestMeta
) -> DomainError:
    """Count a wrong password for the phone and the IP; lock the phone at the limit."""
    sec = deps.config.security
    now = deps.clock.now()
    await ratelimit.record(tx, "login_fail", phone, now)
    if meta.ip:
        await ratelimit.record(tx, "login_fail_ip", meta.ip, now)
    window = now - timedelta(minutes=sec.login_failure_window_minutes)
    failures = await ratelimit.count_since(tx, "login_fail", phone, window)
    if failures >= sec.login_max_failures:
        await ratelimit.clear(tx, "login_fail", phone)
        await ratelimit.record(tx, _lock_bucket(), phone, now)
        if user is not None:
            await audit.record(tx, at=now, action="user.locked", actor_id=None,
                               subject_type="user", subject_id=user.id,
                               data={"failures": failures}, meta=meta)
        return Locked(
            f"密码错误次数过多，账号已锁定 {sec.lockout_minutes} 分钟，可使用短信验证码登录",
            retry_after=sec.lockout_minutes * 60,
        )
    left = sec.login_max_failures - failures
    return InvalidInput(f"手机号或密码错误，还可尝试 {left} 次", code="bad_credentials",
                        field="password")


async def login_by_password(
    deps: Deps,
    *,
    phone: str,
    password: str,
    captcha_id: str,
    captcha_answer: str,
    meta: RequestMeta,
) -> LoginResult:
    phone = normalize_phone(phone)
    if not password:
        raise InvalidInput("请输入密码", code="password_required", field="password")
    if len(password) > MAX_PASSWORD_INPUT:
        password = password[:MAX_PASSWORD_INPUT]  # cannot match; still costs a failure
    failure: DomainError | None = None
    stored: str | None = None
    async with deps.db.transaction() as tx:
        # The captcha is used up whatever happens next, so it is checked (and committed)
        # even when the phone is locked.
        captcha_error = await captcha.check_captcha(tx, deps, captcha_id, captcha_answer)
        try:
            await _check_locked(tx, deps, phone, meta)
        except (Locked, RateLimited) as exc:
            failure = exc
        failure = failure or captcha_error
        if failure is None:
            user = await _user_by_phone(tx, phone)
            stored = user.password_hash if user is not None else None
    if failure is not None:
        raise failure
    matches, needs_rehash = await verify_password(stored, password)
    new_hash = await hash_password(password) if matches and needs_rehash else None
    result: LoginResult | None = None
    async with deps.db.transaction() as tx:
        user = await _user_by_phone(tx, phone)
        if not matches or user is None or user.password_hash != stored:
            failure = await _record_failure(tx, deps, phone, user, meta)
        elif user.status != "active":
            failure = PermissionDenied("该账号已停用，请联系客服", code="account_disabled")
        else:
            result = await _finish_login(tx, deps, user, "password", meta)
            await ratelimit.clear(tx, "login_fail", phone)
            if new_hash:
                user.password_hash = new_hash
    if failure is not None:
        raise failure
    assert result is not None
    return result


async def _finish_login(
    tx: Tx, deps: Deps, user: User, method: str, meta: RequestMeta
) -> LoginResult:
    session = await start_session(tx, deps, user, method, meta)
    await audit.record(tx, at=deps.clock.now(), action="user.login", actor_id=user.id,
                       subject_type="user", subject_id=user.id, data={"method": method},
                       meta=meta)
    return LoginResult(_profile(user), session)


# ---------------------------------------------------------------- SMS login


async def login_by_sms(deps: Deps, *, phone: str, code: str, meta: RequestMeta) -> LoginResult:
    phone = normalize_phone(phone)
    code = check_sms_code_format(code)
    failure: DomainError | None = None
    result: LoginResult | None = None
    async with deps.db.transaction() as tx:
        check = await sms_codes.verify(tx, deps, phone, "login", code)
        user = await _user_by_phone(tx, phone)
        if not check.ok:
            failure = check.error
        elif user is None or user.status != "active":
            # A code exists only for members; this is a disabled account.
            failure = PermissionDenied("该账号已停用，请联系客服", code="account_disabled")
        else:
            await sms_codes.consume(tx, deps, check)
            # A verified phone proves the owner: the password lockout no longer applies.
            await ratelimit.clear(tx, "login_fail", phone)
            await ratelimit.clear(tx, _lock_bucket(), phone)
            result = await _finish_login(tx, deps, user, "sms", meta)
    if failure is not None:
        raise failure
    assert result is not None
    return result


# ---------------------------------------------------------------- reset password


async def reset_password(
    deps: Deps,
    *,
    phone: str,
    code: str,
    password: str,
    password_confirm: str,
    meta: RequestMeta,
) -> None:
    phone = normalize_phone(phone)
    code = check_sms_code_format(code)
    _new_password(password, password_confirm)
    password_hash = await hash_password(password)
    failure: DomainError | None = None
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        check = await sms_codes.verify(tx, deps, phone, "reset_password", code)
        user = await _user_by_phone(tx, phone)
        if not check.ok:
            failure = check.error
        elif user is None or user.status != "active":
            failure = PermissionDenied("该账号已停用，请联系客服", code="account_disabled")
        else:
            await sms_codes.consume(tx, deps, check)
            user.password_hash = password_hash
            user.password_changed_at = now
            await end_all_sessions(tx, user.id, now)
            await ratelimit.clear(tx, "login_fail", phone)
            await ratelimit.clear(tx, _lock_bucket(), phone)
            await audit.record(tx, at=now, action="user.password_reset", actor_id=user.id,
                               subject_type="user", subject_id=user.id, data={}, meta=meta)
    if failure is not None:
        raise failure


# ---------------------------------------------------------------- change password


async def change_password(
    deps: Deps,
    current: CurrentSession,
    *,
    old_password: str,
    password: str,
    password_confirm: str,
    meta: RequestMeta,
) -> None:
    if not old_password:
        raise InvalidInput("请输入原密码", code="password_required", field="old_password")
    _new_password(password, password_confirm)
    if password == old_password:
        raise InvalidInput("新密码不能与原密码相同", code="password_unchanged", field="password")
    async with deps.db.transaction() as tx:
        user = await _user(tx, current.user_id)
        phone, stored = user.phone, user.password_hash
        await _check_locked(tx, deps, phone, meta)
    matches, _ = await verify_password(stored, old_password[:MAX_PASSWORD_INPUT])
    new_hash = await hash_password(password) if matches else None
    failure: DomainError | None = None
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        user = await _user(tx, current.user_id)
        if not matches or user.password_hash != stored or new_hash is None:
            failure = await _record_failure(tx, deps, phone, user, meta)
            if isinstance(failure, InvalidInput):
                failure = InvalidInput("原密码错误", code="bad_credentials", field="old_password")
        else:
            user.password_hash = new_hash
            user.password_changed_at = now
            await end_all_sessions(tx, user.id, now, except_id=current.session_id)
            await audit.record(tx, at=now, action="user.password_changed", actor_id=user.id,
                               subject_type="user", subject_id=user.id, data={}, meta=meta)
    if failure is not None:
        raise failure


# ---------------------------------------------------------------- change phone


async def change_phone(
    deps: Deps,
    current: CurrentSession,
    *,
    old_code: str,
    new_phone: str,
    new_code: str,
    meta: RequestMeta,
) -> Profile:
    new_phone = normalize_phone(new_phone)
    if not (old_code or "").strip():
        raise InvalidInput("请输入原手机号收到的验证码", code="invalid_code", field="old_code")
    old_code = check_sms_code_format(old_code)
    new_code = check_sms_code_format(new_code)
    failure: DomainError | None = None
    profile: Profile | None = None
    try:
        async with deps.db.transaction() as tx:
            now = deps.clock.now()
            user = await _user(tx, current.user_id)
            old_phone = user.phone
            if new_phone == old_phone:
                raise InvalidInput("新手机号不能与原手机号相同", code="phone_unchanged",
                                   field="new_phone")
            other = await _user_by_phone(tx, new_phone)
            if other is not None:
                raise Conflict("该手机号已被其他账号使用", code="phone_taken", field="new_phone")
            old_check = await sms_codes.verify(tx, deps, old_phone, "change_phone_old", old_code,
                                               field="old_code")
            new_check = await sms_codes.verify(tx, deps, new_phone, "change_phone_new", new_code,
                                               field="new_code")
            failure = old_check.error or new_check.error
            if failure is None:
                await sms_codes.consume(tx, deps, old_check, new_check)
                user.phone = new_phone
                await tx.session.flush()
                await end_all_sessions(tx, user.id, now, except_id=current.session_id)
                await audit.record(
                    tx, at=now, action="user.phone_changed", actor_id=user.id,
                    subject_type="user", subject_id=user.id,
                    data={"old": mask_phone(old_phone), "new": mask_phone(new_phone)}, meta=meta,
                )
                await queue_sms(tx, deps, old_phone, "notice", {
                    "text": f"您的 LaborSign 账号已换绑到手机号 {mask_phone(new_phone)}，"
                            "如非本人操作请立即联系客服。"
                })
                profile = _profile(user)
    except IntegrityError:
        raise Conflict("该手机号已被其他账号使用", code="phone_taken",
                       field="new_phone") from None
    if failure is not None:
        raise failure
    assert profile is not None
    return profile


# ---------------------------------------------------------------- email, logout


async def update_email(
    deps: Deps, current: CurrentSession, *, email: str | None, meta: RequestMeta
) -> Profile:
    normalized = normalize_email(email)
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        user = await _user(tx, current.user_id)
        if user.email != normalized:
            user.email = normalized
            await audit.record(tx, at=now, action="user.email_changed", actor_id=user.id,
                               subject_type="user", subject_id=user.id,
                               data={"email_set": normalized is not None}, meta=meta)
        return _profile(user)


async def logout(deps: Deps, current: CurrentSession, meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        await tx.session.execute(
            update(UserSession)
            .where(UserSession.id == current.session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await audit.record(tx, at=now, action="user.logout", actor_id=current.user_id,
                           subject_type="user", subject_id=current.user_id, data={}, meta=meta)


# ---------------------------------------------------------------- demo


async def ensure_demo_user(deps: Deps, *, phone: str, password: str) -> str:
    """Create a registered demo account once; later calls leave it as it is."""
    phone = normalize_phone(phone)
    check_password_strength(password)
    password_hash = await hash_password(password)
    async with deps.db.transaction() as tx:
        user = await _user_by_phone(tx, phone)
        if user is not None:
            return user.id
        now = deps.clock.now()
        user = User(phone=phone, password_hash=password_hash, status="active",
                    identity_state="unverified", created_at=now, password_changed_at=now)
        tx.session.add(user)
        await tx.session.flush()
        versions = await _accept_agreements(tx, deps, user.id, now, RequestMeta())
        await audit.record(tx, at=now, action="user.registered", actor_id=None,
                           subject_type="user", subject_id=user.id,
                           data={"phone": mask_phone(phone), "agreements": versions,
                                 "source": "demo"})
        return user.id
