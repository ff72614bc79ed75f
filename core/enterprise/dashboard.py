"""Dashboard (B6) counts and chart, and the console's audit log view (B7).

The chart counts, per Beijing-time month, the enterprise's contracts sent and completed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import Select, func, select

from core.clock import LOCAL_ZONE
from core.context import Deps
from core.cpu import run_cpu
from core.enterprise import roles as R
from core.errors import InvalidInput
from storage.models import (
    AuditEntry,
    Contract,
    ContractSigner,
    Employee,
    JoinRequest,
    Member,
    Seal,
    SealGrant,
)
from storage.uow import Tx

# 待我处理: contracts due within this many days, and rejections of the last week.
DUE_SOON = timedelta(days=3)
RECENTLY_REJECTED = timedelta(days=7)
TODO_LIMIT = 10


@dataclass(frozen=True)
class ContractTodo:
    kind: str  # to_seal | due_soon | rejected
    id: str
    title: str
    url: str
    when: datetime | None  # the deadline, or when it was rejected
    note: str | None  # the rejection reason


@dataclass(frozen=True)
class Dashboard:
    enterprise_name: str
    state: str
    pending_reviews: int
    pending_joins: int
    collecting: int
    active_employees: int
    members: int
    seals_enabled: int
    months: list[tuple[str, int, int]]  # (YYYY-MM, sent, signed)
    chart_svg: str
    can_review: bool
    can_join_review: bool
    to_seal: list[ContractTodo]
    due_soon: list[ContractTodo]
    rejected: list[ContractTodo]


def month_keys(today: date, n: int = 6) -> list[str]:
    keys = []
    y, m = today.year, today.month
    for _ in range(n):
        keys.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return list(reversed(keys))


def chart_svg(months: list[tuple[str, int, int]]) -> str:
    """A small grouped bar chart (sent / signed per month) as inline SVG."""
    width, height, pad, bottom = 320, 180, 28, 28
    top = max([1] + [max(s, g) for _, s, g in months])
    slot = (width - pad) / max(1, len(months))
    bar = slot * 0.3
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="每月合同发送与签署数量" class="chart">',
        f'<line x1="{pad}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#ccc"/>',
        f'<text x="2" y="14" font-size="10" fill="#666">{top}</text>',
    ]
    scale = (height - bottom - 20) / top
    for i, (key, sent, signed) in enumerate(months):
        x = pad + i * slot + slot * 0.15
        for j, (value, colour) in enumerate(((sent, "#1f6feb"), (signed, "#2da44e"))):
            h = value * scale
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(key)} '
                f'{"发送" if j == 0 else "签署"} {value}</title></rect>'
            )
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="10" fill="#666">'
                     f'{escape(key[5:])}月</text>')
    parts.append(f'<rect x="{width - 110}" y="4" width="10" height="10" fill="#1f6feb"/>'
                 f'<text x="{width - 96}" y="13" font-size="10">发送</text>'
                 f'<rect x="{width - 60}" y="4" width="10" height="10" fill="#2da44e"/>'
                 f'<text x="{width - 46}" y="13" font-size="10">签署</text>')
    parts.append("</svg>")
    return "".join(parts)


async def monthly_contract_counts(
    tx: Tx, enterprise_id: str, keys: list[str]
) -> list[tuple[str, int, int]]:
    """(month, sent, completed) for each key; bucketed here so SQLite and PostgreSQL agree
    on Beijing-time months (only two timestamps a contract are read)."""
    first = datetime(int(keys[0][:4]), int(keys[0][5:]), 1, tzinfo=LOCAL_ZONE)
    rows = await tx.session.execute(
        select(Contract.sent_at, Contract.completed_at).where(
            Contract.enterprise_id == enterprise_id,
            (Contract.sent_at >= first) | (Contract.completed_at >= first),
        )
    )
    sent = dict.fromkeys(keys, 0)
    done = dict.fromkeys(keys, 0)
    for sent_at, completed_at in rows:
        for when, bucket in ((sent_at, sent), (completed_at, done)):
            if when is not None:
                key = when.astimezone(LOCAL_ZONE).strftime("%Y-%m")
                if key in bucket:
                    bucket[key] += 1
    return [(k, sent[k], done[k]) for k in keys]


async def dashboard(deps: Deps, user_id: str, enterprise_id: str) -> Dashboard:
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_VIEW)
        ent = await R.load_enterprise(tx, enterprise_id)

        async def count(model: Any, *cond: Any) -> int:
            return int((await tx.session.execute(
                select(func.count()).select_from(model).where(*cond))).scalar_one())

        e = Employee.enterprise_id == enterprise_id
        board = dict(
            pending_reviews=await count(Employee, e, Employee.status == "pending_review"),
            pending_joins=await count(JoinRequest, JoinRequest.enterprise_id == enterprise_id,
                                      JoinRequest.state == "pending"),
            collecting=await count(Employee, e, Employee.status == "collecting"),
            active_employees=await count(Employee, e, Employee.status == "active"),
            members=await count(Member, Member.enterprise_id == enterprise_id,
                                Member.status == "active"),
            seals_enabled=await count(Seal, Seal.enterprise_id == enterprise_id,
                                      Seal.status == "enabled"),
        )
        keys = month_keys(deps.clock.now().astimezone(LOCAL_ZONE).date())
        months = await monthly_contract_counts(tx, enterprise_id, keys)
        todos = await contract_todos(tx, deps, actor, ent.state == "certified")
    return Dashboard(ent.name, ent.state, months=months, chart_svg=chart_svg(months),
                     can_review=actor.can(R.EMPLOYEES_REVIEW),
                     can_join_review=actor.can(R.JOIN_REVIEW), to_seal=todos["to_seal"],
                     due_soon=todos["due_soon"], rejected=todos["rejected"], **board)


async def contract_todos(tx: Tx, deps: Deps, actor: R.Actor,
                         certified: bool) -> dict[str, list[ContractTodo]]:
    """The contracts waiting for this member: to seal (a pending enterprise row on a seal
    they hold a live grant on), due within three days, rejected in the last week. The last
    two follow the contract list's rule: everything with contracts.view, else their own."""
    now = deps.clock.now()
    ent_id = actor.enterprise_id
    my_seals = select(SealGrant.seal_id).join(Seal, Seal.id == SealGrant.seal_id).where(
        SealGrant.enterprise_id == ent_id, SealGrant.member_id == actor.member_id,
        SealGrant.revoked_at.is_(None), Seal.status == "enabled")
    sealing = select(ContractSigner.contract_id).where(
        ContractSigner.enterprise_id == ent_id, ContractSigner.party == "enterprise",
        ContractSigner.state == "pending", ContractSigner.seal_id.in_(my_seals))
    live = (Contract.enterprise_id == ent_id) & (Contract.state == "in_progress") & (
        Contract.deadline.is_(None) | (Contract.deadline > now))

    async def rows(*cond: Any, order: Any) -> list[Contract]:
        return list((await tx.session.execute(
            select(Contract).where(*cond).order_by(order).limit(TODO_LIMIT))).scalars())

    visible: Any = Contract.enterprise_id == ent_id
    if not actor.can(R.CONTRACTS_VIEW):
        visible = visible & ((Contract.initiator_id == actor.user_id) | Contract.id.in_(sealing))
    to_seal = await rows(live, Contract.id.in_(sealing),
                         order=Contract.sent_at) if certified else []
    due = await rows(live, visible, Contract.deadline <= now + DUE_SOON,
                     order=Contract.deadline)
    rejected = await rows(visible, Contract.state == "rejected",
                          Contract.ended_at >= now - RECENTLY_REJECTED,
                          order=Contract.ended_at.desc())

    def todo(kind: str, c: Contract, when: datetime | None, note: str | None = None
             ) -> ContractTodo:
        return ContractTodo(kind, c.id, c.title, f"/contracts/{c.id}", when, note)

    return {
        "to_seal": [todo("to_seal", c, c.deadline) for c in to_seal],
        "due_soon": [todo("due_soon", c, c.deadline) for c in due],
        "rejected": [todo("rejected", c, c.ended_at, c.end_reason) for c in rejected],
    }


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    action: str
    actor_id: str | None
    actor_name: str | None
    subject_type: str | None
    subject_id: str | None
    data: dict[str, Any]
    ip: str | None


