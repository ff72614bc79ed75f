"""Personal real-name check (PRODUCT A3): face, carrier 3-factor or bank-card 4-factor.

The provider is an outside, paid service that can be slow, so it is never called inside
a database transaction: one transaction writes the pending verification row (and the
notice acceptances, the rate-limit event and an audit record), then the provider is
called, then a second transaction records the outcome. A crash in between leaves a
pending row that `refresh_pending` can settle later; nothing is half-written.

Only masked values (name, ID number, phone, card) ever reach audit rows, pages or logs.
The full ID number is kept encrypted (FieldCipher) plus an HMAC lookup hash that makes
"one verified account per ID number" enforceable without decrypting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import func, or_, select

from core import audit, ratelimit
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher, mask_bank_card, mask_id_number, mask_name, mask_phone
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ProviderUnavailable
from core.ports import IdentityResult
from core.statemachine import StateMachine
from core.validators import (
    ID_TYPES,
    check_person_name,
    normalize_email,
    normalize_id_number,
    normalize_phone,
)
from storage.models import AgreementAcceptance, IdentityVerification, User
from storage.uow import Tx

log = logging.getLogger("laborsign.identity")


class IdentityState(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


# A person's identity state (users.identity_state). pending → pending: a new attempt
# may replace one that never settled (an abandoned face check, a provider still busy).
TRANSITIONS: dict[IdentityState, frozenset[IdentityState]] = {
    IdentityState.UNVERIFIED: frozenset({IdentityState.PENDING}),
    IdentityState.PENDING: frozenset(
        {IdentityState.PENDING, IdentityState.VERIFIED, IdentityState.FAILED}
    ),
    IdentityState.FAILED: frozenset({IdentityState.PENDING}),
    IdentityState.VERIFIED: frozenset(),
}
IDENTITY = StateMachine("identity", TRANSITIONS)

STATE_LABELS = {
    IdentityState.UNVERIFIED: "未认证",
    IdentityState.PENDING: "认证中",
    IdentityState.VERIFIED: "已通过",
    IdentityState.FAILED: "未通过",
}
METHODS = {"face": "人脸识别", "carrier3": "手机号三要素", "bank4": "银行卡四要素"}
NOTICE_PERSONAL_INFO = "personal_info"
NOTICE_BIOMETRIC = "biometric"

# Each attempt costs money at the provider: at most 10 per person per day.
ATTEMPT_BUCKET = "identity_attempt"
ATTEMPT_LIMITS = (ratelimit.Limit(10, 24 * 3600, "今日实名认证次数已达上限，请明天再试"),)
# Result polls (return leg, refresh button) are cheaper but still outside calls.
POLL_BUCKET = "identity_poll"
POLL_LIMITS = (ratelimit.Limit(30, 3600, "查询过于频繁，请稍后再试"),)

BANK_CARD_RE = re.compile(r"^\d{12,19}$")
SUBJECT = "identity_verification"


# ---------------------------------------------------------------------------- views


@dataclass(frozen=True)
class VerificationView:
    id: str
    method: str
    method_label: str
    state: str
    state_label: str
    provider: str
    provider_ref: str | None
    result_code: str | None
    result_message: str | None
    id_number_masked: str
    phone_masked: str | None
    bank_card_masked: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class IdentityStatus:
    state: str
    state_label: str
    # The full name is for the person's own pages only; logs and audit keep the mask.
    real_name: str | None
    real_name_masked: str | None
    id_type: str | None
    id_type_label: str | None
    id_number_masked: str | None
    verified_at: datetime | None
    latest: VerificationView | None
    # The account's own phone, only to prefill the form for its owner.
    account_phone: str
    can_start: bool
    can_refresh: bool


@dataclass(frozen=True)
class StartOutcome:
    verification_id: str
    state: str
    # Face: where to send the browser (the provider's liveness page).
    redirect_url: str | None
    status: IdentityStatus


def _view(row: IdentityVerification) -> VerificationView:
    return VerificationView(
        id=row.id,
        method=row.method,
        method_label=METHODS.get(row.method, row.method),
        state=row.state,
        state_label=STATE_LABELS.get(IdentityState(row.state), row.state),
        provider=row.provider,
        provider_ref=row.provider_ref,
        result_code=row.result_code,
        result_message=row.result_message,
        id_number_masked=row.id_number_masked,
        phone_masked=row.phone_masked,
        bank_card_masked=row.bank_card_masked,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


async def _latest(session: Any, user_id: str) -> IdentityVerification | None:
    return (
        await session.execute(
            select(IdentityVerification)
            .where(IdentityVerification.user_id == user_id)
            .order_by(IdentityVerification.attempt.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def identity_status(deps: Deps, user_id: str) -> IdentityStatus:
    """What the real-name pages show: state and masked values only."""
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound("账号不存在", code="user_not_found")
        latest = await _latest(session, user_id)
    state = IdentityState(user.identity_state)
    return IdentityStatus(
        state=state.value,
        state_label=STATE_LABELS[state],
        real_name=user.real_name,
        real_name_masked=mask_name(user.real_name) if user.real_name else None,
        id_type=user.id_type,
        id_type_label=ID_TYPES.get(user.id_type) if user.id_type else None,
        id_number_masked=user.id_number_masked,
        verified_at=user.verified_at,
        latest=_view(latest) if latest is not None else None,
        account_phone=user.phone,
        can_start=IDENTITY.can(state, IdentityState.PENDING),
        can_refresh=state is IdentityState.PENDING,
    )


# ----------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Checked:
    method: str
    name: str
    id_type: str
    id_number: str
    email: str | None
    phone: str
    bank_card: str | None


def normalize_bank_card(value: str | None) -> str:
    card = (value or "").strip().replace(" ", "").replace("-", "")
    if not BANK_CARD_RE.match(card):
        raise InvalidInput("请输入正确的银行卡号（12–19 位数字）", code="invalid_bank_card",
                           field="bank_card")
    return card


@dataclass(frozen=True)
class IdTypeOption:
    value: str
    label: str
    # The methods (keys of METHODS) that can check this type, in METHODS order.
    methods: tuple[str, ...]


def id_type_options(supported: Mapping[str, frozenset[str]]) -> list[IdTypeOption]:
    """The document types the provider can check (the form offers only these)."""
    options = []
    for value, label in ID_TYPES.items():
        methods = tuple(m for m in METHODS if value in supported.get(m, frozenset()))
        if methods:
            options.append(IdTypeOption(value, label, methods))
    return options


def offered_id_types(deps: Deps) -> list[IdTypeOption]:
    return id_type_options(deps.identity.id_types)


def _check_id_type(supported: Mapping[str, frozenset[str]], method: str, id_type: str) -> None:
    if id_type not in ID_TYPES:
        raise InvalidInput("不支持的证件类型", code="invalid_id_type", field="id_type")
    options = {o.value: o for o in id_type_options(supported)}
    label = ID_TYPES[id_type]
    if id_type not in options:
        accepted = "、".join(o.label for o in options.values())
        raise InvalidInput(f"{label}暂不支持在线实名认证，目前支持：{accepted}",
                           code="id_type_unsupported", field="id_type")
    if method not in options[id_type].methods:
        allowed = "、".join(METHODS[m] for m in options[id_type].methods)
        raise InvalidInput(f"{label}仅支持{allowed}认证，请更换认证方式",
                           code="id_type_unsupported", field="method")


def _validate(
    *,
    supported: Mapping[str, frozenset[str]],
    method: str,
    name: str,
    id_type: str,
    id_number: str,
    email: str | None,
    phone: str,
    bank_card: str | None,
    notices_accepted: Iterable[str],
) -> _Checked:
    if method not in METHODS:
        raise InvalidInput("请选择认证方式", code="invalid_method", field="method")
    checked_name = check_person_name(name)
    _check_id_type(supported, method, id_type)
    number = normalize_id_number(id_type, id_number)
    # Optional: where signed contracts may be sent; checked only when given.
    checked_email = normalize_email(email)
    checked_phone = normalize_phone(phone)
    card = normalize_bank_card(bank_card) if method == "bank4" else None
    accepted = set(notices_accepted)
    if NOTICE_PERSONAL_INFO not in accepted:
        raise InvalidInput("请阅读并同意《个人信息处理告知书》", code="notice_required",
                           field="notice_personal_info")
    if method == "face" and NOTICE_BIOMETRIC not in accepted:
        raise InvalidInput("人脸识别须阅读并同意《人脸信息处理告知书》", code="notice_required",
                           field="notice_biometric")
    return _Checked(method, checked_name, id_type, number, checked_email, checked_phone, card)


# ------------------------------------------------------------------------- services


def provider_redirect(url: str) -> str:
    """The face-check provider's page to send the person to: an absolute web address only
    (a provider answering with `javascript:` or a relative path must not steer the
    browser). Checked before the attempt counts as started."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProviderUnavailable("身份核验服务返回的地址无效，请稍后重试")
    return url


