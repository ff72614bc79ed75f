"""Paper archive (纸质归档, PRODUCT C7): a contract signed on paper, scanned to one PDF and
kept with its metadata (parties, business type, dates, number).

An archived contract is a `Contract` in the `archived` state, created in that state and
never moved out of it (states.py: no transition leaves or enters it), so signing,
urging, revoking and sending all refuse it where they check the state. Beside it:
- its `ContractDocument` (the PDF in the file store, with its SHA-256), so the
  contract page, the page images and the download work as for any contract;
- one person signer row in the `signed` state (the employee, by phone), so the ledger's
  search, department filter and the employee's own contract list (H5) find it;
- a `PaperArchive` row with what only paper has: signing date, term, remarks.

The number is the one on the paper when given (unique within the enterprise, as every
contract number), else an archive number GD + the Beijing day + a sequence.
Archiving needs `contracts.archive`; the business type must be one the member may use
(a member limited to some types archives only those), as when sending.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, func, select

from core.clock import LOCAL_ZONE
from core.context import Deps, RequestMeta
from core.contracts import common, ledger, numbers
from core.contracts.engine import PdfInfo
from core.contracts.states import CONTRACT_LABELS, ContractState, SignerState
from core.cpu import run_cpu
from core.crypto import mask_phone, sha256_hex
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from core.files import read_verified
from core.signing.pdfinput import (
    PARSE_ERRORS,
    PdfInvalid,
    media_box,
    open_pdf,
    page_count,
)
from core.validators import check_person_name, normalize_phone
from storage.models import (
    BusinessType,
    Contract,
    ContractDocument,
    ContractSigner,
    Employee,
    PaperArchive,
    User,
)
from storage.uow import Tx

MAX_TITLE = 100
MAX_NUMBER = 24
MAX_REMARKS = 500
MAX_PAGE = 100
# Dates on paper: from 1990 to ten years from now (a typo like 2206 is refused).
EARLIEST = date(1990, 1, 1)
NUMBER_RE = re.compile(r"^[0-9A-Za-z\-_/()（）\u4e00-\u9fa5]{1,24}$")
GENERATED_RE = re.compile(r"^(HT|GD)\d{12,}$", re.IGNORECASE)
DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


@dataclass(frozen=True)
class ArchiveInput:
    """What one paper contract says (the form, the API or one row of a batch)."""

    title: str
    business_type_id: str | None
    name: str = ""
    phone: str = ""
    signed_on: date | None = None
    start_on: date | None = None
    end_on: date | None = None
    number: str = ""
    remarks: str = ""
    # Picked from the roster instead of typing name and phone.
    employee_id: str | None = None


# ---------------------------------------------------------------- checks of one field


def parse_date(value: Any, label: str, field: str, today: date) -> date | None:
    """A calendar date from a form, the API or an Excel cell (a date cell, or text like
    2026-01-31, 2026/1/31, 2026年1月31日)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        d = value.date()
    elif isinstance(value, date):
        d = value
    else:
        m = DATE_RE.match(str(value).strip())
        try:
            if not m:
                raise ValueError(value)
            d = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise InvalidInput(f"{label}应为日期，如 2026-01-31", code="invalid_date",
                               field=field) from None
    # Not today.replace(year=…): on 29 February ten years on may not exist.
    if not EARLIEST <= d <= date(today.year + 10, 12, 31):
        raise InvalidInput(f"{label}超出合理范围", code="invalid_date", field=field)
    return d


def check_title(value: str) -> str:
    title = (value or "").strip()
    if not title or len(title) > MAX_TITLE or any(ord(ch) < 32 for ch in title):
        raise InvalidInput(f"请填写合同名称（{MAX_TITLE} 字以内）", code="invalid_title",
                           field="title")
    return title


def check_number(value: str) -> str:
    number = (value or "").strip()
    if number and not NUMBER_RE.match(number):
        raise InvalidInput(f"合同编号须为 {MAX_NUMBER} 个字以内的字母、数字、汉字或 - _ /",
                           code="invalid_number", field="number")
    # The shapes the platform gives out itself (HT… when sending, GD… when archiving): a
    # typed one would later meet the day's counter on the unique number.
    if GENERATED_RE.match(number):
        raise InvalidInput("HT、GD 加 12 位数字的编号由系统生成，请使用纸质合同上的编号",
                           code="invalid_number", field="number")
    return number


