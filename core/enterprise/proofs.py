"""Limits on the proofs a person types back: deposit amounts and SMS codes that certify
an enterprise or hand over its admin.

A micro-deposit amount has 99 values, so tries per deposit are not enough: restarting
is limited too. Per enterprise and per user (both keys, so neither many accounts on one
enterprise nor one account on many enterprises gets further), in the shared sliding
windows of core/ratelimit.py:
- starts (deposits sent, codes sent) per day;
- wrong answers per day, counted across proofs;
- a cool-down after a proof is used up (every try wrong);
- deposits only: a lock after DEPOSIT_LOCK_AFTER used-up deposits in DEPOSIT_LOCK_WINDOW,
  counted from the attempts themselves (rate events live one day).
Refusals and used-up proofs go into the audit log; repeated failures, daily limits and
locks raise an operator alert (an audit entry the operator console lists, and a log line).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from core import ratelimit
from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import DomainError, Locked, RateLimited
from core.ratelimit import Limit
from storage.models import AuditEntry, CertificationAttempt, Enterprise
from storage.uow import Tx

_log = logging.getLogger("laborsign.security")

DAY = 86400
DEPOSIT_LOCK_AFTER = 3
DEPOSIT_LOCK_WINDOW = timedelta(days=30)
ALERT_ACTION = "security.proof_alert"
REFUSED_ACTION = "security.proof_refused"
EXHAUSTED_ACTION = "security.proof_exhausted"
ALERT_REASONS = {
    "repeated_failures": "24 小时内多次验证失败",
    "daily_limit": "达到每日验证上限",
    "locked": "对公打款验证已锁定",
}


@dataclass(frozen=True)
class ProofRule:
    kind: str
    label: str
    starts_per_day: int
    wrong_per_day: int
    cooldown_seconds: int


DEPOSIT = ProofRule("micro_deposit", "对公打款验证", 3, 9, 3600)
LEGAL_REP_CODE = ProofRule("legal_rep_code", "法定代表人授权码验证", 5, 10, 600)
ADMIN_TRANSFER_CODE = ProofRule("admin_transfer_code", "管理员变更验证码验证", 5, 10, 600)
RULES = {r.kind: r for r in (DEPOSIT, LEGAL_REP_CODE, ADMIN_TRANSFER_CODE)}


def _keys(enterprise_id: str, user_id: str) -> tuple[str, str]:
    return f"e:{enterprise_id}", f"u:{user_id}"


async def _check(tx: Tx, bucket: str, key: str, limit: Limit, now: datetime,
                 code: str) -> None:
    try:
        await ratelimit.check(tx, bucket, key, [limit], now)
    except RateLimited as err:
        raise RateLimited(err.message, code=code, retry_after=err.retry_after) from None


async def check_start(tx: Tx, deps: Deps, rule: ProofRule, enterprise_id: str,
                      user_id: str, *, record: bool = True) -> None:
    """Refuse a new proof during a cool-down or past the day's starts; count this one."""
    now = deps.clock.now()
    minutes = math.ceil(rule.cooldown_seconds / 60)
    cooldown = Limit(1, rule.cooldown_seconds,
                     f"{rule.label}错误次数过多，请 {minutes} 分钟后再试")
    daily = Limit(rule.starts_per_day, DAY,
                  f"今日{rule.label}次数已达上限，请明天再试或改用其他认证方式")
    for key in _keys(enterprise_id, user_id):
        await _check(tx, f"proof_cool:{rule.kind}", key, cooldown, now, "proof_cooldown")
        await _check(tx, f"proof_start:{rule.kind}", key, daily, now, "proof_limit")
    if record:
        for key in _keys(enterprise_id, user_id):
            await ratelimit.record(tx, f"proof_start:{rule.kind}", key, now)


async def check_answer(tx: Tx, deps: Deps, rule: ProofRule, enterprise_id: str,
                       user_id: str) -> None:
    """Refuse to look at an answer once the day's wrong answers are used up."""
    now = deps.clock.now()
    daily = Limit(rule.wrong_per_day, DAY,
                  f"今日{rule.label}错误次数过多，已暂停验证，请明天再试")
    for key in _keys(enterprise_id, user_id):
        await _check(tx, f"proof_wrong:{rule.kind}", key, daily, now, "proof_limit")


