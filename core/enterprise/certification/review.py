"""Operator review: authorisation letters, credit-code overrides, the enterprise search."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.certification.attempts import (
    complete_if_ready,
    fail_attempt,
    load_user,
    pass_attempt,
)
from core.enterprise.certification.states import ENTERPRISE_SM, AttemptState, EnterpriseState
from core.enterprise.certification.views import (
    AttemptView,
    EnterpriseView,
    attempt_view,
    enterprise_view,
)
from core.enterprise.common import log
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from core.files import file_store
from core.sms import queue_sms
from storage.models import (
    CertificationAttempt,
    Enterprise,
    User,
)


@dataclass(frozen=True)
class ReviewItem:
    attempt: AttemptView
    enterprise: EnterpriseView
    applicant_name: str | None
    applicant_phone_masked: str


async def pending_letters(deps: Deps, operator_id: str) -> list[ReviewItem]:
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        rows = (
            await tx.session.execute(
                select(CertificationAttempt, Enterprise, User)
                .join(Enterprise, Enterprise.id == CertificationAttempt.enterprise_id)
                .join(User, User.id == CertificationAttempt.applicant_id)
                .where(CertificationAttempt.state == AttemptState.AWAITING_REVIEW)
                .order_by(CertificationAttempt.created_at)
                .limit(100)
            )
        ).all()
        return [
            ReviewItem(attempt_view(a), enterprise_view(e), u.real_name, mask_phone(u.phone))
            for a, e, u in rows
        ]


async def letter_image(deps: Deps, viewer_id: str, attempt_id: str) -> tuple[bytes, str]:
    """The uploaded photo, for the operator or the applicant."""
    async with deps.db.transaction() as tx:
        attempt = await tx.session.get(CertificationAttempt, attempt_id)
        if attempt is None:
            raise NotFound("认证记录不存在", code="attempt_not_found")
        if attempt.applicant_id != viewer_id and not await R.is_operator(tx, viewer_id):
            raise NotFound("认证记录不存在", code="attempt_not_found")
        key = str(attempt.data.get("letter_file") or "")
    if not key:
        raise NotFound("尚未上传授权委托书", code="letter_missing")
    from core.files import content_type_for

    return await asyncio.to_thread(file_store(deps).get, key), content_type_for(key)


async def review_letter(
    deps: Deps, operator_id: str, attempt_id: str, approve: bool, reason: str,
    meta: RequestMeta,
) -> AttemptView:
    reason = (reason or "").strip()
    if not approve and not 2 <= len(reason) <= 300:
        raise InvalidInput("请填写驳回原因", code="reason_required", field="reason")
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        attempt = (
            await tx.session.execute(
                select(CertificationAttempt).where(CertificationAttempt.id == attempt_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if attempt is None:
            raise NotFound("认证记录不存在", code="attempt_not_found")
        if attempt.state != AttemptState.AWAITING_REVIEW:
            raise Conflict("该申请已处理", code="already_reviewed")
        attempt.reviewed_by = operator_id
        ent = await R.load_enterprise(tx, attempt.enterprise_id, lock=True)
        applicant = await load_user(tx, attempt.applicant_id)
        if approve:
            await pass_attempt(tx, deps, attempt, meta, actor_id=operator_id)
            text = f"您为“{ent.name}”提交的授权委托书已审核通过。"
        else:
            await fail_attempt(tx, deps, attempt, reason, meta, actor_id=operator_id)
            if attempt.purpose == "certify" and ent.state == EnterpriseState.CERTIFYING:
                ENTERPRISE_SM.ensure(ent.state, EnterpriseState.REJECTED)
                ent.state = EnterpriseState.REJECTED
                ent.rejection_reason = reason
                ent.updated_at = deps.clock.now()
                await log(tx, deps, "enterprise.rejected", actor_id=operator_id,
                          enterprise_id=ent.id, subject_type="enterprise", subject_id=ent.id,
                          data={"reason": reason}, meta=meta)
            else:
                from core.enterprise.admin_change import fail_appeal

                await fail_appeal(tx, deps, attempt, reason)
            text = f"您为“{ent.name}”提交的授权委托书未通过审核，原因：{reason}"
        await queue_sms(tx, deps, applicant.phone, "notice", {"text": text})
        return attempt_view(attempt)



# ---------------------------------------------------------------- operator: credit code


async def override_credit_code(
    deps: Deps, operator_id: str, enterprise_id: str, meta: RequestMeta
) -> EnterpriseView:
    """The operator confirms a credit code that fails the check character (it exists)."""
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        if ent.credit_code_check_ok or ent.credit_code_override_by:
            raise Conflict("该企业的信用代码无需人工核对", code="no_override_needed")
        ent.credit_code_override_by = operator_id
        await log(tx, deps, "enterprise.credit_code_override", actor_id=operator_id,
                  enterprise_id=ent.id, subject_type="enterprise", subject_id=ent.id,
                  data={"credit_code": ent.credit_code}, meta=meta)
        await complete_if_ready(tx, deps, ent, meta)
        return enterprise_view(ent)


async def operator_search(deps: Deps, operator_id: str, q: str = "",
                          only_code_check: bool = False) -> list[EnterpriseView]:
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        query = select(Enterprise).order_by(Enterprise.created_at.desc()).limit(50)
        q = (q or "").strip()
        if q:
            query = query.where(
                (Enterprise.name.contains(q, autoescape=True))
                | (Enterprise.credit_code == q.upper())
            )
        if only_code_check:
            query = query.where(Enterprise.credit_code_check_ok.is_(False),
                                Enterprise.credit_code_override_by.is_(None),
                                Enterprise.state == EnterpriseState.CERTIFYING)
        rows = (await tx.session.execute(query)).scalars().all()
        return [enterprise_view(e) for e in rows]
