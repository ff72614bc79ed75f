"""Batch paper archive: a .zip of scanned PDFs and an .xlsx with one row per PDF.

The upload becomes a draft `ArchiveBatch`: every row and cell is checked (the file is in
the zip and is a real PDF, dates, phone, business type, numbers unique in the sheet and
in the enterprise, end not before start); the refused cells are kept per row and the
valid rows' PDFs are stored at once. Confirming archives the valid rows, as batch sending
does (core/templates/batch.py): the person fixes the refused rows in a new upload.

Bounds: the .xlsx goes through the bounded reader (core/enterprise/xlsx_reader.py);
the .zip is read the same careful way (`read_zip`): member count, per-member and total
uncompressed size, compression ratio, no encrypted members, no paths that climb out
(`..`, absolute), no nested archives. Parsing runs in the CPU pool under a time budget.

Confirming is one bounded transaction (at most MAX_ROWS rows, each a few inserts; the
PDFs were parsed and stored at upload), so the batch is archived entirely or, if a
number was taken meanwhile, not at all, and nothing waits in a queue.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import posixpath
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from openpyxl import Workbook as XWorkbook
from sqlalchemy import select

from core import audit
from core.clock import LOCAL_ZONE
from core.context import Deps, RequestMeta
from core.contracts import archive as A
from core.contracts.engine import PdfInfo
from core.cpu import run_cpu
from core.crypto import mask_phone
from core.enterprise import xlsx_reader as X
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PayloadTooLarge
from core.files import MB
from core.signing.pdfinput import PdfInvalid
from core.validators import check_person_name, normalize_phone
from core.zipcheck import MAGIC, NotAZip, ZipLimits, ZipTooLarge, open_bounded
from storage.models import ArchiveBatch, Contract
from storage.uow import Tx

MAX_ROWS = 100
MAX_ZIP_BYTES = 18 * MB  # the request body limit is 20 MB for the zip and the sheet
MAX_XLSX_BYTES = 2 * MB
MAX_MEMBERS = 300
MAX_TOTAL_UNCOMPRESSED = 200 * MB
MAX_RATIO = 100
RATIO_FLOOR = 1 * MB
MAX_SECONDS = 60.0
MAX_ERRORS = 300
SHEET_TITLE = "归档合同"
COLUMNS = ("文件名", "合同名称", "业务类型", "员工姓名", "手机号", "签署日期", "开始日期",
           "结束日期", "合同编号", "备注")
REQUIRED = ("文件名", "合同名称", "业务类型", "员工姓名", "手机号", "签署日期")
_HINTS = {
    "文件名": "压缩包中 PDF 的文件名，如 张三-劳动合同.pdf（可在文件夹内）",
    "合同名称": "100 字以内",
    "业务类型": "企业已有的业务类型名称，如 劳动合同",
    "员工姓名": "与证件一致",
    "手机号": "11 位手机号",
    "签署日期": "格式 2026-01-31",
    "开始日期": "选填，合同期限开始",
    "结束日期": "选填，不能早于开始日期",
    "合同编号": "选填，企业内不能重复；不填则自动生成归档编号",
    "备注": "选填，500 字以内",
}


async def template_for(deps: Deps, user_id: str, enterprise_id: str) -> bytes:
    """The batch sheet's template, for a member who may archive."""
    async with deps.db.transaction() as tx:
        await A.archiver(tx, user_id, enterprise_id)
    return _template()


@functools.cache  # the same bytes every time: built once per process
def _template() -> bytes:
    return template_bytes()


