"""Enterprise certification (B1): submit, prove control by one of four methods, finish.

Two state machines: the enterprise (认证中 → 已认证 / 驳回 / 已撤销) and each attempt
(one method, one try). The same attempt flows serve the admin appeal (purpose "appeal",
see admin_change.py). On success the certifier becomes main admin, the built-in roles
and business types exist, and the three seals are created.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import select, update

from core import sms_codes
from core.context import Deps, RequestMeta
from core.crypto import derive_key, mask_bank_card, mask_id_number, mask_phone
from core.enterprise import pki, proofs
from core.enterprise import roles as R
from core.enterprise.common import cipher, discard_on_error, log
from core.enterprise.letters import LetterData, render_letter_pdf
from core.enterprise.payment import Transfer, payment_gateway
from core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    Locked,
    NotFound,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
)
from core.files import MB, check_image, file_store
from core.sms import queue_sms
from core.statemachine import StateMachine
from core.validators import (
    check_person_name,
    check_sms_code_format,
    normalize_id_card,
    normalize_phone,
    uscc_check_ok,
    uscc_format_ok,
)
from storage.models import (
    BusinessType,
    CertificationAttempt,
    Enterprise,
    Member,
    User,
)
from storage.uow import Tx


class EnterpriseState(StrEnum):
    CERTIFYING = "certifying"
    CERTIFIED = "certified"
    REVOKED = "revoked"
    REJECTED = "rejected"


ENTERPRISE_STATE_LABELS = {
    "certifying": "认证中", "certified": "已认证", "revoked": "已撤销", "rejected": "驳回",
}

ENTERPRISE_SM = StateMachine(
    "enterprise",
    {
        EnterpriseState.CERTIFYING: frozenset(
            {EnterpriseState.CERTIFIED, EnterpriseState.REJECTED, EnterpriseState.REVOKED}
        ),
        EnterpriseState.REJECTED: frozenset(
            {EnterpriseState.CERTIFYING, EnterpriseState.REVOKED}
        ),
        # Name or credit-code change: certified again only after a new certification.
        EnterpriseState.CERTIFIED: frozenset({EnterpriseState.CERTIFYING}),
        EnterpriseState.REVOKED: frozenset(),
    },
)


class AttemptState(StrEnum):
    PENDING = "pending"  # waiting for the applicant: code sent, money sent, face, letter
    AWAITING_REVIEW = "awaiting_review"  # stamped letter uploaded, operator to decide
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ATTEMPT_STATE_LABELS = {
    "pending": "进行中", "awaiting_review": "待平台审核", "passed": "已通过",
    "failed": "未通过", "expired": "已过期", "cancelled": "已取消",
}

_DONE = frozenset()
ATTEMPT_SM = StateMachine(
    "certification_attempt",
    {
        AttemptState.PENDING: frozenset({
            AttemptState.PENDING, AttemptState.AWAITING_REVIEW, AttemptState.PASSED,
            AttemptState.FAILED, AttemptState.EXPIRED, AttemptState.CANCELLED,
        }),
        AttemptState.AWAITING_REVIEW: frozenset(
            {AttemptState.PASSED, AttemptState.FAILED, AttemptState.CANCELLED}
        ),
        AttemptState.PASSED: _DONE,
        AttemptState.FAILED: _DONE,
        AttemptState.EXPIRED: _DONE,
        AttemptState.CANCELLED: _DONE,
    },
)

METHODS = {
    "legal_rep_phone": "法定代表人手机号认证",
    "legal_rep_face": "法定代表人刷脸认证",
    "auth_letter": "授权委托书认证",
    "micro_deposit": "对公打款认证",
}
CERTIFICATE_KINDS = {"cloud": "云证书（平台托管）", "hardware": "硬件证书（UKey）"}

LICENCE_MAX_BYTES = 10 * MB
LETTER_MAX_BYTES = 15 * MB
DEPOSIT_TTL = timedelta(hours=48)
DEPOSIT_MAX_TRIES = 3
PHONE_ATTEMPT_TTL = timedelta(minutes=30)
FACE_ATTEMPT_TTL = timedelta(minutes=30)
LETTER_ATTEMPT_TTL = timedelta(days=30)
SMS_PURPOSE = "enterprise_auth"

# The legal representative's phone is not the applicant's: "own_phone" kind means
# "no account rule applies"; the number is checked by the carrier 3-factor instead.
sms_codes.add_purpose(SMS_PURPOSE, "own_phone")


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class AttemptView:
    id: str
    enterprise_id: str
    purpose: str
    method: str
    method_label: str
    state: str
    state_label: str
    tries: int
    tries_left: int | None
    expires_at: datetime | None
    review_reason: str | None
    data: dict[str, object]
    created_at: datetime


@dataclass(frozen=True)
class EnterpriseView:
    id: str
    name: str
    credit_code: str
    credit_code_check_ok: bool
    credit_code_overridden: bool
    address: str
    legal_rep_name: str
    legal_rep_id_masked: str
    certificate_kind: str
    state: str
    state_label: str
    rejection_reason: str | None
    certifier_id: str
    main_admin_id: str | None
    certified_at: datetime | None
    was_certified: bool
    has_licence: bool
    certificate_id: str | None
    created_at: datetime

    @property
    def waiting_for_code_check(self) -> bool:
        return not self.credit_code_check_ok and not self.credit_code_overridden


def enterprise_view(ent: Enterprise) -> EnterpriseView:
    return EnterpriseView(
        ent.id, ent.name, ent.credit_code, ent.credit_code_check_ok,
        ent.credit_code_override_by is not None, ent.address, ent.legal_rep_name,
        ent.legal_rep_id_masked, ent.certificate_kind, ent.state,
        ENTERPRISE_STATE_LABELS[ent.state], ent.rejection_reason, ent.certifier_id,
        ent.main_admin_id, ent.certified_at, ent.certified_at is not None,
        ent.licence_file is not None, ent.certificate_id, ent.created_at,
    )


def attempt_view(a: CertificationAttempt) -> AttemptView:
    public = {k: v for k, v in (a.data or {}).items() if not k.startswith("_")}
    tries_left = DEPOSIT_MAX_TRIES - a.tries if a.method == "micro_deposit" else None
    return AttemptView(
        a.id, a.enterprise_id, a.purpose, a.method, METHODS[a.method], a.state,
        ATTEMPT_STATE_LABELS[a.state], a.tries, tries_left, a.expires_at, a.review_reason,
        public, a.created_at,
    )


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class EnterpriseInput:
    name: str
    credit_code: str
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: str = "cloud"


@dataclass(frozen=True)
class CleanInput:
    name: str
    credit_code: str
    check_ok: bool
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: str


def clean_input(data: EnterpriseInput, *, accept_check_warning: bool) -> CleanInput:
    name = (data.name or "").strip()
    if not 2 <= len(name) <= 100:
        raise InvalidInput("请输入营业执照上的企业名称", code="invalid_enterprise_name",
                           field="name")
    code = (data.credit_code or "").strip().upper()
    if not uscc_format_ok(code):
        raise InvalidInput("统一社会信用代码应为 18 位数字或大写字母", code="invalid_credit_code",
                           field="credit_code")
    check_ok = uscc_check_ok(code)
    if not check_ok and not accept_check_warning:
        raise InvalidInput(
            "统一社会信用代码校验位不符，请核对营业执照。如确认无误，请勾选“确认无误”后继续提交，"
            "平台将人工核对。",
            code="credit_code_check_warning", field="credit_code",
        )
    address = (data.address or "").strip()
    if not 4 <= len(address) <= 200:
        raise InvalidInput("请输入企业地址", code="invalid_address", field="address")
    rep_name = check_person_name(data.legal_rep_name)
    rep_id = normalize_id_card(data.legal_rep_id_number, field="legal_rep_id_number")
    if data.certificate_kind not in CERTIFICATE_KINDS:
        raise InvalidInput("请选择证书类型", code="invalid_certificate_kind",
                           field="certificate_kind")
    return CleanInput(name, code, check_ok, address, rep_name, rep_id, data.certificate_kind)


# ---------------------------------------------------------------- helpers


async def _user(tx: Tx, user_id: str) -> User:
    user = await tx.session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在", code="user_not_found")
    return user


def _require_verified(user: User) -> None:
    if user.identity_state != "verified":
        raise PermissionDenied("请先完成个人实名认证", code="identity_required")


async def _certifier_enterprise(tx: Tx, user_id: str, enterprise_id: str) -> Enterprise:
    """The enterprise as its certifier sees it; other people get NotFound."""
    ent = await R.load_enterprise(tx, enterprise_id, lock=True)
    if ent.certifier_id != user_id:
        raise NotFound("企业不存在", code="enterprise_not_found")
    return ent


async def _live_attempts(tx: Tx, enterprise_id: str, purpose: str,
                         applicant_id: str | None = None) -> list[CertificationAttempt]:
    query = select(CertificationAttempt).where(
        CertificationAttempt.enterprise_id == enterprise_id,
        CertificationAttempt.purpose == purpose,
        CertificationAttempt.state.in_([AttemptState.PENDING, AttemptState.AWAITING_REVIEW]),
    )
    if applicant_id:
        query = query.where(CertificationAttempt.applicant_id == applicant_id)
    return list((await tx.session.execute(query)).scalars().all())


async def _cancel_live(tx: Tx, enterprise_id: str, purpose: str, now: datetime,
                       applicant_id: str | None = None) -> None:
    for a in await _live_attempts(tx, enterprise_id, purpose, applicant_id):
        a.state = AttemptState.CANCELLED
        a.completed_at = now


def _deposit_hash(deps: Deps, attempt_id: str, cents: int) -> str:
    key = derive_key(deps.config.server.secret_key, "micro-deposit")
    return hmac.new(key, f"{attempt_id}:{cents}".encode(), hashlib.sha256).hexdigest()


async def _own_attempt(tx: Tx, user_id: str, attempt_id: str) -> CertificationAttempt:
    attempt = (
        await tx.session.execute(
            select(CertificationAttempt).where(CertificationAttempt.id == attempt_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if attempt is None or attempt.applicant_id != user_id:
        raise NotFound("认证记录不存在", code="attempt_not_found")
    return attempt


def _check_open(attempt: CertificationAttempt, now: datetime, *methods: str) -> None:
    if attempt.method not in methods:
        raise Conflict("认证方式不匹配", code="wrong_method")
    if attempt.state != AttemptState.PENDING:
        raise Conflict("该认证已结束，请重新发起", code="attempt_closed")


def _expire_if_due(attempt: CertificationAttempt, now: datetime) -> bool:
    if attempt.expires_at is not None and attempt.expires_at <= now \
            and attempt.state == AttemptState.PENDING:
        ATTEMPT_SM.ensure(attempt.state, AttemptState.EXPIRED)
        attempt.state = AttemptState.EXPIRED
        attempt.completed_at = now
        return True
    return False


# ---------------------------------------------------------------- queries


async def my_enterprises(deps: Deps, user_id: str) -> tuple[list[EnterpriseView],
                                                            list[EnterpriseView]]:
    """(enterprises I certified or am certifying, enterprises I am an active member of)."""
    async with deps.db.sessions() as session:
        certified = (
            await session.execute(
                select(Enterprise).where(Enterprise.certifier_id == user_id)
                .order_by(Enterprise.created_at.desc())
            )
        ).scalars().all()
        joined = (
            await session.execute(
                select(Enterprise).join(Member, Member.enterprise_id == Enterprise.id)
                .where(Member.user_id == user_id, Member.status == "active")
                .order_by(Enterprise.name)
            )
        ).scalars().all()
    return [enterprise_view(e) for e in certified], [enterprise_view(e) for e in joined]


async def certification_status(
    deps: Deps, user_id: str, enterprise_id: str
) -> tuple[EnterpriseView, list[AttemptView]]:
    """The certifier's view of their enterprise and its attempts (continue page)."""
    async with deps.db.transaction() as tx:
        ent = await _certifier_enterprise(tx, user_id, enterprise_id)
        now = deps.clock.now()
        rows = (
            await tx.session.execute(
                select(CertificationAttempt).where(
                    CertificationAttempt.enterprise_id == ent.id,
                    CertificationAttempt.purpose == "certify",
                ).order_by(CertificationAttempt.created_at.desc()).limit(20)
            )
        ).scalars().all()
        for a in rows:
            _expire_if_due(a, now)
        return enterprise_view(ent), [attempt_view(a) for a in rows]