def face_return_url(deps: Deps, verification_id: str) -> str:
    base = deps.config.server.base_url.rstrip("/")
    return f"{base}/identity/face/return?ref={quote(verification_id, safe='')}"


async def _load_user_for_update(tx: Tx, user_id: str) -> User:
    user = (
        await tx.session.execute(select(User).where(User.id == user_id).with_for_update())
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("账号不存在", code="user_not_found")
    if user.status != "active":
        raise PermissionDenied("账号当前不可用", code="account_inactive")
    return user


async def _id_used_by_other(tx: Tx, id_hash: str, user_id: str) -> bool:
    other = (
        await tx.session.execute(
            select(User.id).where(User.id_number_hash == id_hash, User.id != user_id).limit(1)
        )
    ).scalar_one_or_none()
    return other is not None


async def start_verification(
    deps: Deps,
    user_id: str,
    *,
    method: str,
    name: str,
    id_type: str,
    id_number: str,
    email: str | None,
    phone: str,
    bank_card: str | None = None,
    notices_accepted: Iterable[str] = (),
    meta: RequestMeta,
) -> StartOutcome:
    """Check the input, write a pending verification, ask the provider, record the answer."""
    checked = _validate(
        supported=deps.identity.id_types, method=method, name=name, id_type=id_type,
        id_number=id_number, email=email, phone=phone, bank_card=bank_card,
        notices_accepted=notices_accepted,
    )
    cipher = FieldCipher.from_config(deps.config)
    id_hash = cipher.lookup_hash(checked.id_number)
    id_masked = mask_id_number(checked.id_number)
    now = deps.clock.now()
    versions = deps.config.agreements
    in_use = False

    async with deps.db.transaction() as tx:
        user = await _load_user_for_update(tx, user_id)
        if user.identity_state == IdentityState.VERIFIED:
            raise Conflict("您已完成实名认证", code="identity_already_verified")
        IDENTITY.ensure(user.identity_state, IdentityState.PENDING)
        # Counted before the duplicate check so the form cannot be used to probe which
        # ID numbers are registered here.
        await ratelimit.hit(tx, ATTEMPT_BUCKET, user_id, ATTEMPT_LIMITS, now)
        if await _id_used_by_other(tx, id_hash, user_id):
            in_use = True
            await audit.record(
                tx, at=now, action="identity.refused_id_in_use", actor_id=user_id,
                subject_type="user", subject_id=user_id,
                data={"method": checked.method, "id_number_masked": id_masked}, meta=meta,
            )
        else:
            verification = await _open_verification(
                tx, deps, user, checked, cipher, id_hash, id_masked, now, meta
            )
            notices = {NOTICE_PERSONAL_INFO: versions.personal_info_notice_version}
            if checked.method == "face":
                notices[NOTICE_BIOMETRIC] = versions.biometric_notice_version
            for agreement, version in notices.items():
                tx.session.add(
                    AgreementAcceptance(
                        user_id=user_id, agreement=agreement, version=version,
                        accepted_at=now, ip=meta.ip,
                    )
                )
            await audit.record(
                tx, at=now, action="identity.verification_started", actor_id=user_id,
                subject_type=SUBJECT, subject_id=verification.id,
                data={
                    "method": checked.method,
                    "provider": verification.provider,
                    "name_masked": mask_name(checked.name),
                    "id_type": checked.id_type,
                    "id_number_masked": id_masked,
                    "phone_masked": verification.phone_masked,
                    "bank_card_masked": verification.bank_card_masked,
                    "notices": notices,
                },
                meta=meta,
            )
            verification_id = verification.id
    if in_use:
        raise Conflict("该证件号已被其他账号完成实名认证", code="id_number_in_use",
                       field="id_number")

    # Outside any transaction: the provider may take seconds.
    redirect_url: str | None = None
    try:
        if checked.method == "carrier3":
            result = await deps.identity.carrier3(checked.name, checked.id_number, checked.phone)
        elif checked.method == "bank4":
            assert checked.bank_card is not None
            result = await deps.identity.bank4(
                checked.name, checked.id_number, checked.phone, checked.bank_card
            )
        else:
            session = await deps.identity.start_face(
                checked.name, checked.id_number, face_return_url(deps, verification_id)
            )
            redirect_url = provider_redirect(session.redirect_url)
            result = IdentityResult("pending", session.provider_ref, "face_started",
                                    "等待完成人脸识别")
    except Exception as exc:
        # The check did not happen (or we cannot know): close this attempt as failed so
        # the person may retry. The exception text may echo input, so only its type.
        log.warning("identity provider call failed: %s", type(exc).__name__)
        redirect_url = None
        result = IdentityResult("failed", None, "provider_unavailable",
                                ProviderUnavailable.message)

    state = await _record_result(deps, user_id, verification_id, result, meta)
    return StartOutcome(
        verification_id=verification_id,
        state=state,
        redirect_url=redirect_url if state == IdentityState.PENDING else None,
        status=await identity_status(deps, user_id),
    )


async def _open_verification(
    tx: Tx,
    deps: Deps,
    user: User,
    checked: _Checked,
    cipher: FieldCipher,
    id_hash: str,
    id_masked: str,
    now: datetime,
    meta: RequestMeta,
) -> IdentityVerification:
    # Only one attempt is open at a time: an older pending one is closed as replaced.
    stale = (
        await tx.session.execute(
            select(IdentityVerification).where(
                IdentityVerification.user_id == user.id,
                IdentityVerification.state == IdentityState.PENDING.value,
            )
        )
    ).scalars().all()
    for old in stale:
        old.state = IdentityState.FAILED.value
        old.result_code = "superseded"
        old.result_message = "已被新的认证申请取代"
        old.completed_at = now
        await audit.record(
            tx, at=now, action="identity.verification_superseded", actor_id=user.id,
            subject_type=SUBJECT, subject_id=old.id, data={"method": old.method}, meta=meta,
        )
    attempts = (
        await tx.session.execute(
            select(func.count()).where(IdentityVerification.user_id == user.id)
        )
    ).scalar_one()
    verification = IdentityVerification(
        user_id=user.id,
        attempt=attempts + 1,
        method=checked.method,
        state=IdentityState.PENDING.value,
        provider=deps.identity.name,
        real_name=checked.name,
        id_type=checked.id_type,
        id_number_cipher=cipher.encrypt(checked.id_number),
        id_number_hash=id_hash,
        id_number_masked=id_masked,
        phone_masked=mask_phone(checked.phone),
        bank_card_masked=mask_bank_card(checked.bank_card) if checked.bank_card else None,
        email=checked.email,
        created_at=now,
        ip=meta.ip,
    )
    tx.session.add(verification)
    IDENTITY.ensure(user.identity_state, IdentityState.PENDING)
    user.identity_state = IdentityState.PENDING.value
    await tx.session.flush()
    return verification


async def _record_result(
    deps: Deps, user_id: str, verification_id: str, result: IdentityResult, meta: RequestMeta
) -> str:
    """The second transaction: apply the provider's answer; returns the verification state."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await _load_user_for_update(tx, user_id)
        row = (
            await tx.session.execute(
                select(IdentityVerification)
                .where(IdentityVerification.id == verification_id)
                .with_for_update()
            )
        ).scalar_one()
        if row.state != IdentityState.PENDING:
            # Settled meanwhile (another tab, a replaced attempt): leave it as it is.
            return row.state
        if result.provider_ref:
            row.provider_ref = result.provider_ref[:128]
        outcome = IdentityState(result.state) if result.state in STATE_LABELS else None
        code, message = result.code, result.message
        if outcome is IdentityState.VERIFIED and await _id_used_by_other(
            tx, row.id_number_hash, user_id
        ):
            outcome, code, message = (
                IdentityState.FAILED, "id_number_in_use", "该证件号已被其他账号完成实名认证"
            )
        if outcome not in (IdentityState.VERIFIED, IdentityState.FAILED):
            outcome = IdentityState.PENDING
        row.result_code = (code or "")[:60] or None
        row.result_message = message
        data = {
            "method": row.method,
            "provider": row.provider,
            "provider_ref": row.provider_ref,
            "result_code": row.result_code,
            "id_number_masked": row.id_number_masked,
        }
        if outcome is IdentityState.PENDING:
            await audit.record(
                tx, at=now, action="identity.verification_pending", actor_id=user_id,
                subject_type=SUBJECT, subject_id=row.id, data=data, meta=meta,
            )
            return row.state
        row.state = outcome.value
        row.completed_at = now
        current = IdentityState(user.identity_state)
        if current is IdentityState.PENDING:
            IDENTITY.ensure(current, outcome)
            user.identity_state = outcome.value
        if outcome is IdentityState.VERIFIED:
            user.real_name = row.real_name
            user.id_type = row.id_type
            user.id_number_cipher = row.id_number_cipher
            user.id_number_hash = row.id_number_hash
            user.id_number_masked = row.id_number_masked
            user.verified_at = now
            await tx.session.flush()
            await audit.record(
                tx, at=now, action="identity.verified", actor_id=user_id,
                subject_type=SUBJECT, subject_id=row.id,
                data={**data, "name_masked": mask_name(row.real_name)}, meta=meta,
            )
            await on_person_verified(tx, deps, user, row, meta)
        else:
            await audit.record(
                tx, at=now, action="identity.verification_failed", actor_id=user_id,
                subject_type=SUBJECT, subject_id=row.id, data=data, meta=meta,
            )
        return row.state


async def on_person_verified(
    tx: Tx, deps: Deps, user: User, verification: IdentityVerification, meta: RequestMeta
) -> None:
    """Called inside the transaction that marks a person verified, after the audit record:
    what a verified identity unlocks. The person's signing certificate is queued here (an
    outbox job: key generation and CA work must not run inside the request)."""
    from core.signing.service import queue_person_certificate

    await queue_person_certificate(tx, deps, user.id)


async def _poll(
    deps: Deps, user_id: str, row: IdentityVerification, action: str, meta: RequestMeta
) -> None:
    """Ask the provider again about a pending verification and record the answer."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, POLL_BUCKET, user_id, POLL_LIMITS, now)
        await audit.record(
            tx, at=now, action=action, actor_id=user_id, subject_type=SUBJECT,
            subject_id=row.id, data={"method": row.method, "provider_ref": row.provider_ref},
            meta=meta,
        )
    if not row.provider_ref:
        return
    try:
        result = await deps.identity.check_result(row.method, row.provider_ref)
    except ProviderUnavailable:
        raise
    except Exception as exc:
        log.warning("identity provider poll failed: %s", type(exc).__name__)
        raise ProviderUnavailable() from None
    await _record_result(deps, user_id, row.id, result, meta)