def template_bytes() -> bytes:
    wb = XWorkbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    ws.append([c + ("*" if c in REQUIRED else "") for c in COLUMNS])
    notes = wb.create_sheet("填写说明")
    notes.append(["列", "说明"])
    for c in COLUMNS:
        notes.append([c, _HINTS[c]])
    notes.append(["", f"每次最多 {MAX_ROWS} 行；压缩包（.zip）不超过 {MAX_ZIP_BYTES // MB} MB，"
                      "每个 PDF 不超过 10 MB。有误的行不会归档。"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- the zip


def _zip_error(message: str) -> InvalidInput:
    return InvalidInput(message, code="bad_zip", field="zip")


def zip_members(data: bytes, max_member: int) -> dict[str, zipfile.ZipInfo]:
    """The zip's PDF-like members by file name (folders flattened), after the bounds.
    Refuses the whole zip when it breaks one."""
    if len(data) > MAX_ZIP_BYTES:
        raise PayloadTooLarge(f"压缩包不能超过 {MAX_ZIP_BYTES // MB} MB", code="upload_too_large")
    if not data.startswith(MAGIC):
        raise _zip_error("请上传 .zip 格式的压缩包")
    try:
        zf, _ = open_bounded(data, ZipLimits(MAX_MEMBERS, MAX_TOTAL_UNCOMPRESSED,
                                             MAX_RATIO, RATIO_FLOOR))
    except NotAZip:
        raise _zip_error("压缩包已损坏或格式不正确") from None
    except ZipTooLarge as err:
        raise _zip_error({"members": f"压缩包内文件不能超过 {MAX_MEMBERS} 个",
                          "uncompressed": "压缩包解压后过大"}.get(err.what, "压缩包压缩比异常")
                         ) from None
    infos = zf.infolist()  # every entry, a name given twice too
    zf.close()
    out: dict[str, zipfile.ZipInfo] = {}
    for i in infos:
        name = i.filename.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or ":" in parts[0]:
            raise _zip_error(f"压缩包内的路径不安全：{name[:80]}")
        if i.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if i.flag_bits & 0x1:
            raise _zip_error("压缩包不能加密")
        if posixpath.splitext(parts[-1])[1].lower() in (".zip", ".rar", ".7z", ".gz", ".tar"):
            raise _zip_error("压缩包内不能再包含压缩包")
        if i.file_size > max_member:
            raise _zip_error(f"{parts[-1][:80]} 超过 {max_member // MB} MB")
        base = parts[-1]
        if base in out:
            raise _zip_error(f"压缩包内有重名文件：{base[:80]}")
        out[base] = i
    if not out:
        raise _zip_error("压缩包中没有文件")
    return out


def _zip_name(name: str) -> str:
    """The upload's file name for display: no path, no control characters, ends .zip."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ord(ch) >= 32).strip()[:190] or "archive.zip"
    return base if base.lower().endswith(".zip") else base + ".zip"


def read_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """One member's bytes, never more than its declared size (checked by zip_members)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open(info) as f:
            raw = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, RuntimeError):
        raise PdfInvalid("文件在压缩包中已损坏") from None
    if len(raw) > info.file_size:
        raise _zip_error("压缩包已损坏或格式不正确")
    return raw


# ---------------------------------------------------------------- the rows


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_batch(xlsx: bytes, zip_data: bytes, types: Mapping[str, str], today: date,
                max_pdf: int) -> tuple[list[dict[str, Any]], list[RowError], int]:
    """Check every row and cell (CPU-bound: called through run_cpu). Returns the valid
    rows (with their PDF's member name and page sizes), the errors and the row count."""
    if len(xlsx) > MAX_XLSX_BYTES:
        raise PayloadTooLarge("Excel 文件不能超过 2 MB", code="upload_too_large")
    members = zip_members(zip_data, max_pdf)
    deadline = time.process_time() + MAX_SECONDS
    book = X.Workbook(xlsx, X.Limits.for_rows(MAX_ROWS, seconds=MAX_SECONDS,
                                              max_uncompressed=20 * MB))
    try:
        header, rows = book.sheet_rows(SHEET_TITLE)
        index: dict[str, int] = {}
        for i, title in enumerate(header):
            label = str(title or "").strip().rstrip("*").strip()
            if label in COLUMNS and label not in index:
                index[label] = i
        missing = [c for c in REQUIRED if c not in index]
        if missing:
            raise InvalidInput("模板缺少必填列：" + "、".join(missing), code="bad_template")
        out: list[dict[str, Any]] = []
        errors: list[RowError] = []
        error_rows = 0
        seen_files: dict[str, int] = {}
        seen_numbers: dict[str, int] = {}
        count = 0
        for number, cells in rows:
            if all(v is None or str(v).strip() == "" for v in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                raise X.too_many_rows(MAX_ROWS)
            if time.process_time() > deadline:
                raise InvalidInput("处理超时，请减少行数后分批归档", code="import_timeout")
            raw = {c: cells[index[c]] if c in index and index[c] < len(cells) else None
                   for c in COLUMNS}
            row, problems = _check_row(raw, members, zip_data, types, today, max_pdf)
            fname = _text(raw["文件名"])
            if fname and "文件名" not in problems:
                if fname in seen_files:
                    problems["文件名"] = f"与第 {seen_files[fname]} 行使用同一个文件"
                else:
                    seen_files[fname] = number
            num = row.get("number") or ""
            if num and "合同编号" not in problems:
                if num in seen_numbers:
                    problems["合同编号"] = f"与第 {seen_numbers[num]} 行合同编号重复"
                else:
                    seen_numbers[num] = number
            if problems:
                error_rows += 1
                for col in COLUMNS:
                    if col in problems and len(errors) < MAX_ERRORS:
                        errors.append(RowError(number, col, problems[col]))
            else:
                row["row"] = number
                out.append(row)
        if count == 0:
            raise InvalidInput("Excel 中没有要归档的合同", code="empty_import")
        return out, errors, count
    finally:
        book.close()


def _check_row(raw: dict[str, Any], members: dict[str, zipfile.ZipInfo], zip_data: bytes,
               types: Mapping[str, str], today: date, max_pdf: int
               ) -> tuple[dict[str, Any], dict[str, str]]:
    problems: dict[str, str] = {}
    row: dict[str, Any] = {}

    def check(col: str, fn: Any) -> Any:
        try:
            return fn()
        except DomainError as exc:
            problems[col] = exc.message
            return None

    fname = _text(raw["文件名"])
    if not fname:
        problems["文件名"] = "请填写文件名"
    else:
        base = fname.replace("\\", "/").rsplit("/", 1)[-1]
        info = members.get(base) or members.get(base + ".pdf")
        if info is None:
            problems["文件名"] = "压缩包中没有这个文件"
        else:
            pdf = check("文件名", lambda: A.pdf_info(read_member(zip_data, info), max_pdf))
            if isinstance(pdf, PdfInfo):
                row.update(member=info.filename, filename=A.check_filename(base),
                           page_count=pdf.page_count, page_sizes=pdf.sizes_json())
            elif "文件名" in problems:
                problems["文件名"] = "不是有效的 PDF：" + problems["文件名"]
    row["title"] = check("合同名称", lambda: A.check_title(_text(raw["合同名称"])))
    tname = _text(raw["业务类型"])
    if not tname:
        problems["业务类型"] = "请填写业务类型"
    elif tname not in types:
        problems["业务类型"] = f"业务类型“{tname[:20]}”不存在或您无权使用"
    else:
        row["business_type_id"] = types[tname]
    row["name"] = check("员工姓名", lambda: check_person_name(_text(raw["员工姓名"])))
    row["phone"] = check("手机号", lambda: normalize_phone(_text(raw["手机号"])))
    dates: dict[str, date | None] = {}
    for col, key in (("签署日期", "signed_on"), ("开始日期", "start_on"), ("结束日期", "end_on")):
        dates[key] = check(col, lambda c=col, k=key: A.parse_date(raw[c], c, k, today))
    if dates["signed_on"] is None and "签署日期" not in problems:
        problems["签署日期"] = "请填写签署日期"
    if dates["start_on"] and dates["end_on"] and dates["end_on"] < dates["start_on"]:
        problems["结束日期"] = "结束日期不能早于开始日期"
    for key, value in dates.items():
        row[key] = value.isoformat() if value else None
    row["number"] = check("合同编号", lambda: A.check_number(_text(raw["合同编号"])))
    row["remarks"] = check("备注", lambda: A.check_remarks(_text(raw["备注"])))
    return row, problems


# ---------------------------------------------------------------- draft, confirm, view


async def _types(tx: Tx, actor: Any) -> dict[str, str]:
    return {b.name: b.id for b in await A.usable_types(tx, actor)}


async def _taken(tx: Tx, enterprise_id: str, nums: list[str]) -> set[str]:
    taken: set[str] = set()
    for i in range(0, len(nums), 500):
        taken |= {n for n in (await tx.session.execute(
            select(Contract.number).where(Contract.enterprise_id == enterprise_id,
                                          Contract.number.in_(nums[i:i + 500])))).scalars()
                  if n}
    return taken


async def draft_batch(deps: Deps, user_id: str, enterprise_id: str, *, zip_data: bytes,
                      zip_name: str, xlsx: bytes, meta: RequestMeta) -> str:
    """Check the upload into a draft batch; the valid rows' PDFs are stored now."""
    if not zip_data:
        raise InvalidInput("请选择装有 PDF 的 .zip 压缩包", code="empty_upload", field="zip")
    if not xlsx:
        raise InvalidInput("请选择填好的 Excel 文件", code="empty_upload", field="file")
    async with deps.db.transaction() as tx:
        actor = await A.archiver(tx, user_id, enterprise_id)
        types = await _types(tx, actor)
    today = deps.clock.now().astimezone(LOCAL_ZONE).date()
    rows, errors, total = await run_cpu(parse_batch, bytes(xlsx), bytes(zip_data), types,
                                        today, deps.config.signing.max_upload_bytes)
    async with deps.db.transaction() as tx:
        taken = await _taken(tx, enterprise_id, [r["number"] for r in rows if r["number"]])
    if taken:
        for r in rows:
            if r["number"] in taken:
                errors.append(RowError(r["row"], "合同编号", f"合同编号 {r['number']} 已被使用"))
        rows = [r for r in rows if r["number"] not in taken]
        errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column)))
    # Off the event loop: the member list and each PDF are unpacked again here (zlib lets
    # go of the GIL), up to MAX_ROWS files of the upload's size limit each.
    listed = await asyncio.to_thread(zip_members, zip_data,
                                     deps.config.signing.max_upload_bytes)
    members = {i.filename: i for i in listed.values()}
    keys: list[str] = []
    try:
        for r in rows:
            data = await asyncio.to_thread(read_member, zip_data, members[r.pop("member")])
            stored = await A.store_pdf(deps, data, r["filename"], PdfInfo(0, ()))
            keys.append(stored.key)
            r.update(file_key=stored.key, sha256=stored.sha256, size=stored.size)
        async with deps.db.transaction() as tx:
            await A.archiver(tx, user_id, enterprise_id)
            b = ArchiveBatch(
                enterprise_id=enterprise_id, created_by=user_id, state="draft",
                zip_name=_zip_name(zip_name), rows=rows,
                total=len(rows),
                errors=[{"row": e.row, "column": e.column, "message": e.message}
                        for e in errors[:MAX_ERRORS]],
                error_rows=len({e.row for e in errors}), archived=0,
                created_at=deps.clock.now())
            tx.session.add(b)
            await tx.session.flush()
            await audit.record(
                tx, at=deps.clock.now(), action="archive.batch_checked", actor_id=user_id,
                tenant_id=enterprise_id, subject_type="archive_batch", subject_id=b.id,
                data={"rows": total, "valid": len(rows), "error_rows": b.error_rows},
                meta=meta)
            return b.id
    except BaseException:
        await A.delete_files(deps, *keys)
        raise