async def get_attempt(deps: Deps, user_id: str, attempt_id: str) -> AttemptView:
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        _expire_if_due(attempt, deps.clock.now())
        return attempt_view(attempt)


# ---------------------------------------------------------------- submit / resubmit


async def _store_licence(deps: Deps, licence: bytes | None) -> str | None:
    if licence is None:
        return None
    image = await check_image(licence, LICENCE_MAX_BYTES, "营业执照照片")
    return await asyncio.to_thread(file_store(deps).put, "licence", image.data, image.ext)


async def submit_enterprise(
    deps: Deps,
    user_id: str,
    data: EnterpriseInput,
    licence: bytes | None,
    meta: RequestMeta,
    *,
    accept_check_warning: bool = False,
) -> EnterpriseView:
    clean = clean_input(data, accept_check_warning=accept_check_warning)
    if licence is None:
        raise InvalidInput("请上传营业执照照片", code="licence_required", field="licence")
    licence_key = await _store_licence(deps, licence)
    now = deps.clock.now()
    c = cipher(deps)
    async with discard_on_error(deps, licence_key), deps.db.transaction() as tx:
        _require_verified(await _user(tx, user_id))
        taken = (
            await tx.session.execute(
                select(Enterprise.id, Enterprise.certifier_id, Enterprise.state).where(
                    Enterprise.credit_code == clean.credit_code,
                    Enterprise.state.in_([EnterpriseState.CERTIFIED, EnterpriseState.CERTIFYING,
                                          EnterpriseState.REJECTED]),
                )
            )
        ).all()
        for _, certifier_id, state in taken:
            if state == EnterpriseState.CERTIFIED:
                raise Conflict("该企业已完成认证，请申请加入企业", code="enterprise_exists",
                               field="credit_code")
            if certifier_id == user_id:
                raise Conflict("您已提交过该企业的认证，请在“我的企业”中继续认证",
                               code="certification_in_progress", field="credit_code")
        ent = Enterprise(
            name=clean.name, credit_code=clean.credit_code, credit_code_check_ok=clean.check_ok,
            address=clean.address, legal_rep_name=clean.legal_rep_name,
            legal_rep_id_cipher=c.encrypt(clean.legal_rep_id_number),
            legal_rep_id_hash=c.lookup_hash(clean.legal_rep_id_number),
            legal_rep_id_masked=mask_id_number(clean.legal_rep_id_number),
            licence_file=licence_key, certificate_kind=clean.certificate_kind,
            state=EnterpriseState.CERTIFYING, certifier_id=user_id, onboarding_fields=[
                "name", "phone", "id_number", "department", "position", "start_date",
            ], created_at=now, updated_at=now,
        )
        tx.session.add(ent)
        await tx.session.flush()
        await log(tx, deps, "enterprise.submitted", actor_id=user_id, enterprise_id=ent.id,
                  subject_type="enterprise", subject_id=ent.id,
                  data={"name": ent.name, "credit_code": ent.credit_code,
                        "credit_code_check_ok": clean.check_ok}, meta=meta)
        return enterprise_view(ent)


