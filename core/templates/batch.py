"""Batch sending (C2): one published template, many people, one contract each.

Two sources, one flow: an Excel file made from the template itself (one column per
sender-filled field, plus name and phone) or a selection from the roster. Either is
checked first into a *draft* batch: the good rows, and the bad ones with a message per
cell, shown as a preview. Confirming it queues one `batch.rows` job per CHUNK_ROWS rows
on the bulk queue. A chunk's job fills the template for each row
(core.templates.sending.fill_for_signers, all rows of the batch with one font subset)
and sends (core.contracts.send.create_and_send); a row is marked created in the very
transaction that creates its contract, under the row's lock and only if still queued, so
a retried or doubled job never makes a second contract (the job's key is the batch and
its first row number; each row is unique on batch and row number).
The progress counts (created / notified / signed / failed) are read from the rows, the
signers and the notification jobs; the batch ends when no row is left queued, with a
`batch.finished` webhook event.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import and_, exists, func, insert, select, text

from core import outbox
from core.context import Deps, RequestMeta
from core.contracts import send as contract_send
from core.contracts.states import SignerState
from core.cpu import run_cpu
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise import xlsx_reader as X
from core.enterprise.common import log
from core.enterprise.departments import all_departments, flatten
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PayloadTooLarge
from core.files import MB
from core.integration import events
from core.templates import sending, service
from core.templates.fields import VALUE_KINDS, Field, clean_value, first_person
from core.validators import check_person_name, normalize_phone
from storage.models import (
    BatchRow,
    Contract,
    ContractBatch,
    ContractSigner,
    Employee,
    OutboxMessage,
    TemplateVersion,
)
from storage.models.base import new_id
from storage.uow import Tx

ROW_KIND = "batch.row"  # one row per job (batches confirmed before chunks: still run)
CHUNK_KIND = "batch.rows"
# Rows per job, and rows of one job in flight at once (filling and preparing in the CPU
# pool, storing files, the sending transaction): docs/benchmarks.md, "Batch sending".
CHUNK_ROWS = 25
ROWS_IN_FLIGHT = 4
# A batch's rows are filled with one font subset of all their characters (every contract
# of the batch embeds the same subset, built once per process) unless there are more
# characters than this (~200 bytes of font per CJK glyph in every contract); then each
# chunk's rows share a subset of their own characters.
MAX_SHARED_CHARS = 600
MAX_BYTES = 10 * MB
MAX_UNCOMPRESSED = 60 * MB
MAX_ROWS = 5_000
MAX_SECONDS = 30.0
MAX_ERRORS = 200
MAX_ROSTER = 1_000
PREVIEW_ROWS = 50
SHEET_TITLE = "批量发起"
NAME_COL = "姓名"
PHONE_COL = "手机号"


@dataclass(frozen=True)
class RowError:
    row: int  # the Excel row number (header is row 1)
    column: str
    message: str


@dataclass(frozen=True)
class ParsedRow:
    row: int
    name: str
    phone: str
    values: dict[str, str]


@dataclass(frozen=True)
class Column:
    """One column of the batch sheet: a sender field, or name / phone (key '')."""

    key: str
    title: str
    field: Field | None


def _sender_fields(version: service.VersionView) -> list[Field]:
    return [f for f in version.fields if f.kind in VALUE_KINDS and f.filler == "sender"]


def _auto_key(version: service.VersionView) -> dict[str, str]:
    """Person-role sender fields the row's name / phone answer: {field key: 'name'|'phone'}."""
    person = first_person(version.roles)
    out: dict[str, str] = {}
    for f in _sender_fields(version):
        if f.role != person.key:
            continue
        if f.kind == "phone":
            out[f.key] = "phone"
        elif f.kind == "text" and ("姓名" in f.label or "劳动者" in f.label
                                   or f.key.endswith("name")):
            out[f.key] = "name"
    return out