@dataclass(frozen=True)
class PreviewRow:
    row: int
    filename: str
    title: str
    name: str
    phone_masked: str
    signed_on: str
    number: str


@dataclass(frozen=True)
class BatchView:
    id: str
    state: str
    zip_name: str
    total: int
    error_rows: int
    archived: int
    errors: list[RowError]
    preview: list[PreviewRow]
    created_at: datetime
    confirmed_at: datetime | None


async def _load(tx: Tx, enterprise_id: str, batch_id: str, *, lock: bool = False
                ) -> ArchiveBatch:
    if not batch_id or len(batch_id) > 32:
        raise NotFound("归档批次不存在", code="batch_not_found")
    query = select(ArchiveBatch).where(ArchiveBatch.id == batch_id,
                                       ArchiveBatch.enterprise_id == enterprise_id)
    if lock:
        query = query.with_for_update()
    b = (await tx.session.execute(query)).scalar_one_or_none()
    if b is None:
        raise NotFound("归档批次不存在", code="batch_not_found")
    return b


def _batch_view(b: ArchiveBatch) -> BatchView:
    return BatchView(
        b.id, b.state, b.zip_name, b.total, b.error_rows, b.archived,
        [RowError(int(e["row"]), str(e["column"]), str(e["message"])) for e in b.errors or []],
        [PreviewRow(int(r["row"]), r["filename"], r["title"], r["name"],
                    mask_phone(r["phone"]), r["signed_on"], r["number"] or "（自动生成）")
         for r in (b.rows or [])],
        b.created_at, b.confirmed_at)