async def resubmit_enterprise(
    deps: Deps,
    user_id: str,
    enterprise_id: str,
    data: EnterpriseInput,
    licence: bytes | None,
    meta: RequestMeta,
    *,
    accept_check_warning: bool = False,
) -> EnterpriseView:
    """After 驳回: correct the information (and licence) and certify again."""
    clean = clean_input(data, accept_check_warning=accept_check_warning)
    licence_key = await _store_licence(deps, licence)
    now = deps.clock.now()
    c = cipher(deps)
    async with discard_on_error(deps, licence_key), deps.db.transaction() as tx:
        ent = await _certifier_enterprise(tx, user_id, enterprise_id)
        ENTERPRISE_SM.ensure(ent.state, EnterpriseState.CERTIFYING)
        if ent.state != EnterpriseState.REJECTED:
            raise Conflict("仅被驳回的认证可以重新提交", code="not_rejected")
        ent.name, ent.credit_code, ent.address = clean.name, clean.credit_code, clean.address
        if ent.credit_code_check_ok != clean.check_ok:
            ent.credit_code_override_by = None
        ent.credit_code_check_ok = clean.check_ok
        ent.legal_rep_name = clean.legal_rep_name
        ent.legal_rep_id_cipher = c.encrypt(clean.legal_rep_id_number)
        ent.legal_rep_id_hash = c.lookup_hash(clean.legal_rep_id_number)
        ent.legal_rep_id_masked = mask_id_number(clean.legal_rep_id_number)
        ent.certificate_kind = clean.certificate_kind
        if licence_key:
            ent.licence_file = licence_key
        ent.state = EnterpriseState.CERTIFYING
        ent.rejection_reason = None
        ent.updated_at = now
        await log(tx, deps, "enterprise.resubmitted", actor_id=user_id, enterprise_id=ent.id,
                  subject_type="enterprise", subject_id=ent.id,
                  data={"name": ent.name, "credit_code": ent.credit_code}, meta=meta)
        return enterprise_view(ent)


