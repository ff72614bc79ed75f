"""The enterprise profile: my enterprises, status, submitting, resubmitting and revoking a
certification, information changes and the licence image."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.crypto import mask_id_number
from core.enterprise import pki
from core.enterprise import roles as R
from core.enterprise.certification.attempts import (
    cancel_live,
    certifier_enterprise,
    expire_if_due,
    load_user,
    own_attempt,
    require_verified,
)
from core.enterprise.certification.states import ENTERPRISE_SM, LICENCE_MAX_BYTES, EnterpriseState
from core.enterprise.certification.views import (
    AttemptView,
    EnterpriseInput,
    EnterpriseView,
    attempt_view,
    clean_input,
    enterprise_view,
)
from core.enterprise.common import cipher, discard_on_error, log
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from core.files import check_image, file_store
from core.validators import (
    check_person_name,
    normalize_id_card,
    uscc_check_ok,
    uscc_format_ok,
)
from storage.models import (
    CertificationAttempt,
    Enterprise,
    Member,
)

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
        ent = await certifier_enterprise(tx, user_id, enterprise_id)
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
            expire_if_due(a, now)
        return enterprise_view(ent), [attempt_view(a) for a in rows]


async def get_attempt(deps: Deps, user_id: str, attempt_id: str) -> AttemptView:
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        expire_if_due(attempt, deps.clock.now())
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
        require_verified(await load_user(tx, user_id))
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
        ent = await certifier_enterprise(tx, user_id, enterprise_id)
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
        ent = await certifier_enterprise(tx, user_id, enterprise_id)
        if ent.certified_at is not None:
            raise Conflict("已认证过的企业不能撤销，请完成重新认证", code="was_certified")
        ENTERPRISE_SM.ensure(ent.state, EnterpriseState.REVOKED)
        ent.state = EnterpriseState.REVOKED
        ent.updated_at = now
        await cancel_live(tx, ent.id, "certify", now)
        await log(tx, deps, "enterprise.revoked", actor_id=user_id, enterprise_id=ent.id,
                  subject_type="enterprise", subject_id=ent.id, meta=meta)
        return enterprise_view(ent)



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