def check_remarks(value: str) -> str:
    remarks = (value or "").strip()
    if len(remarks) > MAX_REMARKS or any(ord(ch) < 32 and ch not in "\r\n\t" for ch in remarks):
        raise InvalidInput(f"备注须为 {MAX_REMARKS} 字以内", code="invalid_remarks",
                           field="remarks")
    return remarks


def check_dates(signed_on: date | None, start_on: date | None, end_on: date | None) -> None:
    if signed_on is None:
        raise InvalidInput("请填写签署日期", code="invalid_date", field="signed_on")
    if start_on and end_on and end_on < start_on:
        raise InvalidInput("结束日期不能早于开始日期", code="end_before_start", field="end_on")


def check_filename(name: str | None) -> str:
    name = (name or "contract.pdf").strip().replace("/", "_").replace("\\", "_")[:200]
    name = "".join(ch for ch in name if ord(ch) >= 32) or "contract.pdf"
    return name if name.lower().endswith(".pdf") else name + ".pdf"


def pdf_info(data: bytes, max_bytes: int) -> PdfInfo:
    """The PDF checks of an upload (core/signing/pdfinput: size, a real PDF, not
    encrypted, a sane page tree) and its page sizes. A scan may carry form fields or old
    signatures: nothing will be signed into it, so those are kept as they are.
    CPU-bound: called through run_cpu."""
    reader = open_pdf(data, max_bytes=max_bytes)
    try:
        sizes = []
        for ix in range(page_count(reader)):
            box = media_box(reader, ix)
            if box is None:
                raise PdfInvalid("无法读取 PDF 页面尺寸")
            sizes.append((box[2] - box[0], box[3] - box[1]))
    except PdfInvalid:
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return PdfInfo(len(sizes), tuple(sizes))


def check_pdf_size(deps: Deps, data: bytes) -> None:
    limit = deps.config.signing.max_upload_bytes
    if not data:
        raise InvalidInput("请选择要归档的 PDF 文件", code="empty_upload", field="file")
    if len(data) > limit:
        raise PayloadTooLarge(f"PDF 文件不能超过 {limit // (1024 * 1024)} MB",
                              code="pdf_too_large")


# ---------------------------------------------------------------- permission and choices


async def archiver(tx: Tx, user_id: str, enterprise_id: str) -> roles.Actor:
    return await roles.require_permission(tx, user_id, enterprise_id,
                                          roles.CONTRACTS_ARCHIVE)


async def usable_types(tx: Tx, actor: roles.Actor) -> list[BusinessType]:
    """The enterprise's business types this member may archive under."""
    rows = list((await tx.session.execute(
        select(BusinessType).where(BusinessType.enterprise_id == actor.enterprise_id)
        .order_by(BusinessType.created_at, BusinessType.name))).scalars())
    return [b for b in roles.sort_business_types(rows) if actor.sees_type(b.id)]


async def check_type(tx: Tx, actor: roles.Actor, business_type_id: str | None) -> str:
    types = await usable_types(tx, actor)
    if not business_type_id or len(business_type_id) > 32 or not any(
            b.id == business_type_id for b in types):
        raise InvalidInput("请选择业务类型（企业已有且您可使用的）",
                           code="business_type_not_found", field="business_type_id")
    return business_type_id


async def number_taken(tx: Tx, enterprise_id: str, number: str) -> bool:
    return (await tx.session.execute(
        select(Contract.id).where(Contract.enterprise_id == enterprise_id,
                                  Contract.number == number).limit(1))).first() is not None


def _noon(d: date) -> datetime:
    """A paper date as a moment: noon Beijing time of that day."""
    return datetime.combine(d, time(12), LOCAL_ZONE)


# ---------------------------------------------------------------- writing one archive


@dataclass(frozen=True)
class Stored:
    """A checked PDF already in the file store."""

    filename: str
    key: str
    sha256: str
    size: int
    info: PdfInfo