async def revoke_certification(
    deps: Deps, user_id: str, enterprise_id: str, meta: RequestMeta
) -> EnterpriseView:
    """撤销: give up an unfinished certification (never one that was certified before)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        ent = await _certifier_enterprise(tx, user_id, enterprise_id)
        if ent.certified_at is not None:
            raise Conflict("已认证过的企业不能撤销，请完成重新认证", code="was_certified")
        ENTERPRISE_SM.ensure(ent.state, EnterpriseState.REVOKED)
        ent.state = EnterpriseState.REVOKED
        ent.updated_at = now
        await _cancel_live(tx, ent.id, "certify", now)
        await log(tx, deps, "enterprise.revoked", actor_id=user_id, enterprise_id=ent.id,
                  subject_type="enterprise", subject_id=ent.id, meta=meta)
        return enterprise_view(ent)


# ---------------------------------------------------------------- attempts (shared)


@dataclass(frozen=True)
class Subject:
    """What an attempt proves control of, loaded for the method flows."""

    enterprise_id: str
    name: str
    credit_code: str
    legal_rep_name: str
    legal_rep_id: str


async def _open_subject(
    tx: Tx, deps: Deps, user_id: str, enterprise_id: str, purpose: str
) -> Enterprise:
    """Check that `user_id` may start an attempt of `purpose` on the enterprise."""
    if purpose == "certify":
        ent = await _certifier_enterprise(tx, user_id, enterprise_id)
        if ent.state != EnterpriseState.CERTIFYING:
            raise Conflict(f"企业当前状态为“{ENTERPRISE_STATE_LABELS[ent.state]}”，不能认证",
                           code="not_certifying")
        return ent
    if purpose == "appeal":
        from core.enterprise.admin_change import open_appeal_for

        return await open_appeal_for(tx, deps, user_id, enterprise_id)
    raise InvalidInput("未知的认证用途", code="invalid_purpose")


async def _new_attempt(
    tx: Tx, deps: Deps, ent: Enterprise, user_id: str, purpose: str, method: str,
    ttl: timedelta | None, data: dict[str, object] | None = None,
) -> CertificationAttempt:
    now = deps.clock.now()
    await _cancel_live(tx, ent.id, purpose, now, applicant_id=user_id)
    attempt = CertificationAttempt(
        enterprise_id=ent.id, purpose=purpose, applicant_id=user_id, method=method,
        state=AttemptState.PENDING, data=dict(data or {}), tries=0,
        expires_at=now + ttl if ttl else None, created_at=now,
    )
    tx.session.add(attempt)
    await tx.session.flush()
    return attempt


async def _fail(tx: Tx, deps: Deps, attempt: CertificationAttempt, reason: str,
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


async def _pass(tx: Tx, deps: Deps, attempt: CertificationAttempt, meta: RequestMeta | None,
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
    await _certify(tx, deps, ent, meta)
    return True


async def _certify(tx: Tx, deps: Deps, ent: Enterprise, meta: RequestMeta | None) -> None:
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
        user = await _user(tx, ent.certifier_id)
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
    user = await _user(tx, ent.certifier_id)
    await queue_sms(tx, deps, user.phone, "notice",
                    {"text": f"企业“{ent.name}”已完成认证，您已成为该企业的主管理员。"})


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
            ent = await _open_subject(tx, deps, user_id, enterprise_id, purpose)
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
        ent = await _open_subject(tx, deps, user_id, enterprise_id, purpose)
        await proofs.check_start(tx, deps, proofs.LEGAL_REP_CODE, ent.id, user_id)
        await sms_codes.check_send_limits(tx, deps, phone, meta)
        attempt = await _new_attempt(
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
            attempt = await _own_attempt(tx, user_id, attempt_id)
            enterprise_id = attempt.enterprise_id
            now = deps.clock.now()
            if _expire_if_due(attempt, now):
                error = InvalidInput("认证已过期，请重新发起", code="attempt_expired")
            else:
                _check_open(attempt, now, "legal_rep_phone")
                await proofs.check_answer(tx, deps, rule, enterprise_id, user_id)
                check = await sms_codes.verify(tx, deps, attempt.data["_phone"], SMS_PURPOSE,
                                               code)
                if check.ok:
                    await sms_codes.consume(tx, deps, check)
                    await _pass(tx, deps, attempt, meta)
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


# ---------------------------------------------------------------- method: legal-rep face


async def start_face(
    deps: Deps, user_id: str, enterprise_id: str, return_url: str, meta: RequestMeta,
    *, purpose: str = "certify",
) -> tuple[AttemptView, str]:
    """Start the provider's liveness flow for the legal rep; returns the redirect URL."""
    async with deps.db.transaction() as tx:
        ent = await _open_subject(tx, deps, user_id, enterprise_id, purpose)
        attempt = await _new_attempt(tx, deps, ent, user_id, purpose, "legal_rep_face",
                                     FACE_ATTEMPT_TTL)
        rep_name, rep_id = ent.legal_rep_name, cipher(deps).decrypt(ent.legal_rep_id_cipher)
        attempt_id = attempt.id
    try:
        session = await deps.identity.start_face(
            rep_name, rep_id, return_url.replace("{attempt}", attempt_id)
        )
    except Exception as exc:
        async with deps.db.transaction() as tx:
            attempt = await _own_attempt(tx, user_id, attempt_id)
            await _fail(tx, deps, attempt, "刷脸服务暂不可用", meta)
        raise ProviderUnavailable("刷脸服务暂时不可用，请稍后重试") from exc
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        attempt.data = {**attempt.data, "_provider_ref": session.provider_ref}
        await log(tx, deps, f"{purpose}.face_started", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt), session.redirect_url


