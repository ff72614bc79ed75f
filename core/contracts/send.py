"""Creating and sending a contract: HR uploads a PDF, places signature boxes, picks signers.

Every check that can refuse the upload (size, real PDF, boxes on the pages) runs before the
first row is written; every signature field is added to the PDF (prepare_document) before
anyone signs, so no later change can break an earlier signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import common, numbers, page_marks, reminders, turns
from core.contracts.engine import DATE_MARK, PdfInfo, inspect_pdf, prepare
from core.contracts.states import CONTRACT, REJECT_BY, ContractState, SignerState
from core.cpu import run_cpu
from core.crypto import mask_phone, sha256_hex
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, PayloadTooLarge
from core.files import read_verified
from core.signing.pdf import FieldSpec
from core.sms import queue_sms
from core.templates.fields import DATE_FORMATS
from core.validators import check_person_name, normalize_phone
from storage.models import (
    BusinessType,
    Contract,
    ContractCc,
    ContractDocument,
    ContractSigner,
    DocumentHash,
    Enterprise,
    Member,
    Seal,
    SignatureField,
    User,
)
from storage.uow import Tx

MAX_SIGNERS = 20
MAX_BOXES_PER_SIGNER = 10
MAX_DEADLINE_DAYS = 365
MAX_CC = 20
PARTIES = ("person", "enterprise")
# The business type a contract gets when the sender picks none.
DEFAULT_BUSINESS_TYPE = "劳动合同"


@dataclass(frozen=True)
class CcSpec:
    """Who a contract is copied to (抄送): a member of the sending enterprise, or a phone
    typed with an optional name."""

    member_id: str | None = None
    phone: str = ""
    name: str = ""


@dataclass(frozen=True)
class Options:
    """The options chosen when sending: confidential (only the initiator, the handler,
    cc and the main admin see it), cc, and the page marks (core.contracts.page_marks):
    a verification QR on every page (防抽页) and the cross-page seal (骑缝章)."""

    confidential: bool = False
    cc: tuple[CcSpec, ...] = ()
    page_qr: bool = False
    cross_seal: bool = False
    # Who may refuse to sign (states.REJECT_BY).
    reject_by: str = "all"


OnSent = Callable[[Tx, Contract, list[ContractSigner]], Awaitable[None]]


@dataclass(frozen=True)
class Box:
    """0-based page and rectangle (x1, y1, x2, y2) in PDF points, origin bottom-left."""

    page: int
    rect: tuple[float, float, float, float]
    # Not empty: the box shows the signing date alone, in this format (a template's
    # 签署日期 field; core.templates.fields.DATE_FORMATS).
    date_format: str = ""


@dataclass(frozen=True)
class SignerSpec:
    party: str
    boxes: tuple[Box, ...]
    name: str = ""
    phone: str = ""
    seal_id: str | None = None
    order: int = 1


@dataclass
class _Plan:
    specs: list[SignerSpec]
    fields: list[list[FieldSpec]] = field(default_factory=list)
    # The page-verification token when the pages carry QR codes (page_marks).
    page_token: str | None = None


def check_title(title: str) -> str:
    title = (title or "").strip()
    if not title or len(title) > 100:
        raise InvalidInput("请填写合同名称（100 字以内）", code="invalid_title", field="title")
    return title


def check_filename(name: str | None) -> str:
    name = (name or "contract.pdf").strip().replace("/", "_").replace("\\", "_")[:200]
    return name if name.lower().endswith(".pdf") else name + ".pdf"


def check_size(deps: Deps, data: bytes) -> None:
    limit = deps.config.signing.max_upload_bytes
    if not data:
        raise InvalidInput("请选择要上传的 PDF 文件", code="empty_upload", field="file")
    if len(data) > limit:
        raise PayloadTooLarge(f"PDF 文件不能超过 {limit // (1024 * 1024)} MB",
                              code="pdf_too_large")


async def check_pdf(deps: Deps, data: bytes) -> PdfInfo:
    check_size(deps, data)
    return await run_cpu(inspect_pdf, bytes(data), deps.config.signing.max_upload_bytes)


def _check_deadline(deps: Deps, deadline: datetime | None) -> datetime | None:
    if deadline is None:
        return None
    now = deps.clock.now()
    if deadline.tzinfo is None:
        raise InvalidInput("截止时间须带时区", code="invalid_deadline", field="deadline")
    if deadline <= now or deadline > now + timedelta(days=MAX_DEADLINE_DAYS):
        raise InvalidInput("截止时间须在现在之后一年以内", code="invalid_deadline",
                           field="deadline")
    return deadline


def plan_fields(specs: list[SignerSpec], info: PdfInfo, max_boxes: int | None = None) -> _Plan:
    """Validate signers and boxes against the pages; name one field per box.

    `max_boxes` caps the boxes of all signers together: each box becomes one signature,
    and a signed contract must stay within what verification accepts ([verify]
    max_signatures).
    """
    if not specs:
        raise InvalidInput("请至少添加一个签署方", code="no_signers", field="signers")
    if len(specs) > MAX_SIGNERS:
        raise InvalidInput(f"签署方不能超过 {MAX_SIGNERS} 个", code="too_many_signers")
    if max_boxes is not None and sum(len(s.boxes) for s in specs) > max_boxes:
        raise InvalidInput(f"签署位置合计不能超过 {max_boxes} 个", code="too_many_boxes",
                           field="boxes")
    cleaned: list[SignerSpec] = []
    phones: set[str] = set()
    enterprises = 0
    for spec in specs:
        if spec.party not in PARTIES:
            raise InvalidInput("签署方类型无效", code="invalid_party", field="party")
        if not 1 <= spec.order <= 10:
            raise InvalidInput("签署顺序须在 1 到 10 之间", code="invalid_order", field="order")
        if not spec.boxes:
            raise InvalidInput("每个签署方至少需要一个签署位置", code="no_boxes", field="boxes")
        if len(spec.boxes) > MAX_BOXES_PER_SIGNER:
            raise InvalidInput(f"每个签署方最多 {MAX_BOXES_PER_SIGNER} 个签署位置",
                               code="too_many_boxes", field="boxes")
        for box in spec.boxes:
            if not 0 <= box.page < info.page_count:
                raise InvalidInput(f"签署位置的页码超出范围（共 {info.page_count} 页）",
                                   code="signature_field_invalid", field="page")
            w, h = info.page_sizes[box.page]
            x1, y1, x2, y2 = box.rect
            if not (0 <= x1 < x2 <= w + 0.5 and 0 <= y1 < y2 <= h + 0.5):
                raise InvalidInput("签署位置超出了页面范围", code="signature_field_invalid",
                                   field="rect")
            if x2 - x1 < 20 or y2 - y1 < 20:
                raise InvalidInput("签署位置太小", code="signature_field_invalid", field="rect")
            if box.date_format and box.date_format not in DATE_FORMATS:
                raise InvalidInput("签署日期格式无效", code="signature_field_invalid",
                                   field="date_format")
        if spec.party == "person":
            phone = normalize_phone(spec.phone)
            if phone in phones:
                raise InvalidInput("同一手机号不能重复添加为签署人", code="duplicate_signer",
                                   field="phone")
            phones.add(phone)
            cleaned.append(SignerSpec("person", spec.boxes, check_person_name(spec.name),
                                      phone, None, spec.order))
        else:
            enterprises += 1
            cleaned.append(SignerSpec("enterprise", spec.boxes, "", "", spec.seal_id,
                                      spec.order))
    if enterprises > 1:
        raise InvalidInput("目前只支持发起企业一方盖章", code="too_many_enterprises")
    plan = _Plan(cleaned)
    for i, spec in enumerate(cleaned):
        prefix = "ent" if spec.party == "enterprise" else f"p{i}"
        plan.fields.append(
            [FieldSpec(f"{prefix}_{j + 1}"
                       + (f"{DATE_MARK}{box.date_format}" if box.date_format else ""),
                       box.page, box.rect)
             for j, box in enumerate(spec.boxes)]
        )
    return plan


async def _seal_for(tx: Tx, enterprise_id: str, seal_id: str | None) -> Seal:
    if seal_id:
        seal = await tx.session.get(Seal, seal_id)
        if seal is None or seal.enterprise_id != enterprise_id:
            raise InvalidInput("印章不存在", code="seal_not_found", field="seal_id")
        if seal.status != "enabled":
            raise InvalidInput("印章已停用或作废", code="seal_unavailable", field="seal_id")
        return seal
    seals = list(
        (
            await tx.session.execute(
                select(Seal).where(Seal.enterprise_id == enterprise_id, Seal.status == "enabled")
                .order_by(Seal.created_at)
            )
        ).scalars()
    )
    for kind in ("contract", "official"):
        for seal in seals:
            if seal.kind == kind:
                return seal
    if seals:
        return seals[0]
    raise InvalidInput("企业还没有可用的印章，请先在印章管理中添加", code="no_seal")


async def _sender_enterprise(tx: Tx, user_id: str, enterprise_id: str) -> Enterprise:
    await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_SEND)
    ent = await roles.load_enterprise(tx, enterprise_id)
    if ent.state != "certified":
        raise Conflict("企业完成认证后才能发起合同", code="enterprise_not_certified")
    return ent


async def _check_seals(tx: Tx, enterprise_id: str, plan: _Plan) -> list[SignerSpec]:
    out = []
    for spec in plan.specs:
        if spec.party == "enterprise":
            seal = await _seal_for(tx, enterprise_id, spec.seal_id)
            spec = SignerSpec("enterprise", spec.boxes, "", "", seal.id, spec.order)
        out.append(spec)
    plan.specs = out
    return out


def _put(deps: Deps, data: bytes) -> tuple[str, str]:
    """Store a PDF and hash it in one worker-thread hop: (key, sha256). Hashing 10 MB takes
    tens of milliseconds, too long for the event loop or a held write lock."""
    return common.store(deps).put(common.FILE_AREA, data, "pdf"), sha256_hex(data)


async def _delete_files(deps: Deps, *keys: str) -> None:
    for key in keys:
        await asyncio.to_thread(common.store(deps).delete, key)


async def create_draft(
    deps: Deps,
    user_id: str,
    enterprise_id: str,
    *,
    title: str,
    filename: str | None,
    pdf: bytes,
    meta: RequestMeta,
    business_type_id: str | None = None,
) -> str:
    """Upload step of the console: a draft holding the checked original PDF."""
    title = check_title(title)
    async with deps.db.transaction() as tx:
        await _sender_enterprise(tx, user_id, enterprise_id)
        await business_type_for(tx, user_id, enterprise_id, business_type_id)
    info = await check_pdf(deps, pdf)
    key, digest = await asyncio.to_thread(_put, deps, pdf)
    try:
        async with deps.db.transaction() as tx:
            await _sender_enterprise(tx, user_id, enterprise_id)
            bt = await business_type_for(tx, user_id, enterprise_id, business_type_id)
            contract = await _new_contract(tx, deps, user_id, enterprise_id, title, bt)
            tx.session.add(contract)
            await tx.session.flush()
            _add_document(deps, tx, contract, check_filename(filename), pdf, key, digest, info)
            await common.log(tx, deps, "contract.created", contract, actor_id=user_id,
                             data={"title": title, "sha256": digest,
                                   "pages": info.page_count}, meta=meta)
            return contract.id
    except BaseException:
        await _delete_files(deps, key)
        raise


async def _new_contract(tx: Tx, deps: Deps, user_id: str, enterprise_id: str, title: str,
                        business_type_id: str) -> Contract:
    now = deps.clock.now()
    return Contract(
        enterprise_id=enterprise_id, title=title, initiator_id=user_id,
        state=ContractState.DRAFT, created_at=now, updated_at=now,
        number=await numbers.next_number(tx, enterprise_id, now),
        business_type_id=business_type_id, confidential=False,
    )


async def business_type_for(tx: Tx, user_id: str, enterprise_id: str,
                            business_type_id: str | None) -> str:
    """The contract's business type: the one chosen (of this enterprise, and one the
    sender may use), else 劳动合同 (or the sender's first type when limited)."""
    actor = await roles.actor_for(tx, user_id, enterprise_id)
    rows = list((await tx.session.execute(
        select(BusinessType).where(BusinessType.enterprise_id == enterprise_id)
        .order_by(BusinessType.created_at, BusinessType.name))).scalars())
    usable = [b for b in roles.sort_business_types(rows) if actor.sees_type(b.id)]
    if business_type_id:
        if len(business_type_id) > 32 or not any(b.id == business_type_id for b in usable):
            raise InvalidInput("业务类型不存在或您无权使用", code="business_type_not_found",
                               field="business_type_id")
        return business_type_id
    for b in usable:
        if b.name == DEFAULT_BUSINESS_TYPE:
            return b.id
    if usable:
        return usable[0].id
    raise InvalidInput("企业还没有可用的业务类型", code="no_business_type",
                       field="business_type_id")


async def _cc_rows(tx: Tx, enterprise_id: str, specs: tuple[CcSpec, ...]
                   ) -> list[tuple[str, str, str | None, str | None]]:
    """(phone, name, user id, member id) per cc, checked and without duplicates."""
    if len(specs) > MAX_CC:
        raise InvalidInput(f"抄送人不能超过 {MAX_CC} 个", code="too_many_cc", field="cc")
    out: dict[str, tuple[str, str, str | None, str | None]] = {}
    for spec in specs:
        if spec.member_id:
            if len(spec.member_id) > 32 or not spec.member_id.isalnum():
                raise InvalidInput("抄送的成员不存在", code="cc_member_not_found", field="cc")
            member = (await tx.session.execute(
                select(Member).where(Member.id == spec.member_id,
                                     Member.enterprise_id == enterprise_id,
                                     Member.status != "removed"))).scalar_one_or_none()
            if member is None:
                raise InvalidInput("抄送的成员不存在", code="cc_member_not_found", field="cc")
            phone, name, member_id = member.phone, member.display_name, member.id
        else:
            phone = normalize_phone(spec.phone)
            name = check_person_name(spec.name) if spec.name.strip() else ""
            member_id = None
        user = (await tx.session.execute(
            select(User).where(User.phone == phone))).scalar_one_or_none()
        if not name:
            name = (user.real_name if user and user.real_name else None) or mask_phone(phone)
        out.setdefault(phone, (phone, name[:100], user.id if user else None, member_id))
    return list(out.values())


def _add_document(
    deps: Deps, tx: Tx, contract: Contract, filename: str, pdf: bytes, key: str, digest: str,
    info: PdfInfo,
) -> ContractDocument:
    now = deps.clock.now()
    doc = ContractDocument(
        contract_id=contract.id, filename=filename, original_key=key, original_sha256=digest,
        file_key=key, current_sha256=digest, size=len(pdf), page_count=info.page_count,
        page_sizes=info.sizes_json(), version=0, signature_count=0, updated_at=now,
    )
    tx.session.add(doc)
    tx.session.add(DocumentHash(sha256=digest, contract_id=contract.id, version=0,
                                kind="original", created_at=now))
    return doc


def _info_of(doc: ContractDocument) -> PdfInfo:
    import json

    sizes = tuple((float(w), float(h)) for w, h in json.loads(doc.page_sizes))
    return PdfInfo(doc.page_count, sizes)


def check_reject_by(value: str) -> str:
    if value not in REJECT_BY:
        raise InvalidInput("请选择可拒签的签署方", code="invalid_reject_by", field="reject_by")
    return value


async def _prepared(deps: Deps, pdf: bytes, plan: _Plan, options: Options) -> bytes:
    specs = [f for group in plan.fields for f in group]
    page_marks.check_options(plan.specs, options)
    if options.page_qr:
        plan.page_token = page_marks.new_token()
        pdf = await page_marks.stamp_qr(deps, pdf, plan.page_token)
    return await run_cpu(prepare, bytes(pdf), specs, deps.config.signing.max_upload_bytes * 2)


async def send_draft(
    deps: Deps,
    user_id: str,
    contract_id: str,
    signers: list[SignerSpec],
    *,
    deadline: datetime | None = None,
    meta: RequestMeta,
    options: Options | None = None,
) -> None:
    """Place the boxes of a draft's signers and send it."""
    deadline = _check_deadline(deps, deadline)
    options = options or Options()
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id)
        await _sender_enterprise(tx, user_id, contract.enterprise_id)
        if contract.state != ContractState.DRAFT:
            raise Conflict("合同已发出，不能再修改", code="contract_not_draft")
        doc = await common.load_document(tx, contract_id)
        plan = plan_fields(signers, _info_of(doc), deps.config.verify.max_signatures)
        await _check_seals(tx, contract.enterprise_id, plan)
        await _cc_rows(tx, contract.enterprise_id, options.cc)
        original_key, original_sha256 = doc.file_key, doc.current_sha256
    pdf = await asyncio.to_thread(read_verified, common.store(deps), original_key,
                                  original_sha256)
    prepared = await _prepared(deps, pdf, plan, options)
    key, digest = await asyncio.to_thread(_put, deps, prepared)
    try:
        async with deps.db.transaction() as tx:
            contract = await common.load_contract(tx, contract_id, lock=True)
            ent = await _sender_enterprise(tx, user_id, contract.enterprise_id)
            if contract.state != ContractState.DRAFT:
                raise Conflict("合同已发出，不能再修改", code="contract_not_draft")
            doc = await common.load_document(tx, contract_id, lock=True)
            await _send(tx, deps, contract, doc, ent, plan, prepared, key, digest, deadline,
                        user_id, meta, options)
    except BaseException:
        await _delete_files(deps, key)
        raise


