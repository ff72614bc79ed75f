"""Proof by the legal representative's face check."""

from __future__ import annotations

from core.context import Deps, RequestMeta
from core.enterprise.certification.attempts import (
    expire_if_due,
    fail_attempt,
    new_attempt,
    open_subject,
    own_attempt,
    pass_attempt,
)
from core.enterprise.certification.states import FACE_ATTEMPT_TTL, AttemptState
from core.enterprise.certification.views import AttemptView, attempt_view
from core.enterprise.common import cipher, log
from core.errors import (
    Conflict,
    ProviderUnavailable,
)
from core.identity import provider_redirect

# ---------------------------------------------------------------- method: legal-rep face


def _back_url(deps: Deps, attempt_id: str) -> str:
    """Where the provider sends the legal rep back: the attempt's page in the console."""
    return f"{deps.config.server.base_url.rstrip('/')}/console/attempt/{attempt_id}/face"


async def start_face(
    deps: Deps, user_id: str, enterprise_id: str, meta: RequestMeta,
    *, purpose: str = "certify",
) -> tuple[AttemptView, str]:
    """Start the provider's liveness flow for the legal rep; returns the provider's page
    to send them to (a checked web address: otherwise the attempt fails at once)."""
    async with deps.db.transaction() as tx:
        ent = await open_subject(tx, deps, user_id, enterprise_id, purpose)
        attempt = await new_attempt(tx, deps, ent, user_id, purpose, "legal_rep_face",
                                     FACE_ATTEMPT_TTL)
        rep_name, rep_id = ent.legal_rep_name, cipher(deps).decrypt(ent.legal_rep_id_cipher)
        attempt_id = attempt.id
    try:
        session = await deps.identity.start_face(rep_name, rep_id,
                                                 _back_url(deps, attempt_id))
        redirect_url = provider_redirect(session.redirect_url)
    except Exception as exc:
        async with deps.db.transaction() as tx:
            attempt = await own_attempt(tx, user_id, attempt_id)
            await fail_attempt(tx, deps, attempt, "刷脸服务暂不可用", meta)
        raise ProviderUnavailable("刷脸服务暂时不可用，请稍后重试") from exc
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        attempt.data = {**attempt.data, "_provider_ref": session.provider_ref}
        await log(tx, deps, f"{purpose}.face_started", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt), redirect_url


async def face_result(
    deps: Deps, user_id: str, attempt_id: str, meta: RequestMeta
) -> AttemptView:
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        if attempt.state != AttemptState.PENDING or attempt.method != "legal_rep_face":
            return attempt_view(attempt)
        ref = attempt.data.get("_provider_ref")
    if not ref:
        raise Conflict("刷脸尚未开始", code="face_not_started")
    result = await deps.identity.face_result(str(ref))
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        if attempt.state != AttemptState.PENDING:
            return attempt_view(attempt)
        if expire_if_due(attempt, deps.clock.now()):
            return attempt_view(attempt)
        if result.state == "verified":
            await pass_attempt(tx, deps, attempt, meta)
        elif result.state == "failed":
            await fail_attempt(tx, deps, attempt, result.message or "人脸比对未通过", meta)
        return attempt_view(attempt)
