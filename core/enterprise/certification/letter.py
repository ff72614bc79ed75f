"""Proof by an authorisation letter: the template PDF and the stamped photo."""

from __future__ import annotations

import asyncio

from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.certification.attempts import (
    check_open,
    expire_if_due,
    load_user,
    new_attempt,
    open_subject,
    own_attempt,
)
from core.enterprise.certification.states import (
    ATTEMPT_SM,
    LETTER_ATTEMPT_TTL,
    LETTER_MAX_BYTES,
    AttemptState,
)
from core.enterprise.certification.views import AttemptView, attempt_view
from core.enterprise.common import discard_on_error, log
from core.enterprise.letters import LetterData, render_letter_pdf
from core.errors import (
    Conflict,
)
from core.files import check_image, file_store

# ---------------------------------------------------------------- method: authorisation letter


async def start_letter(
    deps: Deps, user_id: str, enterprise_id: str, meta: RequestMeta,
    *, purpose: str = "certify",
) -> AttemptView:
    async with deps.db.transaction() as tx:
        ent = await open_subject(tx, deps, user_id, enterprise_id, purpose)
        attempt = await new_attempt(tx, deps, ent, user_id, purpose, "auth_letter",
                                     LETTER_ATTEMPT_TTL)
        await log(tx, deps, f"{purpose}.letter_started", actor_id=user_id,
                  enterprise_id=ent.id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt)


async def letter_pdf(deps: Deps, user_id: str, attempt_id: str) -> bytes:
    """The pre-filled letter for the applicant to print, stamp and photograph."""
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        if attempt.method != "auth_letter":
            raise Conflict("认证方式不匹配", code="wrong_method")
        ent = await R.load_enterprise(tx, attempt.enterprise_id)
        user = await load_user(tx, user_id)
        now = deps.clock.now()
        data = LetterData(
            enterprise_name=ent.name, credit_code=ent.credit_code,
            legal_rep_name=ent.legal_rep_name,
            handler_name=user.real_name or "（经办人）",
            handler_id_masked=user.id_number_masked or "",
            handler_phone_masked=mask_phone(user.phone), reference=attempt.id,
            date_text=f"{now.year} 年 {now.month} 月 {now.day} 日",
        )
    signing = deps.config.signing
    return await asyncio.to_thread(render_letter_pdf, data, signing.font_path,
                                   signing.font_index)


async def upload_letter(
    deps: Deps, user_id: str, attempt_id: str, photo: bytes, meta: RequestMeta
) -> AttemptView:
    image = await check_image(photo, LETTER_MAX_BYTES, "授权委托书照片")
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        now = deps.clock.now()
        if expire_if_due(attempt, now):
            return attempt_view(attempt)
        check_open(attempt, now, "auth_letter")
    key = await asyncio.to_thread(file_store(deps).put, "letter", image.data, image.ext)
    async with discard_on_error(deps, key), deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        ATTEMPT_SM.ensure(attempt.state, AttemptState.AWAITING_REVIEW)
        attempt.state = AttemptState.AWAITING_REVIEW
        attempt.data = {**attempt.data, "letter_file": key, "uploaded_at": now.isoformat()}
        await log(tx, deps, f"{attempt.purpose}.letter_uploaded", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt)