async def create_and_send(
    deps: Deps,
    user_id: str,
    enterprise_id: str,
    *,
    title: str,
    filename: str | None,
    pdf: bytes,
    signers: list[SignerSpec],
    deadline: datetime | None = None,
    meta: RequestMeta,
    business_type_id: str | None = None,
    options: Options | None = None,
    on_sent: OnSent | None = None,
    produced: PdfInfo | None = None,
    one_transaction: bool = False,
) -> str:
    """One call (API): upload, boxes and signers; nothing is written unless all is valid.

    `on_sent` runs inside the sending transaction with the contract and its signer rows
    (in the order of `signers`), for callers that record more about the contract (the
    template it came from), so both are written or neither.

    `produced`: only for a PDF this server has just written itself from a template
    version that passed `check_pdf` when it was uploaded (core.templates: the filled
    template); its pages. Such a PDF is not checked again: filling adds content streams
    and one font to the checked file and changes no page, signature or form field, so
    the check could only repeat the template's verdict. It is cheap in CPU (~1 ms for
    the 4-page model template) but a round trip through the CPU pool, where a batch's
    rows queue behind each other. Every uploaded PDF (and every caller without
    `produced`) is checked.

    `one_transaction`: every database check runs in the sending transaction only, not
    also in two transactions before the CPU work (for a batch's rows, whose job checked
    the sender once for all of them: on SQLite each write transaction waits its turn)."""
    title = check_title(title)
    deadline = _check_deadline(deps, deadline)
    options = options or Options()
    if not one_transaction:
        async with deps.db.transaction() as tx:
            await _sender_enterprise(tx, user_id, enterprise_id)
            await business_type_for(tx, user_id, enterprise_id, business_type_id)
    if produced is None:
        info = await check_pdf(deps, pdf)
    else:
        check_size(deps, pdf)
        info = produced
    plan = plan_fields(signers, info, deps.config.verify.max_signatures)
    if not one_transaction:
        async with deps.db.transaction() as tx:
            await _check_seals(tx, enterprise_id, plan)
            await _cc_rows(tx, enterprise_id, options.cc)
    prepared = await _prepared(deps, pdf, plan, options)
    original_key, original_digest = await asyncio.to_thread(_put, deps, pdf)
    key, digest = await asyncio.to_thread(_put, deps, prepared)
    try:
        async with deps.db.transaction() as tx:
            ent = await _sender_enterprise(tx, user_id, enterprise_id)
            bt = await business_type_for(tx, user_id, enterprise_id, business_type_id)
            if one_transaction:
                await _check_seals(tx, enterprise_id, plan)
            contract = await _new_contract(tx, deps, user_id, enterprise_id, title, bt)
            tx.session.add(contract)
            await tx.session.flush()
            doc = _add_document(deps, tx, contract, check_filename(filename), pdf,
                                original_key, original_digest, info)
            await tx.session.flush()
            await common.log(tx, deps, "contract.created", contract, actor_id=user_id,
                             data={"title": title, "sha256": doc.original_sha256,
                                   "pages": info.page_count}, meta=meta)
            rows = await _send(tx, deps, contract, doc, ent, plan, prepared, key, digest,
                               deadline, user_id, meta, options)
            if on_sent is not None:
                await on_sent(tx, contract, rows)
            return contract.id
    except BaseException:
        await _delete_files(deps, key, original_key)
        raise