async def archive_in(tx: Tx, deps: Deps, actor: roles.Actor, inp: ArchiveInput,
                     pdf: Stored, meta: RequestMeta | None, *, source: str = "single",
                     batch_id: str | None = None) -> Contract:
    """Write one archived contract (the caller checked the fields and the permission)."""
    now = deps.clock.now()
    ent_id = actor.enterprise_id
    assert inp.signed_on is not None
    number = inp.number
    if number:
        if await number_taken(tx, ent_id, number):
            raise Conflict(f"合同编号 {number} 已被使用", code="duplicate_number",
                           field="number")
    else:
        number = await numbers.next_number(tx, ent_id, now, archive=True)
    contract = Contract(
        enterprise_id=ent_id, title=inp.title, number=number,
        business_type_id=inp.business_type_id, confidential=False,
        initiator_id=actor.user_id, state=ContractState.ARCHIVED,
        created_at=now, updated_at=now)
    tx.session.add(contract)
    await tx.session.flush()
    tx.session.add(ContractDocument(
        contract_id=contract.id, filename=pdf.filename, original_key=pdf.key,
        original_sha256=pdf.sha256, file_key=pdf.key, current_sha256=pdf.sha256,
        size=pdf.size, page_count=pdf.info.page_count, page_sizes=pdf.info.sizes_json(),
        version=0, signature_count=0, updated_at=now))
    user_id = (await tx.session.execute(
        select(User.id).where(User.phone == inp.phone))).scalar_one_or_none()
    tx.session.add(ContractSigner(
        contract_id=contract.id, party="person", party_key=inp.phone, sign_order=1,
        name=inp.name, phone=inp.phone, user_id=user_id, state=SignerState.SIGNED,
        signed_at=_noon(inp.signed_on), created_at=now))
    tx.session.add(PaperArchive(
        contract_id=contract.id, enterprise_id=ent_id, source=source, batch_id=batch_id,
        employee_name=inp.name, employee_phone=inp.phone, employee_id=inp.employee_id,
        signed_on=inp.signed_on, start_on=inp.start_on, end_on=inp.end_on,
        remarks=inp.remarks, sha256=pdf.sha256, archived_by=actor.user_id, created_at=now))
    await tx.session.flush()
    await common.log(tx, deps, "contract.archived", contract, actor_id=actor.user_id,
                     data={"title": inp.title, "number": number, "document_sha256": pdf.sha256,
                           "name": inp.name, "source": source, "batch_id": batch_id},
                     meta=meta)
    return contract


def _put(deps: Deps, data: bytes) -> tuple[str, str]:
    return common.store(deps).put(common.FILE_AREA, data, "pdf"), sha256_hex(data)


async def store_pdf(deps: Deps, data: bytes, filename: str, info: PdfInfo) -> Stored:
    key, digest = await asyncio.to_thread(_put, deps, data)
    return Stored(check_filename(filename), key, digest, len(data), info)


async def delete_files(deps: Deps, *keys: str) -> None:
    for key in keys:
        await asyncio.to_thread(common.store(deps).delete, key)


async def _person(tx: Tx, enterprise_id: str, inp: ArchiveInput) -> tuple[str, str]:
    """(name, phone): from the roster row picked, else as typed (checked)."""
    if inp.employee_id:
        if len(inp.employee_id) > 32:
            raise InvalidInput("员工不存在", code="employee_not_found", field="employee_id")
        emp = (await tx.session.execute(
            select(Employee).where(Employee.id == inp.employee_id,
                                   Employee.enterprise_id == enterprise_id))).scalar_one_or_none()
        if emp is None:
            raise InvalidInput("员工不存在", code="employee_not_found", field="employee_id")
        return emp.name, emp.phone
    return check_person_name(inp.name), normalize_phone(inp.phone)