async def face_result(
    deps: Deps, user_id: str, attempt_id: str, meta: RequestMeta
) -> AttemptView:
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        if attempt.state != AttemptState.PENDING or attempt.method != "legal_rep_face":
            return attempt_view(attempt)
        ref = attempt.data.get("_provider_ref")
    if not ref:
        raise Conflict("刷脸尚未开始", code="face_not_started")
    result = await deps.identity.face_result(str(ref))
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        if attempt.state != AttemptState.PENDING:
            return attempt_view(attempt)
        if _expire_if_due(attempt, deps.clock.now()):
            return attempt_view(attempt)
        if result.state == "verified":
            await _pass(tx, deps, attempt, meta)
        elif result.state == "failed":
            await _fail(tx, deps, attempt, result.message or "人脸比对未通过", meta)
        return attempt_view(attempt)


# ---------------------------------------------------------------- method: authorisation letter


async def start_letter(
    deps: Deps, user_id: str, enterprise_id: str, meta: RequestMeta,
    *, purpose: str = "certify",
) -> AttemptView:
    async with deps.db.transaction() as tx:
        ent = await _open_subject(tx, deps, user_id, enterprise_id, purpose)
        attempt = await _new_attempt(tx, deps, ent, user_id, purpose, "auth_letter",
                                     LETTER_ATTEMPT_TTL)
        await log(tx, deps, f"{purpose}.letter_started", actor_id=user_id,
                  enterprise_id=ent.id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt)