async def _send(
    tx: Tx,
    deps: Deps,
    contract: Contract,
    doc: ContractDocument,
    ent: Enterprise,
    plan: _Plan,
    prepared: bytes,
    key: str,
    digest: str,
    deadline: datetime | None,
    user_id: str,
    meta: RequestMeta,
    options: Options,
) -> list[ContractSigner]:
    now = deps.clock.now()
    CONTRACT.ensure(contract.state, ContractState.IN_PROGRESS)
    doc.file_key, doc.current_sha256, doc.size = key, digest, len(prepared)
    doc.version, doc.updated_at = doc.version + 1, now
    tx.session.add(DocumentHash(sha256=digest, contract_id=contract.id, version=doc.version,
                                kind="prepared", created_at=now))
    first_order = min(s.order for s in plan.specs)
    rows: list[ContractSigner] = []
    for spec, fields in zip(plan.specs, plan.fields, strict=True):
        user_id_of = None
        if spec.party == "person":
            user_id_of = (
                await tx.session.execute(select(User.id).where(User.phone == spec.phone))
            ).scalar_one_or_none()
        signer = ContractSigner(
            contract_id=contract.id, party=spec.party,
            party_key=spec.phone if spec.party == "person" else ent.id,
            sign_order=spec.order, name=spec.name if spec.party == "person" else ent.name,
            phone=spec.phone or None, user_id=user_id_of,
            enterprise_id=ent.id if spec.party == "enterprise" else None,
            seal_id=spec.seal_id, created_at=now,
            state=SignerState.PENDING if spec.order == first_order else SignerState.WAITING,
        )
        tx.session.add(signer)
        await tx.session.flush()
        rows.append(signer)
        for f in fields:
            x1, y1, x2, y2 = f.rect
            tx.session.add(SignatureField(contract_id=contract.id, signer_id=signer.id,
                                          field_name=f.name, page=f.page,
                                          x1=x1, y1=y1, x2=x2, y2=y2))
    contract.state, contract.sent_at, contract.updated_at = ContractState.IN_PROGRESS, now, now
    contract.deadline = deadline
    contract.confidential = options.confidential
    contract.page_qr, contract.page_token = plan.page_token is not None, plan.page_token
    contract.cross_seal = options.cross_seal
    contract.reject_by = check_reject_by(options.reject_by)
    ccs = await _cc_rows(tx, contract.enterprise_id, options.cc)
    for phone, name, cc_user, member_id in ccs:
        tx.session.add(ContractCc(contract_id=contract.id, phone=phone, name=name,
                                  user_id=cc_user, member_id=member_id, created_at=now))
    reminders.on_send(contract, ent)
    await tx.session.flush()
    await common.log(
        tx, deps, "contract.sent", contract, actor_id=user_id,
        data={
            "document_sha256": digest,
            "signers": [
                {"party": s.party, "name": s.name, "order": s.sign_order,
                 "phone": mask_phone(s.phone) if s.phone else None, "seal_id": s.seal_id}
                for s in rows
            ],
            "deadline": deadline.isoformat() if deadline else None,
            "number": contract.number,
            "business_type_id": contract.business_type_id,
            "confidential": contract.confidential,
            "page_qr": contract.page_qr,
            "cross_seal": contract.cross_seal,
            "reject_by": contract.reject_by,
            "cc": [{"name": name, "phone": mask_phone(phone)} for phone, name, _, _ in ccs],
        },
        meta=meta,
    )
    for signer in rows:
        if signer.state == SignerState.PENDING:
            await turns.open_turn(tx, deps, contract, signer, ent.name)
    link = common.contract_link(deps, contract.id)
    text = f"{ent.name}将《{contract.title}》抄送给您，可点击链接查看：{link}"
    for phone, _, _, _ in ccs:
        await queue_sms(tx, deps, phone, "notice", {"text": text},
                        dedupe_key=f"sms:contract-cc:{contract.id}:{phone}")
    return rows