async def _audit_query(tx: Tx, enterprise_id: str, member_id: str | None,
                       seal_id: str | None, date_from: date | None, date_to: date | None
                       ) -> tuple[Select[Any], dict[str, str]]:
    """The filtered entries' query (unordered, unlimited) and the members' names."""
    names = {
        uid: name for uid, name in (
            await tx.session.execute(
                select(Member.user_id, Member.display_name).where(
                    Member.enterprise_id == enterprise_id, Member.user_id.is_not(None))
            )
        ).all() if uid is not None
    }
    query = select(AuditEntry).where(AuditEntry.tenant_id == enterprise_id)
    if member_id:
        member = (
            await tx.session.execute(
                select(Member).where(Member.id == member_id,
                                     Member.enterprise_id == enterprise_id)
            )
        ).scalar_one_or_none()
        query = query.where(AuditEntry.actor_id == (member.user_id if member else "-"))
    if seal_id:
        query = query.where(AuditEntry.subject_type == "seal",
                            AuditEntry.subject_id == seal_id)
    if date_from:
        query = query.where(AuditEntry.at >= datetime(date_from.year, date_from.month,
                                                      date_from.day, tzinfo=UTC))
    if date_to:
        end = datetime(date_to.year, date_to.month, date_to.day, tzinfo=UTC)
        query = query.where(AuditEntry.at < end + timedelta(days=1))
    return query, names


def _audit_row(r: AuditEntry, names: dict[str, str]) -> AuditRow:
    return AuditRow(r.seq, r.at, r.action, r.actor_id, names.get(r.actor_id or ""),
                    r.subject_type, r.subject_id, r.data or {}, r.ip)