async def get_batch(deps: Deps, user_id: str, enterprise_id: str, batch_id: str) -> BatchView:
    async with deps.db.transaction() as tx:
        await A.archiver(tx, user_id, enterprise_id)
        return _batch_view(await _load(tx, enterprise_id, batch_id))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def confirm_batch(deps: Deps, user_id: str, enterprise_id: str, batch_id: str,
                        meta: RequestMeta) -> int:
    """Archive the batch's valid rows in one transaction; returns how many."""
    async with deps.db.transaction() as tx:
        actor = await A.archiver(tx, user_id, enterprise_id)
        b = await _load(tx, enterprise_id, batch_id, lock=True)
        if b.state != "draft":
            raise Conflict("该批次已经归档过了", code="batch_not_draft")
        if not b.rows:
            raise InvalidInput("没有可归档的行，请修改表格后重新上传", code="nothing_to_archive")
        usable = set((await _types(tx, actor)).values())
        for r in b.rows:
            if r["business_type_id"] not in usable:
                raise Conflict(f"第 {r['row']} 行的业务类型您已无权使用",
                               code="business_type_not_found")
            inp = A.ArchiveInput(
                r["title"], r["business_type_id"], r["name"], r["phone"],
                _date(r["signed_on"]), _date(r["start_on"]), _date(r["end_on"]),
                r["number"] or "", r["remarks"] or "")
            stored = A.Stored(r["filename"], r["file_key"], r["sha256"], int(r["size"]),
                              PdfInfo(int(r["page_count"]), tuple(
                                  (float(w), float(h)) for w, h in
                                  json.loads(r["page_sizes"]))))
            try:
                await A.archive_in(tx, deps, actor, inp, stored, meta, source="batch",
                                   batch_id=b.id)
            except Conflict as exc:
                raise Conflict(f"第 {r['row']} 行：{exc.message}，请重新上传",
                               code=exc.code) from None
        b.state, b.archived, b.confirmed_at = "done", len(b.rows), deps.clock.now()
        await audit.record(
            tx, at=deps.clock.now(), action="archive.batch_confirmed", actor_id=user_id,
            tenant_id=enterprise_id, subject_type="archive_batch", subject_id=b.id,
            data={"archived": b.archived}, meta=meta)
        return b.archived