def input_from_fields(deps: Deps, fields: Mapping[str, str]) -> ArchiveInput:
    """The archive as the form or the API sends it: text fields, dates as typed
    (2026-01-31, 2026/1/31, 2026年1月31日); a bad date is a clear error on its field."""
    today = deps.clock.now().astimezone(LOCAL_ZONE).date()
    return ArchiveInput(
        title=fields.get("title", ""), business_type_id=fields.get("business_type_id") or None,
        name=fields.get("name", ""), phone=fields.get("phone", ""),
        signed_on=parse_date(fields.get("signed_on"), "签署日期", "signed_on", today),
        start_on=parse_date(fields.get("start_on"), "开始日期", "start_on", today),
        end_on=parse_date(fields.get("end_on"), "结束日期", "end_on", today),
        number=fields.get("number", ""), remarks=fields.get("remarks", ""),
        employee_id=fields.get("employee_id") or None)


async def archive_one(deps: Deps, user_id: str, enterprise_id: str, inp: ArchiveInput,
                      pdf: bytes, filename: str | None, meta: RequestMeta) -> str:
    """Archive one paper contract: check every field and the PDF, store the PDF, write
    the archive in one transaction. Returns the contract id."""
    title = check_title(inp.title)
    number = check_number(inp.number)
    remarks = check_remarks(inp.remarks)
    check_dates(inp.signed_on, inp.start_on, inp.end_on)
    check_pdf_size(deps, pdf)
    async with deps.db.transaction() as tx:
        actor = await archiver(tx, user_id, enterprise_id)
        btype = await check_type(tx, actor, inp.business_type_id)
        name, phone = await _person(tx, enterprise_id, inp)
        if number and await number_taken(tx, enterprise_id, number):
            raise Conflict(f"合同编号 {number} 已被使用", code="duplicate_number",
                           field="number")
    info = await run_cpu(pdf_info, bytes(pdf), deps.config.signing.max_upload_bytes)
    stored = await store_pdf(deps, pdf, filename or f"{title}.pdf", info)
    clean = ArchiveInput(title, btype, name, phone, inp.signed_on, inp.start_on, inp.end_on,
                         number, remarks, inp.employee_id)
    try:
        async with deps.db.transaction() as tx:
            actor = await archiver(tx, user_id, enterprise_id)
            contract = await archive_in(tx, deps, actor, clean, stored, meta)
            return contract.id
    except BaseException:
        await delete_files(deps, stored.key)
        raise


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class ArchiveView:
    id: str
    number: str
    title: str
    state: str
    state_label: str
    business_type_id: str | None
    business_type: str
    name: str
    phone_masked: str
    signed_on: date
    start_on: date | None
    end_on: date | None
    remarks: str
    source: str
    batch_id: str | None
    filename: str
    sha256: str
    size: int
    page_count: int
    archived_by: str
    created_at: datetime
    # The employee's phone in full, for members who manage the roster.
    phone: str = ""


async def _visible(tx: Tx, user_id: str, enterprise_id: str) -> tuple[ledger.Scope, Any]:
    scope = await ledger.scope_of(tx, user_id, enterprise_id)
    return scope, ledger.visible(scope)


def _select() -> Any:
    return (select(Contract, PaperArchive, ContractDocument, BusinessType.name)
            .join(PaperArchive, PaperArchive.contract_id == Contract.id)
            .join(ContractDocument, ContractDocument.contract_id == Contract.id)
            .outerjoin(BusinessType, and_(BusinessType.id == Contract.business_type_id,
                                          BusinessType.enterprise_id == Contract.enterprise_id)))


async def _view(tx: Tx, row: Any, full_phone: bool) -> ArchiveView:
    c, a, doc, type_name = row
    names = (await tx.session.execute(
        select(User.real_name, User.phone).where(User.id == a.archived_by))).first()
    by = (names[0] or mask_phone(names[1])) if names else ""
    return ArchiveView(
        id=c.id, number=c.number or "", title=c.title, state=c.state,
        state_label=CONTRACT_LABELS[ContractState(c.state)],
        business_type_id=c.business_type_id, business_type=type_name or "",
        name=a.employee_name, phone_masked=mask_phone(a.employee_phone),
        signed_on=a.signed_on, start_on=a.start_on, end_on=a.end_on, remarks=a.remarks,
        source=a.source, batch_id=a.batch_id, filename=doc.filename, sha256=a.sha256,
        size=doc.size, page_count=doc.page_count, archived_by=by, created_at=a.created_at,
        phone=a.employee_phone if full_phone else "")


