"""One-time SMS codes: issue (rate limited) and verify (hashed, single use, limited tries).

Codes are 6 random digits, stored only as an HMAC bound to phone and purpose, so a
database dump reveals nothing usable. Verification is two-step so a service can check
several codes (change phone: old and new number) and consume them only if all pass;
wrong tries are counted even when the service then refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from core import ratelimit
from core.config import Config
from core.context import Deps, RequestMeta
from core.crypto import derive_key
from core.errors import DomainError, InvalidInput
from core.ratelimit import Limit
from core.sms import queue_sms
from storage.models import SmsCode
from storage.models.base import new_id
from storage.uow import Tx

# Every purpose a code is sent for, and how it may be used; one table, so no module has
# to be imported for its purpose to exist.
# kind: "new_phone"  the number must not belong to an account (register, change to it);
#       "existing"   the number should belong to an account (login, reset): unknown numbers
#                    get a notice instead of a code, and the caller sees no difference;
#       "own_phone"  no account rule applies: the user's own number (change_phone_old,
#                    signing), or a number checked otherwise (the legal representative's,
#                    by the carrier 3-factor check; the new main admin's).
PURPOSES: dict[str, str] = {
    "register": "new_phone",
    "login": "existing",
    "reset_password": "existing",
    "change_phone_old": "own_phone",
    "change_phone_new": "new_phone",
    "sign": "own_phone",  # core/contracts/signing.py SIGN_PURPOSE
    "enterprise_auth": "own_phone",  # core/enterprise/certification SMS_PURPOSE
    "admin_transfer": "own_phone",  # core/enterprise/admin_change.py SMS_PURPOSE
}


def check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InvalidInput("不支持的验证码用途", code="invalid_purpose", field="purpose")
    return purpose


def _key(config: Config) -> bytes:
    return derive_key(config.server.secret_key, "sms-code")


def code_hash(config: Config, phone: str, purpose: str, code: str) -> str:
    message = f"{phone}:{purpose}:{code}".encode()
    return hmac.new(_key(config), message, hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def phone_limits(config: Config) -> list[Limit]:
    sms = config.sms
    return [
        Limit(1, sms.per_phone_interval_seconds, "验证码发送过于频繁，请稍后再试"),
        Limit(sms.per_phone_hourly, 3600, "该手机号本小时获取验证码次数已达上限，请稍后再试"),
        Limit(sms.per_phone_daily, 86400, "该手机号今日获取验证码次数已达上限，请明天再试"),
    ]


def ip_limits(config: Config) -> list[Limit]:
    return [Limit(config.sms.per_ip_hourly, 3600, "当前网络获取验证码过于频繁，请稍后再试")]


async def check_send_limits(tx: Tx, deps: Deps, phone: str, meta: RequestMeta) -> None:
    """Refuse (RateLimited with retry_after) before anything is sent, then count the send."""
    now = deps.clock.now()
    await ratelimit.check(tx, "sms_phone", phone, phone_limits(deps.config), now)
    if meta.ip:
        await ratelimit.check(tx, "sms_ip", meta.ip, ip_limits(deps.config), now)
    await ratelimit.record(tx, "sms_phone", phone, now)
    if meta.ip:
        await ratelimit.record(tx, "sms_ip", meta.ip, now)


# Built once (bound parameters): every code request and every check runs them.
_RETIRE = (update(SmsCode)
           .where(SmsCode.phone == bindparam("p_phone"), SmsCode.purpose == bindparam("p_purpose"),
                  SmsCode.used_at.is_(None))
           .values(used_at=bindparam("p_now")))
_INSERT = cast(Table, SmsCode.__table__).insert()
_LIVE = (select(SmsCode)
         .where(SmsCode.phone == bindparam("phone"), SmsCode.purpose == bindparam("purpose"),
                SmsCode.used_at.is_(None))
         .order_by(SmsCode.created_at.desc()).limit(1).with_for_update())


async def issue_code(tx: Tx, deps: Deps, phone: str, purpose: str, meta: RequestMeta) -> str:
    """Store a fresh code (replacing any live one) and queue the SMS, in the caller's tx;
    the new code row's id.

    The caller has already applied `check_send_limits` and the purpose's phone rule.
    """
    now = deps.clock.now()
    await tx.session.execute(_RETIRE, {"p_phone": phone, "p_purpose": purpose, "p_now": now})
    code = new_code()
    ttl = deps.config.sms.code_ttl_seconds
    code_id = new_id()
    # One INSERT, not a unit-of-work flush: the row is read back by `verify` only.
    conn = await tx.session.connection()
    await conn.execute(_INSERT, {
        "id": code_id, "phone": phone, "purpose": purpose,
        "code_hash": code_hash(deps.config, phone, purpose, code), "created_at": now,
        "expires_at": now + timedelta(seconds=ttl), "attempts": 0, "used_at": None,
        "ip": meta.ip,
    })
    minutes = str(max(1, ttl // 60))
    await queue_sms(tx, deps, phone, "code", {"code": code, "minutes": minutes}, sensitive=True)
    return code_id


@dataclass
class CodeCheck:
    """Outcome of `verify`; `consume` it once every check of the operation passed."""

    ok: bool
    row: SmsCode | None = None
    error: DomainError | None = None

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


def _expired(field: str) -> InvalidInput:
    return InvalidInput("验证码已失效，请重新获取", code="code_expired", field=field)


async def verify(
    tx: Tx, deps: Deps, phone: str, purpose: str, code: str, field: str = "code"
) -> CodeCheck:
    """Check a code without consuming it. A wrong code costs one of its tries.

    Never raises for a wrong code: the caller must let the transaction commit (so the
    try is counted) and raise `check.error` afterwards.
    """
    now = deps.clock.now()
    row = (await tx.session.execute(_LIVE, {"phone": phone, "purpose": purpose})
           ).scalar_one_or_none()
    max_attempts = deps.config.sms.code_max_attempts
    if row is None or row.expires_at <= now or row.attempts >= max_attempts:
        return CodeCheck(False, error=_expired(field))
    if hmac.compare_digest(row.code_hash, code_hash(deps.config, phone, purpose, code)):
        return CodeCheck(True, row=row)
    row.attempts += 1
    if row.attempts >= max_attempts:
        row.used_at = now  # dead: a fresh code is needed
        error = InvalidInput("验证码错误次数过多，请重新获取", code="code_exhausted", field=field)
    else:
        left = max_attempts - row.attempts
        error = InvalidInput(f"验证码错误，还可尝试 {left} 次", code="invalid_code", field=field)
    await tx.session.flush()
    return CodeCheck(False, row=row, error=error)


async def consume(tx: Tx, deps: Deps, *checks: CodeCheck) -> None:
    now = deps.clock.now()
    for check in checks:
        if not check.ok or check.row is None:
            raise RuntimeError("consume() called with a failed code check")
        check.row.used_at = now
    await tx.session.flush()