def columns(version: service.VersionView) -> list[Column]:
    auto = _auto_key(version)
    cols = [Column("", NAME_COL + "*", None), Column("", PHONE_COL + "*", None)]
    seen = {NAME_COL, PHONE_COL}
    for f in _sender_fields(version):
        if f.key in auto:
            continue  # answered by 姓名 / 手机号
        title = f.label if f.label not in seen else f"{f.label}（{f.key}）"
        seen.add(title)
        cols.append(Column(f.key, title + ("*" if f.required and f.kind != "checkbox" else ""),
                           f))
    return cols


def _check_batchable(version: service.VersionView) -> None:
    if sum(1 for r in version.roles if r.party == "person") != 1:
        raise Conflict("批量发起只支持一个个人签署方的模板", code="batch_single_person")


# ---------------------------------------------------------------- the sheet


async def _version(tx: Tx, user_id: str, enterprise_id: str, template_id: str
                   ) -> service.VersionView:
    actor = await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
    version = service.version_view(  # hidden from a member limited away from its type
        await service.latest_version(tx, enterprise_id, template_id, actor=actor))
    _check_batchable(version)
    return version


async def sheet(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                ) -> tuple[str, bytes]:
    """The template's own .xlsx: one column per sender field, plus name and phone."""
    async with deps.db.transaction() as tx:
        version = await _version(tx, user_id, enterprise_id, template_id)
    return f"{version.name}-批量发起.xlsx", await run_cpu(sheet_bytes, columns(version))