def _draft_keys(b: ArchiveBatch) -> list[str]:
    """The stored scans of a draft's rows (they belong to nothing else)."""
    return [str(r["file_key"]) for r in (b.rows or [])
            if isinstance(r, dict) and r.get("file_key")]


async def discard_batch(deps: Deps, user_id: str, enterprise_id: str, batch_id: str,
                        meta: RequestMeta) -> None:
    """Throw away an unconfirmed batch (the wrong files were uploaded) and its stored scans;
    a confirmed batch stays, as its archives do."""
    async with deps.db.transaction() as tx:
        await A.archiver(tx, user_id, enterprise_id)
        b = await _load(tx, enterprise_id, batch_id, lock=True)
        if b.state != "draft":
            raise Conflict("该批次已经归档，不能放弃", code="batch_not_draft")
        keys = _draft_keys(b)
        await audit.record(
            tx, at=deps.clock.now(), action="archive.batch_discarded", actor_id=user_id,
            tenant_id=enterprise_id, subject_type="archive_batch", subject_id=b.id,
            data={"rows": b.total, "by": "hand"}, meta=meta)
        await tx.session.delete(b)
    await A.delete_files(deps, *keys)  # after the commit, as discard_abandoned


async def discard_abandoned(deps: Deps, keep: timedelta, per_run: int = 100) -> int:
    """Delete archive drafts older than `keep` and then their stored scans (a scan of a
    draft belongs to nothing else); the number deleted. The rows are locked while they
    are deleted, so a confirmation at that moment waits and then finds the draft gone."""
    cutoff = deps.clock.now() - keep
    async with deps.db.transaction() as tx:
        drafts = list((await tx.session.execute(
            select(ArchiveBatch)
            .where(ArchiveBatch.state == "draft", ArchiveBatch.created_at < cutoff)
            .order_by(ArchiveBatch.created_at).limit(per_run)
            .with_for_update(skip_locked=True))).scalars())
        keys = [k for b in drafts for k in _draft_keys(b)]
        for b in drafts:
            await audit.record(
                tx, at=deps.clock.now(), action="archive.batch_discarded", actor_id=None,
                tenant_id=b.enterprise_id, subject_type="archive_batch", subject_id=b.id,
                data={"rows": b.total, "checked_at": b.created_at.isoformat(),
                      "kept_days": keep.days})
            await tx.session.delete(b)
    # After the commit: a crash in between leaves unreferenced files, never a draft
    # pointing at missing ones.
    await A.delete_files(deps, *keys)
    return len(drafts)