async def audit_log(
    deps: Deps, user_id: str, enterprise_id: str, *, member_id: str | None = None,
    seal_id: str | None = None, date_from: date | None = None, date_to: date | None = None,
    limit: int = 100, before_seq: int | None = None,
) -> list[AuditRow]:
    """This enterprise's entries only, newest first; filter by member, seal and dates."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.AUDIT_VIEW)
        query, names = await _audit_query(tx, enterprise_id, member_id, seal_id, date_from,
                                          date_to)
        if before_seq:
            query = query.where(AuditEntry.seq < before_seq)
        rows = (
            await tx.session.execute(query.order_by(AuditEntry.seq.desc())
                                     .limit(max(1, min(limit, 500))))
        ).scalars().all()
        return [_audit_row(r, names) for r in rows]


# ---------------------------------------------------------------- audit export

AUDIT_EXPORT_LIMIT = 20_000
AUDIT_EXPORT_BATCH = 1000
AUDIT_EXPORT_FORMATS = ("xlsx", "csv")
AUDIT_EXPORT_HEADER = ("序号", "时间", "操作", "操作代码", "操作人", "对象类型", "对象编号",
                       "详情", "IP")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


@dataclass(frozen=True)
class AuditLabel:
    """How one entry reads to people: the action's label, the actor, the details."""

    action: str
    actor: str
    details: str


def _default_label(row: AuditRow) -> AuditLabel:
    details = "；".join(f"{k}={v}" for k, v in row.data.items() if isinstance(v, str | int))
    return AuditLabel(row.action, row.actor_name or ("其他用户" if row.actor_id else "系统"),
                      details)


def export_cell(value: str) -> str:
    """A cell as text: 11-digit mobile numbers masked, and a value a spreadsheet would
    read as a formula (= + - @, or a tab/CR before one) prefixed with ' (CSV/formula
    injection)."""
    value = _PHONE.sub(r"\1****\2", value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _audit_export_row(row: AuditRow, label: AuditLabel) -> list[str]:
    when = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return [export_cell(v) for v in (
        str(row.seq), when.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
        label.action, row.action, label.actor, row.subject_type or "", row.subject_id or "",
        label.details, row.ip or "")]


def _audit_file(rows: list[list[str]], fmt: str) -> bytes:
    """The .xlsx (write-only: flat memory) or UTF-8 CSV with a BOM (Excel reads it as
    UTF-8). Runs in the CPU pool."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(AUDIT_EXPORT_HEADER)
        writer.writerows(rows)
        return ("\ufeff" + out.getvalue()).encode()
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("操作日志")
    for col, width in zip("ABCDEFGHI", (8, 20, 22, 26, 12, 14, 34, 60, 16), strict=True):
        ws.column_dimensions[col].width = width
    ws.append(list(AUDIT_EXPORT_HEADER))
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass(frozen=True)
class AuditExport:
    filename: str
    content_type: str
    data: bytes
    rows: int


async def export_audit_log(
    deps: Deps, user_id: str, enterprise_id: str, *, fmt: str = "xlsx",
    member_id: str | None = None, seal_id: str | None = None, date_from: date | None = None,
    date_to: date | None = None, label: Callable[[AuditRow], AuditLabel] | None = None,
) -> AuditExport:
    """The filtered audit log (newest first) as .xlsx or .csv, at most AUDIT_EXPORT_LIMIT
    entries (more: narrow the filters). Needs audit.view, like the log itself. `label`
    turns an entry into what people read (the console's labels); by default the codes."""
    if fmt not in AUDIT_EXPORT_FORMATS:
        raise InvalidInput("导出格式只能是 xlsx 或 csv", code="invalid_format", field="format")
    describe = label or _default_label
    rows: list[list[str]] = []
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.AUDIT_VIEW)
        query, names = await _audit_query(tx, enterprise_id, member_id, seal_id, date_from,
                                          date_to)
        total = (await tx.session.execute(
            select(func.count()).select_from(query.subquery()))).scalar_one()
        if total > AUDIT_EXPORT_LIMIT:
            raise InvalidInput(
                f"一次最多导出 {AUDIT_EXPORT_LIMIT} 条日志（当前 {total} 条），请缩小筛选范围",
                code="export_too_large")
        before: int | None = None
        while len(rows) < total:
            page = query if before is None else query.where(AuditEntry.seq < before)
            batch = (await tx.session.execute(
                page.order_by(AuditEntry.seq.desc()).limit(AUDIT_EXPORT_BATCH))).scalars().all()
            if not batch:
                break
            for r in batch:
                row = _audit_row(r, names)
                rows.append(_audit_export_row(row, describe(row)))
            before = batch[-1].seq
    data = await run_cpu(_audit_file, rows[:AUDIT_EXPORT_LIMIT], fmt)
    stamp = deps.clock.now().astimezone(LOCAL_ZONE).strftime("%Y%m%d%H%M")
    ctype = ("text/csv; charset=utf-8" if fmt == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return AuditExport(f"操作日志-{stamp}.{fmt}", ctype, data, len(rows))