def sheet_bytes(cols: list[Column]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    ws.append([c.title for c in cols])
    notes = wb.create_sheet("填写说明")
    notes.append(["列", "说明"])
    hints = {"date": "日期，如 2027-01-31", "number": "数字", "id_number": "18 位居民身份证号",
             "phone": "11 位手机号", "checkbox": "填 1 表示勾选，留空表示不勾选"}
    notes.append([NAME_COL, "签署人姓名，须与其实名认证一致"])
    notes.append([PHONE_COL, "签署人手机号，同一批次内不能重复"])
    for c in cols:
        if c.field is not None:
            notes.append([c.title, hints.get(c.field.kind, "文字")])
    notes.append(["", f"每次最多 {MAX_ROWS} 行；有误的行不会发起，其余行可以确认发起。"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_sheet(data: bytes, cols: list[Column], auto: dict[str, str],
                max_rows: int = MAX_ROWS, seconds: float = MAX_SECONDS,
                ) -> tuple[list[ParsedRow], list[RowError], int, int]:
    """Every row checked, cell by cell (CPU-bound: through core.cpu.run_cpu). Returns the
    good rows, the errors (at most MAX_ERRORS), the rows read and the rows refused."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge("Excel 文件不能超过 10 MB", code="upload_too_large")
    book = X.Workbook(data, X.Limits.for_rows(max_rows, seconds=seconds,
                                              max_uncompressed=MAX_UNCOMPRESSED))
    try:
        header, rows = book.sheet_rows(SHEET_TITLE)
        titles = {str(t or "").strip().rstrip("*").strip(): i for i, t in enumerate(header)}
        index: dict[str, int] = {}
        missing = []
        for c in cols:
            title = c.title.rstrip("*")
            if title in titles:
                index[c.title] = titles[title]
            elif c.field is None or c.field.required:
                missing.append(title)
        if missing:
            raise InvalidInput("表格缺少列：" + "、".join(missing) + "，请重新下载模板",
                               code="bad_template")
        good: list[ParsedRow] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        count = bad = 0
        for number, row in rows:
            if all(v is None or str(v).strip() == "" for v in row):
                continue
            count += 1
            if count > max_rows:
                raise X.too_many_rows(max_rows)
            cell = {c.title: _text(row[index[c.title]]) if c.title in index
                    and index[c.title] < len(row) else "" for c in cols}
            problems: list[tuple[str, str]] = []
            name = phone = ""
            try:
                name = check_person_name(cell[cols[0].title])
            except InvalidInput as exc:
                problems.append((NAME_COL, exc.message))
            try:
                phone = normalize_phone(cell[cols[1].title])
                if phone in seen:
                    problems.append((PHONE_COL, f"与第 {seen[phone]} 行手机号重复"))
                else:
                    seen[phone] = number
            except InvalidInput as exc:
                problems.append((PHONE_COL, exc.message))
            values: dict[str, str] = {}
            for c in cols[2:]:
                assert c.field is not None
                try:
                    values[c.key] = clean_value(c.field, cell[c.title])
                except InvalidInput as exc:
                    problems.append((c.title.rstrip("*"), exc.message))
            for key, source in auto.items():
                values[key] = name if source == "name" else phone
            if problems:
                bad += 1
                for column, message in problems:
                    if len(errors) < MAX_ERRORS:
                        errors.append(RowError(number, column, message))
            else:
                good.append(ParsedRow(number, name, phone, values))
        if count == 0:
            raise InvalidInput("Excel 中没有签署人数据", code="empty_import")
        return good, errors, count, bad
    finally:
        book.close()


# ---------------------------------------------------------------- drafts


@dataclass(frozen=True)
class BatchView:
    id: str
    template_id: str
    template_name: str
    version: int
    source: str
    state: str
    total: int
    error_rows: int
    errors: list[RowError]
    preview: list[ParsedRow]
    created_at: datetime
    deadline: datetime | None


async def _certified(tx: Tx, enterprise_id: str) -> None:
    ent = await R.load_enterprise(tx, enterprise_id)
    if ent.state != "certified":
        raise Conflict("企业完成认证后才能发起合同", code="enterprise_not_certified")


async def _draft(deps: Deps, user_id: str, enterprise_id: str, version: service.VersionView,
                 source: str, rows: list[ParsedRow], errors: list[RowError], bad: int,
                 deadline: datetime | None, seal_id: str | None, meta: RequestMeta,
                 employee_ids: dict[str, str] | None = None) -> str:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        await _certified(tx, enterprise_id)
        batch = ContractBatch(
            enterprise_id=enterprise_id, template_id=version.template_id,
            version_id=version.id, version=version.version, template_name=version.name,
            source=source, state="draft", created_by=user_id, deadline=deadline,
            seal_id=seal_id or None, total=len(rows),
            errors=[{"row": e.row, "column": e.column, "message": e.message}
                    for e in errors],
            error_rows=bad, created_at=now,
        )
        tx.session.add(batch)
        await tx.session.flush()
        records = [{"id": new_id(), "batch_id": batch.id, "row_no": r.row, "name": r.name,
                    "phone": r.phone, "values": r.values, "state": "queued",
                    "employee_id": (employee_ids or {}).get(r.phone), "updated_at": now}
                   for r in rows]
        for i in range(0, len(records), 500):
            await tx.session.execute(insert(BatchRow), records[i:i + 500])
        await log(tx, deps, "batch.drafted", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="contract_batch", subject_id=batch.id,
                  data={"template_id": version.template_id, "version": version.version,
                        "source": source, "rows": len(rows), "error_rows": bad}, meta=meta)
        return batch.id


async def draft_from_xlsx(deps: Deps, user_id: str, enterprise_id: str, template_id: str,
                          data: bytes, meta: RequestMeta, *, deadline: datetime | None = None,
                          seal_id: str | None = None) -> str:
    """Check an uploaded sheet into a draft batch (good rows + per-cell errors)."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge("Excel 文件不能超过 10 MB", code="upload_too_large")
    async with deps.db.transaction() as tx:
        version = await _version(tx, user_id, enterprise_id, template_id)
        await _certified(tx, enterprise_id)
    deadline = contract_send._check_deadline(deps, deadline)
    rows, errors, _, bad = await run_cpu(parse_sheet, data, columns(version),
                                         _auto_key(version))
    return await _draft(deps, user_id, enterprise_id, version, "xlsx", rows, errors, bad,
                        deadline, seal_id, meta)


async def draft_from_roster(deps: Deps, user_id: str, enterprise_id: str, template_id: str,
                            employee_ids: list[str], values: dict[str, object],
                            meta: RequestMeta, *, deadline: datetime | None = None,
                            seal_id: str | None = None) -> str:
    """A draft batch for employees picked on the roster; `values` fill the sender fields
    shared by all (name and phone fields of the person come from each employee)."""
    ids = list(dict.fromkeys(str(i) for i in employee_ids if i))
    if not ids:
        raise InvalidInput("请至少选择一名员工", code="no_employees", field="employee_ids")
    if len(ids) > MAX_ROSTER:
        raise InvalidInput(f"一次最多选择 {MAX_ROSTER} 名员工", code="too_many_employees",
                           field="employee_ids")
    deadline = contract_send._check_deadline(deps, deadline)
    async with deps.db.transaction() as tx:
        version = await _version(tx, user_id, enterprise_id, template_id)
        await _certified(tx, enterprise_id)
        people: list[Employee] = []
        for i in range(0, len(ids), 500):
            people += (await tx.session.execute(
                select(Employee).where(Employee.enterprise_id == enterprise_id,
                                       Employee.status == "active",
                                       Employee.id.in_(ids[i:i + 500])))).scalars().all()
    found = {e.id: e for e in people}
    auto = _auto_key(version)
    shared: dict[str, str] = {}
    for f in _sender_fields(version):
        if f.key not in auto:
            shared[f.key] = clean_value(f, values.get(f.key, f.default))
    rows, errors, bad = [], [], 0
    for n, eid in enumerate(ids, start=1):
        e = found.get(eid)
        if e is None:
            bad += 1
            errors.append(RowError(n, NAME_COL, "员工不存在或未在职"))
            continue
        row_values = dict(shared)
        for key, source in auto.items():
            row_values[key] = e.name if source == "name" else e.phone
        rows.append(ParsedRow(n, e.name, e.phone, row_values))
    return await _draft(deps, user_id, enterprise_id, version, "roster", rows,
                        errors[:MAX_ERRORS], bad, deadline, seal_id, meta,
                        employee_ids={e.phone: e.id for e in people})


async def _batch(tx: Tx, enterprise_id: str, batch_id: str, *, lock: bool = False
                 ) -> ContractBatch:
    query = select(ContractBatch).where(ContractBatch.id == batch_id)
    if lock:
        query = query.with_for_update()
    batch = (await tx.session.execute(query)).scalar_one_or_none()
    if batch is None or batch.enterprise_id != enterprise_id:
        raise NotFound("批次不存在", code="batch_not_found")
    return batch


async def _batch_for(tx: Tx, user_id: str, enterprise_id: str, batch_id: str, *,
                     lock: bool = False) -> ContractBatch:
    """A batch of the enterprise for a member who may send, and who may see its template's
    business type (a member limited away from it is told there is no such batch)."""
    actor = await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
    batch = await _batch(tx, enterprise_id, batch_id, lock=lock)
    if not await _sees(tx, actor, batch):
        raise NotFound("批次不存在", code="batch_not_found")
    return batch


async def _sees(tx: Tx, actor: R.Actor, batch: ContractBatch) -> bool:
    if not actor.type_limited:
        return True
    try:
        await service.load(tx, batch.enterprise_id, batch.template_id, actor=actor)
    except NotFound:
        return False
    return True


def _view(batch: ContractBatch, preview: list[BatchRow]) -> BatchView:
    return BatchView(
        batch.id, batch.template_id, batch.template_name, batch.version, batch.source,
        batch.state, batch.total, batch.error_rows,
        [RowError(int(e["row"]), str(e["column"]), str(e["message"])) for e in batch.errors],
        [ParsedRow(r.row_no, r.name, mask_phone(r.phone), dict(r.values)) for r in preview],
        batch.created_at, batch.deadline)


async def get_batch(deps: Deps, user_id: str, enterprise_id: str, batch_id: str) -> BatchView:
    async with deps.db.transaction() as tx:
        batch = await _batch_for(tx, user_id, enterprise_id, batch_id)
        preview = (await tx.session.execute(
            select(BatchRow).where(BatchRow.batch_id == batch.id)
            .order_by(BatchRow.row_no).limit(PREVIEW_ROWS))).scalars().all()
        return _view(batch, list(preview))


async def list_batches(deps: Deps, user_id: str, enterprise_id: str, limit: int = 50
                       ) -> list[BatchView]:
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        rows = (await tx.session.execute(
            select(ContractBatch).where(ContractBatch.enterprise_id == enterprise_id,
                                        ContractBatch.state != "draft")
            .order_by(ContractBatch.created_at.desc()).limit(min(limit, 100))
        )).scalars().all()
        return [_view(b, []) for b in rows if await _sees(tx, actor, b)]


async def confirm(deps: Deps, user_id: str, enterprise_id: str, batch_id: str,
                  meta: RequestMeta) -> None:
    """Send a draft: one bulk job per CHUNK_ROWS rows, keyed by batch and first row."""
    async with deps.db.transaction() as tx:
        batch = await _batch_for(tx, user_id, enterprise_id, batch_id, lock=True)
        await _certified(tx, enterprise_id)
        if batch.state != "draft":
            return  # confirmed already: a double submit changes nothing
        if batch.total == 0:
            raise Conflict("没有可以发起的行", code="batch_empty")
        now = deps.clock.now()
        batch.state, batch.confirmed_at = "running", now
        rows = (await tx.session.execute(
            select(BatchRow.id, BatchRow.row_no, BatchRow.values)
            .where(BatchRow.batch_id == batch.id).order_by(BatchRow.row_no)
        )).all()
        # The batch's state moves draft -> running once, under its row lock, so these
        # jobs are queued once; their keys (batch and first row) still make a second
        # queueing a no-op.
        whole = batch_chars([dict(v) for _, _, v in rows])
        jobs = []
        for i in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[i:i + CHUNK_ROWS]
            shared = whole if len(whole) <= MAX_SHARED_CHARS else batch_chars(
                [dict(v) for _, _, v in chunk])
            jobs.append({"id": new_id(), "kind": CHUNK_KIND,
                         "queue": outbox.queue_of(CHUNK_KIND),
                         "payload": {"row_ids": [rid for rid, _, _ in chunk], "shared": shared},
                         "status": "queued", "attempts": 0, "created_at": now,
                         "next_attempt_at": now,
                         "dedupe_key": f"batch-rows:{batch.id}:{chunk[0][1]}"})
        for i in range(0, len(jobs), 500):
            await tx.session.execute(insert(OutboxMessage), jobs[i:i + 500])
        if tx.dialect == "postgresql":  # as outbox.enqueue: wake every process's runners
            await tx.session.execute(text("SELECT pg_notify(:c, :q)"), {
                "c": outbox.NOTIFY_CHANNEL, "q": outbox.queue_of(CHUNK_KIND)})
        if deps.outbox_wakeup is not None:
            wakeup = deps.outbox_wakeup
            tx.after_commit(lambda: wakeup.wake(outbox.queue_of(CHUNK_KIND)))
        await log(tx, deps, "batch.confirmed", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="contract_batch", subject_id=batch.id,
                  data={"rows": len(rows)}, meta=meta)


# ---------------------------------------------------------------- the row job


class _AlreadyDone(Exception):
    """Another run of this row's job created its contract first."""


async def _finish_if_done(tx: Tx, deps: Deps, batch: ContractBatch) -> None:
    if batch.state != "running":
        return
    left = (await tx.session.execute(
        select(func.count()).select_from(BatchRow)
        .where(BatchRow.batch_id == batch.id, BatchRow.state == "queued"))).scalar_one()
    if left:
        return
    counts = dict((await tx.session.execute(
        select(BatchRow.state, func.count()).where(BatchRow.batch_id == batch.id)
        .group_by(BatchRow.state))).all())
    batch.state, batch.finished_at = "finished", deps.clock.now()
    await events.emit(tx, deps, batch.enterprise_id, "batch.finished", {
        "batch": "contracts", "batch_id": batch.id, "template_id": batch.template_id,
        "total": batch.total, "succeeded": counts.get("created", 0),
        "failed": counts.get("failed", 0)})


async def _fail_row(deps: Deps, row_id: str, message: str) -> None:
    async with deps.db.transaction() as tx:
        row = (await tx.session.execute(
            select(BatchRow).where(BatchRow.id == row_id).with_for_update())).scalar_one()
        if row.state != "queued":
            return
        row.state, row.error, row.updated_at = "failed", message[:300], deps.clock.now()
        await tx.session.flush()
        batch = await tx.session.get(ContractBatch, row.batch_id, with_for_update=True)
        assert batch is not None
        await _finish_if_done(tx, deps, batch)


def batch_chars(values: list[dict[str, Any]]) -> str:
    """Every character of the rows' values, sorted: the text a batch's font subset holds."""
    chars: set[str] = set()
    for row in values:
        for value in row.values():
            if isinstance(value, str):
                chars.update(value)
    return "".join(sorted(chars))


@dataclass(frozen=True)
class _Job:
    """What a chunk's rows share: the batch, its template version and blank PDF."""

    enterprise_id: str
    user_id: str
    version: service.VersionView
    type_id: str | None
    deadline: datetime | None
    seal_id: str | None
    shared: str
    template: bytes | None


async def _send_row(deps: Deps, job: _Job, row_id: str, name: str, phone: str,
                    values: dict[str, Any]) -> None:
    """One row, one contract, at most once: the row is marked created in the contract's
    own sending transaction, under the row's lock, only if it is still queued."""
    version = job.version
    person = first_person(version.roles)
    try:
        filled = await sending.fill_for_signers(
            deps, version, {person.key: sending.Party(name, phone)}, values,
            seal_id=job.seal_id, shared=job.shared, template=job.template)
        record = sending.origin_recorder(deps, filled)

        async def on_sent(tx: Tx, contract: Contract, rows: list[ContractSigner]) -> None:
            locked = (await tx.session.execute(
                select(BatchRow).where(BatchRow.id == row_id).with_for_update())).scalar_one()
            if locked.state != "queued":
                raise _AlreadyDone()
            await record(tx, contract, rows)
            locked.state, locked.contract_id = "created", contract.id
            locked.signer_id = rows[filled.filler_index].id
            locked.updated_at = deps.clock.now()
            await tx.session.flush()
            b = await tx.session.get(ContractBatch, locked.batch_id, with_for_update=True)
            assert b is not None
            await _finish_if_done(tx, deps, b)

        await contract_send.create_and_send(
            deps, job.user_id, job.enterprise_id, title=f"{version.name}（{name}）"[:100],
            filename=f"{version.name}.pdf", pdf=filled.pdf, signers=filled.signers,
            deadline=job.deadline, meta=RequestMeta(), on_sent=on_sent,
            business_type_id=job.type_id, produced=filled.info,
            one_transaction=job.template is not None)
    except _AlreadyDone:
        return
    except DomainError as exc:
        await _fail_row(deps, row_id, exc.message)


async def _load_job(deps: Deps, row_ids: list[str], shared: str
                    ) -> tuple[_Job, list[tuple[str, str, str, dict[str, Any]]]] | None:
    """The chunk's rows still queued (id, name, phone, values) and what they share."""
    async with deps.db.sessions() as session:
        rows = (await session.execute(
            select(BatchRow).where(BatchRow.id.in_(row_ids), BatchRow.state == "queued")
            .order_by(BatchRow.row_no))).scalars().all()
        if not rows:
            return None
        batch = await session.get(ContractBatch, rows[0].batch_id)
        assert batch is not None
        todo = [(r.id, r.name, r.phone, dict(r.values)) for r in rows
                if r.batch_id == batch.id]
        tv = await session.get(TemplateVersion, batch.version_id)
        assert tv is not None
        version = service.version_view(tv)
        ent_id, user_id = batch.enterprise_id, batch.created_by
        deadline, seal_id = batch.deadline, batch.seal_id
    async with deps.db.transaction() as tx:  # the contract gets the template's type
        type_id = await service.business_type_id(tx, ent_id, version.business_type)
    return _Job(ent_id, user_id, version, type_id, deadline, seal_id, shared, None), todo


async def deliver_row(deps: Deps, msg: OutboxMessage) -> None:
    """Outbox deliverer (a batch confirmed before chunked jobs): one row, one contract."""
    row_id = str(msg.payload["row_id"])
    loaded = await _load_job(deps, [row_id], "")
    if loaded is None:
        return
    job, todo = loaded
    if job.deadline is not None and job.deadline <= deps.clock.now():
        await _fail_row(deps, row_id, "批次的签署截止时间已过，未发起")
        return
    try:
        await _send_row(deps, job, *todo[0])
    except Exception:
        if msg.attempts >= deps.config.outbox.max_attempts:
            await _fail_row(deps, row_id, "发起失败，请稍后重试")
        raise


async def deliver_chunk(deps: Deps, msg: OutboxMessage) -> None:
    """Outbox deliverer: up to CHUNK_ROWS rows, each one contract at most once (a rerun
    of the job skips the rows already created or failed), ROWS_IN_FLIGHT at a time,
    filled with the batch's one font subset from the template PDF read once. A row that
    cannot be sent is marked failed with its message; an unexpected error retries the
    job (its remaining rows) and, on the last attempt, fails the rows still queued."""
    row_ids = [str(r) for r in msg.payload.get("row_ids", [])][:CHUNK_ROWS * 4]
    loaded = await _load_job(deps, row_ids, str(msg.payload.get("shared", "")))
    if loaded is None:
        return
    job, todo = loaded
    if job.deadline is not None and job.deadline <= deps.clock.now():
        for row_id, *_ in todo:
            await _fail_row(deps, row_id, "批次的签署截止时间已过，未发起")
        return
    try:  # the sender, once for the chunk (each row's sending transaction checks again)
        async with deps.db.transaction() as tx:
            await contract_send._sender_enterprise(tx, job.user_id, job.enterprise_id)
    except DomainError as exc:
        for row_id, *_ in todo:
            await _fail_row(deps, row_id, exc.message)
        return
    job = replace(job, template=await sending.template_pdf(deps, job.version))
    slots = asyncio.Semaphore(ROWS_IN_FLIGHT)

    async def one(row: tuple[str, str, str, dict[str, Any]]) -> None:
        async with slots:
            await _send_row(deps, job, *row)

    outcomes = await asyncio.gather(*(one(row) for row in todo), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        if msg.attempts >= deps.config.outbox.max_attempts:
            for (row_id, *_), outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    await _fail_row(deps, row_id, "发起失败，请稍后重试")
        raise errors[0]


# ---------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    batch_id: str
    state: str
    total: int
    queued: int
    created: int
    notified: int
    signed: int
    failed: int
    error_rows: int
    failures: list[tuple[int, str, str]]  # (row, name, message), first few


async def progress(deps: Deps, user_id: str, enterprise_id: str, batch_id: str) -> Progress:
    async with deps.db.transaction() as tx:
        batch = await _batch_for(tx, user_id, enterprise_id, batch_id)
        counts = dict((await tx.session.execute(
            select(BatchRow.state, func.count()).where(BatchRow.batch_id == batch.id)
            .group_by(BatchRow.state))).all())
        # The employee's turn notification (core.contracts.common.notify_turn) delivered.
        signer = BatchRow.signer_id
        sent_note = exists().where(
            OutboxMessage.status == "sent",
            (OutboxMessage.dedupe_key == "sms:contract-turn:" + signer)
            | (OutboxMessage.dedupe_key == "wx:contract-turn:" + signer))
        notified = (await tx.session.execute(
            select(func.count()).select_from(BatchRow)
            .where(BatchRow.batch_id == batch.id, BatchRow.state == "created", sent_note)
        )).scalar_one()
        signed = (await tx.session.execute(
            select(func.count()).select_from(BatchRow)
            .join(ContractSigner, and_(ContractSigner.id == BatchRow.signer_id,
                                       ContractSigner.state == SignerState.SIGNED))
            .where(BatchRow.batch_id == batch.id))).scalar_one()
        failures = (await tx.session.execute(
            select(BatchRow.row_no, BatchRow.name, BatchRow.error)
            .where(BatchRow.batch_id == batch.id, BatchRow.state == "failed")
            .order_by(BatchRow.row_no).limit(20))).all()
        return Progress(batch.id, batch.state, batch.total, counts.get("queued", 0),
                        counts.get("created", 0), notified, signed, counts.get("failed", 0),
                        batch.error_rows, [(n, nm, e or "") for n, nm, e in failures])


async def pending_seals(deps: Deps, user_id: str, enterprise_id: str, batch_id: str
                        ) -> list[str]:
    """The batch's contracts whose enterprise seal is now due (for sealing them together
    with one code: core.contracts.signing.request_sign_many)."""
    async with deps.db.transaction() as tx:
        batch = await _batch_for(tx, user_id, enterprise_id, batch_id)
        ids = (await tx.session.execute(
            select(BatchRow.contract_id)
            .join(ContractSigner, and_(ContractSigner.contract_id == BatchRow.contract_id,
                                       ContractSigner.party == "enterprise",
                                       ContractSigner.state == SignerState.PENDING))
            .where(BatchRow.batch_id == batch.id).order_by(BatchRow.row_no)
        )).scalars().all()
        return [str(i) for i in ids if i]


# ---------------------------------------------------------------- roster multi-select


@dataclass(frozen=True)
class RosterPage:
    items: list[sending.RosterPerson]
    total: int


async def roster(deps: Deps, user_id: str, enterprise_id: str, *, q: str = "",
                 department_id: str = "", offset: int = 0, limit: int = 100) -> RosterPage:
    """Active employees for the multi-select: name/phone search and a department."""
    q = (q or "").strip()[:40]
    limit = max(1, min(limit, 200))
    offset = max(0, min(offset, 100_000))
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        cond = [Employee.enterprise_id == enterprise_id, Employee.status == "active"]
        if q:
            cond.append(Employee.name.contains(q, autoescape=True)
                        | Employee.phone.contains(q, autoescape=True))
        if department_id:
            cond.append(Employee.department_id == department_id[:32])
        total = (await tx.session.execute(
            select(func.count()).select_from(Employee).where(*cond))).scalar_one()
        rows = (await tx.session.execute(
            select(Employee).where(*cond).order_by(Employee.name, Employee.id)
            .offset(offset).limit(limit))).scalars().all()
        return RosterPage([sending.RosterPerson(e.id, e.name, e.phone, mask_phone(e.phone),
                                                e.position or "") for e in rows], total)


async def departments(deps: Deps, user_id: str, enterprise_id: str) -> list[tuple[str, str]]:
    """(id, path) of the enterprise's departments, for the roster filter."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        return [(d.id, d.path) for d in flatten(await all_departments(tx, enterprise_id))]