async def get_archive(deps: Deps, user_id: str, enterprise_id: str,
                      contract_id: str) -> ArchiveView:
    """One archived contract, for a member who sees it in the ledger (others: NotFound)."""
    if not contract_id or len(contract_id) > 32:
        raise NotFound("归档合同不存在", code="contract_not_found")
    async with deps.db.transaction() as tx:
        scope, cond = await _visible(tx, user_id, enterprise_id)
        row = (await tx.session.execute(_select().where(
            Contract.id == contract_id, Contract.enterprise_id == enterprise_id,
            Contract.state == ContractState.ARCHIVED, cond))).first()
        if row is None:
            raise NotFound("归档合同不存在", code="contract_not_found")
        return await _view(tx, row, scope.actor.can(roles.EMPLOYEES_VIEW))


@dataclass(frozen=True)
class ArchivePage:
    items: list[ArchiveView]
    total: int
    page: int
    per_page: int


async def list_archives(deps: Deps, user_id: str, enterprise_id: str, *, q: str = "",
                        batch_id: str | None = None, page: int = 1,
                        per_page: int = 20) -> ArchivePage:
    """The enterprise's archived contracts this member sees, newest first."""
    q = common.check_search(q, ledger.MAX_QUERY)
    if not 1 <= page <= ledger.MAX_PAGE or not 1 <= per_page <= MAX_PAGE:
        raise InvalidInput(f"每页 1 到 {MAX_PAGE} 条", code="invalid_page", field="page")
    async with deps.db.transaction() as tx:
        scope, cond = await _visible(tx, user_id, enterprise_id)
        conds = [Contract.enterprise_id == enterprise_id,
                 Contract.state == ContractState.ARCHIVED, cond]
        if batch_id:
            conds.append(PaperArchive.batch_id == batch_id[:32])
        if q:
            like = common.like_pattern(q)
            conds.append(Contract.title.ilike(like, escape="\\")
                         | Contract.number.ilike(like, escape="\\")
                         | PaperArchive.employee_name.ilike(like, escape="\\")
                         | PaperArchive.employee_phone.like(like, escape="\\"))
        total = (await tx.session.execute(
            select(func.count()).select_from(Contract)
            .join(PaperArchive, PaperArchive.contract_id == Contract.id)
            .where(*conds))).scalar_one()
        rows = (await tx.session.execute(
            _select().where(*conds).order_by(PaperArchive.created_at.desc(), Contract.id)
            .offset((page - 1) * per_page).limit(per_page))).all()
        full = scope.actor.can(roles.EMPLOYEES_VIEW)
        items = [await _view(tx, r, full) for r in rows]
    return ArchivePage(items, total, page, per_page)


@dataclass(frozen=True)
class Download:
    filename: str
    data: bytes
    sha256: str


async def download(deps: Deps, user_id: str, enterprise_id: str,
                   contract_id: str) -> Download:
    """The archived PDF, checked against its SHA-256 as it is read."""
    view = await get_archive(deps, user_id, enterprise_id, contract_id)
    async with deps.db.transaction() as tx:
        doc = await common.load_document(tx, view.id)
        key = doc.file_key
    data = await asyncio.to_thread(read_verified, common.store(deps), key, view.sha256)
    return Download(view.filename, data, view.sha256)


@dataclass(frozen=True)
class FormChoices:
    business_types: list[ledger.Choice]
    employees: list[tuple[str, str, str]]  # (id, name, masked phone)


MAX_EMPLOYEE_CHOICES = 500


async def form_choices(deps: Deps, user_id: str, enterprise_id: str) -> FormChoices:
    """What the single-archive form offers: usable business types and the roster."""
    async with deps.db.transaction() as tx:
        actor = await archiver(tx, user_id, enterprise_id)
        types = await usable_types(tx, actor)
        emps = (await tx.session.execute(
            select(Employee.id, Employee.name, Employee.phone).where(
                Employee.enterprise_id == enterprise_id, Employee.status != "resigned")
            .order_by(Employee.name, Employee.id).limit(MAX_EMPLOYEE_CHOICES))).all()
    return FormChoices([ledger.Choice(b.id, b.name) for b in types],
                       [(i, n, mask_phone(p)) for i, n, p in emps])