@dataclass(frozen=True)
class CcChoice:
    member_id: str
    name: str
    phone_masked: str


MAX_CC_CHOICES = 200


async def cc_choices(deps: Deps, user_id: str, enterprise_id: str) -> list[CcChoice]:
    """The members a sender may copy a contract to (抄送), for the send form."""
    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_SEND)
        rows = (await tx.session.execute(
            select(Member).where(Member.enterprise_id == enterprise_id,
                                 Member.status == "active",
                                 Member.user_id != user_id)
            .order_by(Member.created_at, Member.id).limit(MAX_CC_CHOICES))).scalars().all()
    return [CcChoice(m.id, m.display_name, mask_phone(m.phone)) for m in rows]


def parse_cc_lines(text: str) -> tuple[CcSpec, ...]:
    """Typed cc: one person a line, "姓名 手机号" or just the phone."""
    out = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_CC:
        raise InvalidInput(f"抄送人不能超过 {MAX_CC} 个", code="too_many_cc", field="cc")
    for line in lines:
        parts = line.replace(",", " ").replace("，", " ").split()
        phones = [p for p in parts if p.lstrip("+").isdigit()]
        if len(phones) != 1 or len(parts) > 2:
            raise InvalidInput("抄送人每行填写“姓名 手机号”", code="invalid_cc", field="cc")
        name = next((p for p in parts if p not in phones), "")
        out.append(CcSpec(phone=phones[0], name=name))
    return tuple(out)