async def letter_pdf(deps: Deps, user_id: str, attempt_id: str) -> bytes:
    """The pre-filled letter for the applicant to print, stamp and photograph."""
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        if attempt.method != "auth_letter":
            raise Conflict("认证方式不匹配", code="wrong_method")
        ent = await R.load_enterprise(tx, attempt.enterprise_id)
        user = await _user(tx, user_id)
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
        attempt = await _own_attempt(tx, user_id, attempt_id)
        now = deps.clock.now()
        if _expire_if_due(attempt, now):
            return attempt_view(attempt)
        _check_open(attempt, now, "auth_letter")
    key = await asyncio.to_thread(file_store(deps).put, "letter", image.data, image.ext)
    async with discard_on_error(deps, key), deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        ATTEMPT_SM.ensure(attempt.state, AttemptState.AWAITING_REVIEW)
        attempt.state = AttemptState.AWAITING_REVIEW
        attempt.data = {**attempt.data, "letter_file": key, "uploaded_at": now.isoformat()}
        await log(tx, deps, f"{attempt.purpose}.letter_uploaded", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id, meta=meta)
        return attempt_view(attempt)


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
        applicant = await _user(tx, attempt.applicant_id)
        if approve:
            await _pass(tx, deps, attempt, meta, actor_id=operator_id)
            text = f"您为“{ent.name}”提交的授权委托书已审核通过。"
        else:
            await _fail(tx, deps, attempt, reason, meta, actor_id=operator_id)
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


# ---------------------------------------------------------------- method: micro-deposit


async def start_deposit(
    deps: Deps, user_id: str, enterprise_id: str, *, account_name: str, account_number: str,
    bank_name: str, meta: RequestMeta, purpose: str = "certify",
) -> AttemptView:
    account_number = (account_number or "").replace(" ", "")
    if not account_number.isdigit() or not 6 <= len(account_number) <= 30:
        raise InvalidInput("请输入正确的对公银行账号", code="invalid_account",
                           field="account_number")
    bank_name = (bank_name or "").strip()
    if not 2 <= len(bank_name) <= 60:
        raise InvalidInput("请输入开户银行", code="invalid_bank", field="bank_name")
    account_name = (account_name or "").strip()
    cents = secrets.randbelow(99) + 1  # 0.01–0.99 CNY
    try:
        async with deps.db.transaction() as tx:
            ent = await _open_subject(tx, deps, user_id, enterprise_id, purpose)
            if account_name != ent.name:
                raise InvalidInput("对公账户户名须与企业名称一致", code="account_name_mismatch",
                                   field="account_name")
            # 99 possible amounts: restarts are limited, not only the tries of each.
            await proofs.check_deposit_lock(tx, deps, ent.id)
            await proofs.check_start(tx, deps, proofs.DEPOSIT, ent.id, user_id)
            attempt = await _new_attempt(
                tx, deps, ent, user_id, purpose, "micro_deposit", DEPOSIT_TTL,
                {"account_masked": mask_bank_card(account_number), "bank_name": bank_name},
            )
            attempt.secret_hash = _deposit_hash(deps, attempt.id, cents)
            attempt_id = attempt.id
    except (RateLimited, Locked) as err:
        await proofs.refused(deps, proofs.DEPOSIT, enterprise_id, user_id, err, meta)
        raise
    try:
        transfer_id = await payment_gateway(deps).transfer(
            Transfer(account_name, account_number, bank_name, cents, attempt_id)
        )
    except Exception as exc:
        async with deps.db.transaction() as tx:
            attempt = await _own_attempt(tx, user_id, attempt_id)
            await _fail(tx, deps, attempt, "打款失败", meta)
        if isinstance(exc, DomainError):
            raise
        raise ProviderUnavailable("打款失败，请核对账户信息或稍后重试",
                                  code="transfer_failed") from exc
    async with deps.db.transaction() as tx:
        attempt = await _own_attempt(tx, user_id, attempt_id)
        attempt.data = {**attempt.data, "transfer_id": transfer_id}
        await log(tx, deps, f"{purpose}.deposit_sent", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id,
                  data={"account": mask_bank_card(account_number), "bank": bank_name},
                  meta=meta)
        return attempt_view(attempt)


