"""Attempts, shared by every proof method: opening one for a subject (certification or
appeal), failing and passing it, and certifying the enterprise when one passes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from core.context import Deps, RequestMeta
from core.crypto import derive_key, mask_phone
from core.enterprise import pki
from core.enterprise import roles as R
from core.enterprise.certification.states import (
    ATTEMPT_SM,
    ENTERPRISE_SM,
    ENTERPRISE_STATE_LABELS,
    AttemptState,
    EnterpriseState,
)
from core.enterprise.common import log
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from core.sms import queue_sms
from storage.models import (
    BusinessType,
    CertificationAttempt,
    Enterprise,
    Member,
    User,
)
from storage.uow import Tx

# ---------------------------------------------------------------- helpers


async def load_user(tx: Tx, user_id: str) -> User:
    user = await tx.session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在", code="user_not_found")
    return user


def require_verified(user: User) -> None:
    if user.identity_state != "verified":
        raise PermissionDenied("请先完成个人实名认证", code="identity_required")


async def certifier_enterprise(tx: Tx, user_id: str, enterprise_id: str) -> Enterprise:
    """The enterprise as its certifier sees it; other people get NotFound."""
    ent = await R.load_enterprise(tx, enterprise_id, lock=True)
    if ent.certifier_id != user_id:
        raise NotFound("企业不存在", code="enterprise_not_found")
    return ent


async def live_attempts(tx: Tx, enterprise_id: str, purpose: str,
                         applicant_id: str | None = None) -> list[CertificationAttempt]:
    query = select(CertificationAttempt).where(
        CertificationAttempt.enterprise_id == enterprise_id,
        CertificationAttempt.purpose == purpose,
        CertificationAttempt.state.in_([AttemptState.PENDING, AttemptState.AWAITING_REVIEW]),
    )
    if applicant_id:
        query = query.where(CertificationAttempt.applicant_id == applicant_id)
    return list((await tx.session.execute(query)).scalars().all())


async def cancel_live(tx: Tx, enterprise_id: str, purpose: str, now: datetime,
                       applicant_id: str | None = None) -> None:
    for a in await live_attempts(tx, enterprise_id, purpose, applicant_id):
        a.state = AttemptState.CANCELLED
        a.completed_at = now


def deposit_hash(deps: Deps, attempt_id: str, cents: int) -> str:
    key = derive_key(deps.config.server.secret_key, "micro-deposit")
    return hmac.new(key, f"{attempt_id}:{cents}".encode(), hashlib.sha256).hexdigest()


async def own_attempt(tx: Tx, user_id: str, attempt_id: str) -> CertificationAttempt:
    attempt = (
        await tx.session.execute(
            select(CertificationAttempt).where(CertificationAttempt.id == attempt_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if attempt is None or attempt.applicant_id != user_id:
        raise NotFound("认证记录不存在", code="attempt_not_found")
    return attempt


def check_open(attempt: CertificationAttempt, now: datetime, *methods: str) -> None:
    if attempt.method not in methods:
        raise Conflict("认证方式不匹配", code="wrong_method")
    if attempt.state != AttemptState.PENDING:
        raise Conflict("该认证已结束，请重新发起", code="attempt_closed")


def expire_if_due(attempt: CertificationAttempt, now: datetime) -> bool:
    if attempt.expires_at is not None and attempt.expires_at <= now \
            and attempt.state == AttemptState.PENDING:
        ATTEMPT_SM.ensure(attempt.state, AttemptState.EXPIRED)
        attempt.state = AttemptState.EXPIRED
        attempt.completed_at = now
        return True
    return False



# ---------------------------------------------------------------- attempts (shared)


@dataclass(frozen=True)
class Subject:
    """What an attempt proves control of, loaded for the method flows."""

    enterprise_id: str
    name: str
    credit_code: str
    legal_rep_name: str
    legal_rep_id: str


async def open_subject(
    tx: Tx, deps: Deps, user_id: str, enterprise_id: str, purpose: str
) -> Enterprise:
    """Check that `user_id` may start an attempt of `purpose` on the enterprise."""
    if purpose == "certify":
        ent = await certifier_enterprise(tx, user_id, enterprise_id)
        if ent.state != EnterpriseState.CERTIFYING:
            raise Conflict(f"企业当前状态为“{ENTERPRISE_STATE_LABELS[ent.state]}”，不能认证",
                           code="not_certifying")
        return ent
    if purpose == "appeal":
        from core.enterprise.admin_change import open_appeal_for

        return await open_appeal_for(tx, deps, user_id, enterprise_id)
    raise InvalidInput("未知的认证用途", code="invalid_purpose")


async def new_attempt(
    tx: Tx, deps: Deps, ent: Enterprise, user_id: str, purpose: str, method: str,
    ttl: timedelta | None, data: dict[str, object] | None = None,
) -> CertificationAttempt:
    now = deps.clock.now()
    await cancel_live(tx, ent.id, purpose, now, applicant_id=user_id)
    attempt = CertificationAttempt(
        enterprise_id=ent.id, purpose=purpose, applicant_id=user_id, method=method,
        state=AttemptState.PENDING, data=dict(data or {}), tries=0,
        expires_at=now + ttl if ttl else None, created_at=now,
    )
    tx.session.add(attempt)
    await tx.session.flush()
    return attempt


async def fail_attempt(tx: Tx, deps: Deps, attempt: CertificationAttempt, reason: str,
                meta: RequestMeta | None, actor_id: str | None = None) -> None:
    now = deps.clock.now()
    ATTEMPT_SM.ensure(attempt.state, AttemptState.FAILED)
    attempt.state = AttemptState.FAILED
    attempt.review_reason = reason
    attempt.completed_at = now
    await log(tx, deps, f"{attempt.purpose}.attempt_failed", actor_id=actor_id or
              attempt.applicant_id, enterprise_id=attempt.enterprise_id,
              subject_type="certification_attempt", subject_id=attempt.id,
              data={"method": attempt.method, "reason": reason}, meta=meta)


async def pass_attempt(tx: Tx, deps: Deps, attempt: CertificationAttempt, meta: RequestMeta | None,
                actor_id: str | None = None) -> None:
    now = deps.clock.now()
    ATTEMPT_SM.ensure(attempt.state, AttemptState.PASSED)
    attempt.state = AttemptState.PASSED
    attempt.completed_at = now
    await log(tx, deps, f"{attempt.purpose}.attempt_passed", actor_id=actor_id or
              attempt.applicant_id, enterprise_id=attempt.enterprise_id,
              subject_type="certification_attempt", subject_id=attempt.id,
              data={"method": attempt.method}, meta=meta)
    ent = await R.load_enterprise(tx, attempt.enterprise_id, lock=True)
    if attempt.purpose == "certify":
        await complete_if_ready(tx, deps, ent, meta)
    else:
        from core.enterprise.admin_change import complete_appeal

        await complete_appeal(tx, deps, ent, attempt, meta)


async def complete_if_ready(tx: Tx, deps: Deps, ent: Enterprise,
                            meta: RequestMeta | None) -> bool:
    """Certify when a method passed and the credit code is checked (or overridden)."""
    if ent.state != EnterpriseState.CERTIFYING:
        return False
    if not ent.credit_code_check_ok and ent.credit_code_override_by is None:
        return False
    passed = (
        await tx.session.execute(
            select(CertificationAttempt.id).where(
                CertificationAttempt.enterprise_id == ent.id,
                CertificationAttempt.purpose == "certify",
                CertificationAttempt.state == AttemptState.PASSED,
                CertificationAttempt.created_at >= ent.updated_at,
            ).limit(1)
        )
    ).scalar_one_or_none()
    if passed is None:
        return False
    await certify_enterprise(tx, deps, ent, meta)
    return True


async def certify_enterprise(tx: Tx, deps: Deps, ent: Enterprise, meta: RequestMeta | None) -> None:
    from core.enterprise.seals import ensure_standard_seals

    now = deps.clock.now()
    ENTERPRISE_SM.ensure(ent.state, EnterpriseState.CERTIFIED)
    first_time = ent.certified_at is None
    ent.state = EnterpriseState.CERTIFIED
    ent.certified_at = now
    ent.updated_at = now
    if first_time:
        role_ids = await R.create_builtin_roles(tx, ent.id, now)
        bt_ids = []
        for name in R.DEFAULT_BUSINESS_TYPES:
            bt = BusinessType(enterprise_id=ent.id, name=name, created_at=now)
            tx.session.add(bt)
            await tx.session.flush()
            bt_ids.append(bt.id)
        ent.main_admin_id = ent.certifier_id
        user = await load_user(tx, ent.certifier_id)
        member = (
            await tx.session.execute(
                select(Member).where(Member.enterprise_id == ent.id, Member.phone == user.phone)
            )
        ).scalar_one_or_none()
        if member is None:
            member = Member(
                enterprise_id=ent.id, user_id=user.id, phone=user.phone,
                display_name=user.real_name or mask_phone(user.phone), status="active",
                role_ids=[role_ids["main_admin"]], business_type_ids=bt_ids,
                source="certifier", created_at=now, activated_at=now,
            )
            tx.session.add(member)
    await tx.session.flush()
    await ensure_standard_seals(tx, deps, ent)
    await pki.queue_issue(tx, deps, ent.id)
    await log(tx, deps, "enterprise.certified", actor_id=ent.certifier_id,
              enterprise_id=ent.id, subject_type="enterprise", subject_id=ent.id,
              data={"name": ent.name, "credit_code": ent.credit_code,
                    "main_admin_id": ent.main_admin_id, "first_time": first_time}, meta=meta)
    user = await load_user(tx, ent.certifier_id)
    await queue_sms(tx, deps, user.phone, "notice",
                    {"text": f"企业“{ent.name}”已完成认证，您已成为该企业的主管理员。"})



async def cancel_attempts_on_expiry(deps: Deps) -> int:
    """Mark every overdue pending attempt expired (for a periodic job); returns the count."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        return await tx.changed(
            update(CertificationAttempt)
            .where(CertificationAttempt.state == AttemptState.PENDING,
                   CertificationAttempt.expires_at <= now)
            .values(state=AttemptState.EXPIRED, completed_at=now)
        )