async def wrong_answer(tx: Tx, deps: Deps, rule: ProofRule, enterprise_id: str, user_id: str,
                       *, used_up: bool, subject: tuple[str, str],
                       meta: RequestMeta | None) -> None:
    """Count a wrong answer; a used-up proof starts the cool-down and is audited."""
    now = deps.clock.now()
    for key in _keys(enterprise_id, user_id):
        await ratelimit.record(tx, f"proof_wrong:{rule.kind}", key, now)
    if not used_up:
        return
    for key in _keys(enterprise_id, user_id):
        await ratelimit.record(tx, f"proof_cool:{rule.kind}", key, now)
    await log(tx, deps, EXHAUSTED_ACTION, actor_id=user_id, enterprise_id=enterprise_id,
              subject_type=subject[0], subject_id=subject[1], data={"kind": rule.kind},
              meta=meta)
    since = now - timedelta(seconds=DAY)
    used_up_today = await ratelimit.count_since(tx, f"proof_cool:{rule.kind}",
                                                f"e:{enterprise_id}", since)
    if rule is DEPOSIT and await deposit_locked(tx, enterprise_id, now):
        await alert(tx, deps, rule, enterprise_id, user_id, "locked", meta)
    elif used_up_today >= 2:
        await alert(tx, deps, rule, enterprise_id, user_id, "repeated_failures", meta)


async def deposit_locked(tx: Tx, enterprise_id: str, now: datetime) -> bool:
    """Whether enough deposits were used up lately that the method stays closed."""
    used_up = (
        await tx.session.execute(
            select(func.count()).where(
                CertificationAttempt.enterprise_id == enterprise_id,
                CertificationAttempt.method == DEPOSIT.kind,
                CertificationAttempt.state == "failed",
                CertificationAttempt.tries > 0,
                CertificationAttempt.created_at > now - DEPOSIT_LOCK_WINDOW,
            )
        )
    ).scalar_one()
    return used_up >= DEPOSIT_LOCK_AFTER


async def check_deposit_lock(tx: Tx, deps: Deps, enterprise_id: str) -> None:
    if await deposit_locked(tx, enterprise_id, deps.clock.now()):
        raise Locked("对公打款验证多次失败，该认证方式已暂停，请改用其他认证方式或联系平台客服",
                     code="proof_locked")


async def _once_per_hour(tx: Tx, bucket: str, key: str, now: datetime) -> bool:
    """True (and remembered) the first time in an hour: refusals repeat, entries need not."""
    if await ratelimit.count_since(tx, bucket, key, now - timedelta(hours=1)):
        return False
    await ratelimit.record(tx, bucket, key, now)
    return True


async def alert(tx: Tx, deps: Deps, rule: ProofRule, enterprise_id: str, user_id: str,
                reason: str, meta: RequestMeta | None) -> None:
    """An operator alert: an audit entry the operator console lists, and a log line."""
    now = deps.clock.now()
    if not await _once_per_hour(tx, "proof_alert", f"{rule.kind}:{enterprise_id}:{reason}",
                                now):
        return
    await log(tx, deps, ALERT_ACTION, actor_id=user_id, enterprise_id=enterprise_id,
              subject_type="enterprise", subject_id=enterprise_id,
              data={"kind": rule.kind, "reason": reason}, meta=meta)
    _log.warning("proof alert", extra={"kind": rule.kind, "reason": reason,
                                       "enterprise_id": enterprise_id, "user_id": user_id})


async def refused(deps: Deps, rule: ProofRule, enterprise_id: str, user_id: str,
                  err: DomainError, meta: RequestMeta | None) -> None:
    """Audit a refusal (once an hour per person and proof) in a transaction of its own:
    the refused request's transaction is rolled back."""
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        if not await _once_per_hour(tx, "proof_refused",
                                    f"{rule.kind}:{enterprise_id}:{user_id}", now):
            return
        await log(tx, deps, REFUSED_ACTION, actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="enterprise", subject_id=enterprise_id,
                  data={"kind": rule.kind, "code": err.code, "reason": err.message},
                  meta=meta)
        if err.code in ("proof_limit", "proof_locked"):
            reason = "locked" if err.code == "proof_locked" else "daily_limit"
            await alert(tx, deps, rule, enterprise_id, user_id, reason, meta)


# ---------------------------------------------------------------- operator view


@dataclass(frozen=True)
class ProofAlert:
    at: datetime
    enterprise_id: str | None
    enterprise_name: str
    user_id: str | None
    kind_label: str
    reason_label: str


async def recent_alerts(deps: Deps, operator_id: str, days: int = 7,
                        limit: int = 50) -> list[ProofAlert]:
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        since = deps.clock.now() - timedelta(days=days)
        rows = (
            await tx.session.execute(
                select(AuditEntry, Enterprise.name)
                .outerjoin(Enterprise, Enterprise.id == AuditEntry.tenant_id)
                .where(AuditEntry.action == ALERT_ACTION, AuditEntry.at >= since)
                .order_by(AuditEntry.seq.desc())
                .limit(limit)
            )
        ).all()
    alerts = []
    for entry, name in rows:
        rule = RULES.get(str(entry.data.get("kind")))
        reason = str(entry.data.get("reason"))
        alerts.append(ProofAlert(entry.at, entry.tenant_id, name or "", entry.actor_id,
                                 rule.label if rule else "验证",
                                 ALERT_REASONS.get(reason, reason)))
    return alerts