def parse_amount(value: str) -> int:
    text = (value or "").strip()
    try:
        # Bounded before Decimal sees it; NaN and Infinity parse but cannot be compared.
        amount = Decimal(text) if len(text) <= 20 else Decimal("NaN")
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise InvalidInput("请输入收到的金额，如 0.37", code="invalid_amount",
                           field="amount") from None
    if amount <= 0 or amount >= 1 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("金额应在 0.01 到 0.99 元之间", code="invalid_amount", field="amount")
    return int(amount * 100)


async def confirm_deposit(
    deps: Deps, user_id: str, attempt_id: str, amount: str, meta: RequestMeta
) -> AttemptView:
    """Check the typed amount: 3 tries, then the attempt fails; expired offers fail too."""
    cents = parse_amount(amount)
    error: DomainError | None = None
    enterprise_id = ""
    try:
        async with deps.db.transaction() as tx:
            attempt = await _own_attempt(tx, user_id, attempt_id)
            enterprise_id = attempt.enterprise_id
            now = deps.clock.now()
            if _expire_if_due(attempt, now):
                await log(tx, deps, f"{attempt.purpose}.deposit_expired", actor_id=user_id,
                          enterprise_id=attempt.enterprise_id,
                          subject_type="certification_attempt", subject_id=attempt.id,
                          meta=meta)
                error = InvalidInput("打款验证已过期，请重新发起", code="attempt_expired")
            else:
                _check_open(attempt, now, "micro_deposit")
                await proofs.check_answer(tx, deps, proofs.DEPOSIT, enterprise_id, user_id)
                expected = attempt.secret_hash or ""
                if hmac.compare_digest(expected, _deposit_hash(deps, attempt.id, cents)):
                    await _pass(tx, deps, attempt, meta)
                else:
                    error = await _wrong_amount(tx, deps, attempt, meta)
            view = attempt_view(attempt)
    except RateLimited as err:
        await proofs.refused(deps, proofs.DEPOSIT, enterprise_id, user_id, err, meta)
        raise
    if error is not None:
        raise error
    return view


async def _wrong_amount(tx: Tx, deps: Deps, attempt: CertificationAttempt,
                        meta: RequestMeta) -> DomainError:
    attempt.tries += 1
    left = DEPOSIT_MAX_TRIES - attempt.tries
    if left <= 0:
        await _fail(tx, deps, attempt, "金额错误次数过多", meta)
    await proofs.wrong_answer(tx, deps, proofs.DEPOSIT, attempt.enterprise_id,
                              attempt.applicant_id, used_up=left <= 0,
                              subject=("certification_attempt", attempt.id), meta=meta)
    if left > 0:
        return InvalidInput(f"金额不正确，还可尝试 {left} 次", code="wrong_amount",
                            field="amount")
    minutes = proofs.DEPOSIT.cooldown_seconds // 60
    return InvalidInput(f"金额错误次数过多，本次打款验证失败。为保障企业安全，请 {minutes} 分钟后"
                        "再重新发起；每天最多发起 "
                        f"{proofs.DEPOSIT.starts_per_day} 次打款验证", code="deposit_exhausted",
                        field="amount")


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


# ---------------------------------------------------------------- information changes


