"""Proof by the legal representative's phone: an authorisation code sent to it."""

from __future__ import annotations

from core import sms_codes
from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import proofs
from core.enterprise.certification.attempts import (
    check_open,
    expire_if_due,
    new_attempt,
    open_subject,
    own_attempt,
    pass_attempt,
)
from core.enterprise.certification.states import PHONE_ATTEMPT_TTL, SMS_PURPOSE
from core.enterprise.certification.views import AttemptView, attempt_view
from core.enterprise.common import cipher, log
from core.errors import (
    DomainError,
    InvalidInput,
    RateLimited,
)
from core.validators import (
    check_sms_code_format,
    normalize_phone,
)

# ---------------------------------------------------------------- method: legal-rep phone


async def start_phone(
    deps: Deps, user_id: str, enterprise_id: str, phone: str, meta: RequestMeta,
    *, purpose: str = "certify",
) -> AttemptView:
    """Check the phone is the legal rep's (carrier 3-factor), then send them a code."""
    phone = normalize_phone(phone)
    rule = proofs.LEGAL_REP_CODE
    try:
        async with deps.db.transaction() as tx:
            ent = await open_subject(tx, deps, user_id, enterprise_id, purpose)
            # Before the carrier check: a refused start costs no provider call.
            await proofs.check_start(tx, deps, rule, ent.id, user_id, record=False)
            rep_name = ent.legal_rep_name
            rep_id = cipher(deps).decrypt(ent.legal_rep_id_cipher)
    except RateLimited as err:
        await proofs.refused(deps, rule, enterprise_id, user_id, err, meta)
        raise
    result = await deps.identity.carrier3(rep_name, rep_id, phone)
    if result.state != "verified":
        raise InvalidInput("该手机号不是法定代表人本人实名登记的号码",
                           code="legal_rep_phone_mismatch", field="phone")
    try:
        return await _send_rep_code(deps, user_id, enterprise_id, phone, result.provider_ref,
                                    meta, purpose)
    except RateLimited as err:
        if err.code != "rate_limited":  # the SMS send limits are the phone's, not ours
            await proofs.refused(deps, rule, enterprise_id, user_id, err, meta)
        raise


async def _send_rep_code(deps: Deps, user_id: str, enterprise_id: str, phone: str,
                         carrier_ref: str | None, meta: RequestMeta,
                         purpose: str) -> AttemptView:
    async with deps.db.transaction() as tx:
        ent = await open_subject(tx, deps, user_id, enterprise_id, purpose)
        await proofs.check_start(tx, deps, proofs.LEGAL_REP_CODE, ent.id, user_id)
        await sms_codes.check_send_limits(tx, deps, phone, meta)
        attempt = await new_attempt(
            tx, deps, ent, user_id, purpose, "legal_rep_phone", PHONE_ATTEMPT_TTL,
            {"phone_masked": mask_phone(phone), "_phone": phone, "carrier_ref": carrier_ref},
        )
        await sms_codes.issue_code(tx, deps, phone, SMS_PURPOSE, meta)
        await log(tx, deps, f"{purpose}.phone_code_sent", actor_id=user_id,
                  enterprise_id=ent.id, subject_type="certification_attempt",
                  subject_id=attempt.id, data={"phone": mask_phone(phone)}, meta=meta)
        return attempt_view(attempt)


async def confirm_phone(
    deps: Deps, user_id: str, attempt_id: str, code: str, meta: RequestMeta
) -> AttemptView:
    code = check_sms_code_format(code)
    error: DomainError | None = None
    rule = proofs.LEGAL_REP_CODE
    enterprise_id = ""
    try:
        async with deps.db.transaction() as tx:
            attempt = await own_attempt(tx, user_id, attempt_id)
            enterprise_id = attempt.enterprise_id
            now = deps.clock.now()
            if expire_if_due(attempt, now):
                error = InvalidInput("认证已过期，请重新发起", code="attempt_expired")
            else:
                check_open(attempt, now, "legal_rep_phone")
                await proofs.check_answer(tx, deps, rule, enterprise_id, user_id)
                check = await sms_codes.verify(tx, deps, attempt.data["_phone"], SMS_PURPOSE,
                                               code)
                if check.ok:
                    await sms_codes.consume(tx, deps, check)
                    await pass_attempt(tx, deps, attempt, meta)
                else:
                    error = check.error
                    if check.row is not None:  # a live code was guessed wrong
                        await proofs.wrong_answer(
                            tx, deps, rule, enterprise_id, user_id,
                            used_up=check.row.used_at is not None,
                            subject=("certification_attempt", attempt.id), meta=meta)
            view = attempt_view(attempt)
    except RateLimited as err:
        await proofs.refused(deps, rule, enterprise_id, user_id, err, meta)
        raise
    if error is not None:
        raise error
    return view