async def complete_face(deps: Deps, user_id: str, ref: str, meta: RequestMeta) -> IdentityStatus:
    """The return leg of the face flow: `ref` is our verification id (or the provider's)."""
    ref = (ref or "").strip()
    if not ref or len(ref) > 128:
        raise NotFound("认证记录不存在", code="verification_not_found")
    async with deps.db.sessions() as session:
        row = (
            await session.execute(
                select(IdentityVerification).where(
                    IdentityVerification.user_id == user_id,
                    IdentityVerification.method == "face",
                    or_(IdentityVerification.id == ref, IdentityVerification.provider_ref == ref),
                )
            )
        ).scalar_one_or_none()
    if row is None:
        raise NotFound("认证记录不存在", code="verification_not_found")
    if row.state == IdentityState.PENDING:
        await _poll(deps, user_id, row, "identity.face_returned", meta)
    return await identity_status(deps, user_id)


async def refresh_pending(deps: Deps, user_id: str, meta: RequestMeta) -> IdentityStatus:
    """The 刷新 button: settle the open verification if the provider now knows."""
    async with deps.db.sessions() as session:
        row = (
            await session.execute(
                select(IdentityVerification)
                .where(
                    IdentityVerification.user_id == user_id,
                    IdentityVerification.state == IdentityState.PENDING.value,
                )
                .order_by(IdentityVerification.attempt.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if row is not None:
        await _poll(deps, user_id, row, "identity.refreshed", meta)
    return await identity_status(deps, user_id)