async def change_enterprise_info(
    deps: Deps,
    user_id: str,
    enterprise_id: str,
    *,
    name: str | None = None,
    credit_code: str | None = None,
    address: str | None = None,
    legal_rep_name: str | None = None,
    legal_rep_id_number: str | None = None,
    meta: RequestMeta,
) -> EnterpriseView:
    """Name/credit code → all seals void + re-certification; legal rep → 法人章 void."""
    from core.enterprise.seals import ensure_standard_seals, void_seals

    now = deps.clock.now()
    c = cipher(deps)
    async with deps.db.transaction() as tx:
        await R.require_main_admin(tx, user_id, enterprise_id)
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        if ent.state != EnterpriseState.CERTIFIED:
            raise Conflict("企业认证完成后才能变更信息", code="not_certified")
        changes: dict[str, object] = {}
        identity_changed = False
        if name is not None and name.strip() != ent.name:
            new_name = name.strip()
            if not 2 <= len(new_name) <= 100:
                raise InvalidInput("请输入营业执照上的企业名称", code="invalid_enterprise_name",
                                   field="name")
            changes["name"] = [ent.name, new_name]
            ent.name = new_name
            identity_changed = True
        if credit_code is not None and credit_code.strip().upper() != ent.credit_code:
            code = credit_code.strip().upper()
            if not uscc_format_ok(code):
                raise InvalidInput("统一社会信用代码应为 18 位数字或大写字母",
                                   code="invalid_credit_code", field="credit_code")
            changes["credit_code"] = [ent.credit_code, code]
            ent.credit_code = code
            ent.credit_code_check_ok = uscc_check_ok(code)
            ent.credit_code_override_by = None
            identity_changed = True
        if address is not None and address.strip() != ent.address:
            if not 4 <= len(address.strip()) <= 200:
                raise InvalidInput("请输入企业地址", code="invalid_address", field="address")
            changes["address"] = True
            ent.address = address.strip()
        rep_changed = False
        if legal_rep_name is not None or legal_rep_id_number is not None:
            rep_name = check_person_name(legal_rep_name or "")
            rep_id = normalize_id_card(legal_rep_id_number or "", field="legal_rep_id_number")
            if rep_name != ent.legal_rep_name or c.lookup_hash(rep_id) != ent.legal_rep_id_hash:
                ent.legal_rep_name = rep_name
                ent.legal_rep_id_cipher = c.encrypt(rep_id)
                ent.legal_rep_id_hash = c.lookup_hash(rep_id)
                ent.legal_rep_id_masked = mask_id_number(rep_id)
                changes["legal_rep"] = True
                rep_changed = True
        if not changes:
            return enterprise_view(ent)
        ent.updated_at = now
        if identity_changed:
            await void_seals(tx, deps, ent, None, "企业名称或统一社会信用代码变更", user_id)
            ENTERPRISE_SM.ensure(ent.state, EnterpriseState.CERTIFYING)
            ent.state = EnterpriseState.CERTIFYING
            await pki.queue_revoke(tx, deps, "enterprise", ent.id, "superseded",
                                   enterprise_id=ent.id, actor_id=user_id)
            ent.certificate_id = None
        elif rep_changed:
            await void_seals(tx, deps, ent, {"legal_rep"}, "法定代表人变更", user_id)
            # a new 法人章 in the new representative's name (image and certificate follow)
            await ensure_standard_seals(tx, deps, ent)
            await pki.queue_issue(tx, deps, ent.id)
        await log(tx, deps, "enterprise.info_changed", actor_id=user_id, enterprise_id=ent.id,
                  subject_type="enterprise", subject_id=ent.id,
                  data={"changes": changes, "recertify": identity_changed}, meta=meta)
        return enterprise_view(ent)


async def licence_image(deps: Deps, user_id: str, enterprise_id: str) -> tuple[bytes, str]:
    """The licence photo, for the certifier, the enterprise's managers or an operator."""
    from core.files import content_type_for

    async with deps.db.transaction() as tx:
        ent = await R.load_enterprise(tx, enterprise_id)
        allowed = ent.certifier_id == user_id or await R.is_operator(tx, user_id)
        if not allowed:
            await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        key = ent.licence_file
    if not key:
        raise NotFound("未上传营业执照", code="licence_missing")
    return await asyncio.to_thread(file_store(deps).get, key), content_type_for(key)


async def cancel_attempts_on_expiry(deps: Deps) -> int:
    """Mark every overdue pending attempt expired (for a periodic job); returns the count."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        result = await tx.session.execute(
            update(CertificationAttempt)
            .where(CertificationAttempt.state == AttemptState.PENDING,
                   CertificationAttempt.expires_at <= now)
            .values(state=AttemptState.EXPIRED, completed_at=now)
        )
        return int(result.rowcount or 0)
