"""Excel onboarding import: template, parse off the event loop, all rows or none.

The upload is read by a bounded streaming reader (core/enterprise/xlsx_reader.py): zip
member sizes and ratios, the declared dimension and string count are checked first, and
rows (empty ones too), cells, shared strings and CPU time are bounded while it runs.
Every row is validated; if any row fails, nothing is written and the errors are
returned by row number.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import insert, select

from core.context import Deps, RequestMeta
from core.cpu import run_cpu
from core.crypto import FieldCipher
from core.enterprise import roles as R
from core.enterprise import xlsx_reader as X
from core.enterprise.common import cipher, log
from core.enterprise.departments import all_departments
from core.enterprise.employees import (
    ALWAYS,
    FIELDS,
    EmployeeStatus,
    clean_values,
    dept_lookup_for,
)
from core.errors import InvalidInput, PayloadTooLarge
from core.files import MB
from core.integration import events
from storage.models import Employee
from storage.models.base import new_id

MAX_BYTES = 10 * MB
# 10,000 rows of the template unpack to ~3 MB; the bound leaves room for other sheets.
MAX_UNCOMPRESSED = 60 * MB
MAX_ROWS = 10_000
# CPU seconds for parsing and validating one file (10,000 good rows take ~2 s).
MAX_SECONDS = 30.0
MAX_ERRORS = 200
SHEET_TITLE = "员工信息"


@dataclass(frozen=True)
class RowError:
    row: int  # the Excel row number (header is row 1)
    field: str
    message: str


@dataclass(frozen=True)
class ImportReport:
    imported: int
    errors: list[RowError]
    total_rows: int

    @property
    def ok(self) -> bool:
        return not self.errors


def _columns(enabled: Sequence[str]) -> list[str]:
    return [k for k in FIELDS if k in ALWAYS or k in enabled]


def template_bytes(enabled: Sequence[str]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    cols = _columns(enabled)
    ws.append([FIELDS[k] + ("*" if k in ALWAYS else "") for k in cols])
    notes = wb.create_sheet("填写说明")
    notes.append(["字段", "说明"])
    hints = {
        "name": "与身份证一致", "phone": "11 位手机号，同一企业内不能重复",
        "id_number": "18 位居民身份证号",
        "department": "已在部门管理中创建的部门名称或路径，如 研发部/前端组",
        "start_date": "格式 2026-01-31", "bank_card": "12–19 位数字",
    }
    for k in cols:
        notes.append([FIELDS[k], hints.get(k, "")])
    notes.append(["", f"每次最多导入 {MAX_ROWS} 行；任何一行有误时整批不导入。"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    return value


def parse_rows(
    data: bytes, enabled: Sequence[str], dept_lookup: Mapping[str, str], c: FieldCipher,
    existing_phones: set[str], max_rows: int = MAX_ROWS, seconds: float = MAX_SECONDS,
) -> tuple[list[dict[str, Any]], list[RowError], int]:
    """Parse + validate every row (CPU-bound: called through core.cpu.run_cpu).

    The reader bounds rows (empty ones too), cells, shared strings and CPU time, and
    checks what the zip declares before it parses anything (core/enterprise/xlsx_reader).
    """
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge("Excel 文件不能超过 10 MB", code="upload_too_large")
    book = X.Workbook(data, X.Limits.for_rows(max_rows, seconds=seconds,
                                              max_uncompressed=MAX_UNCOMPRESSED))
    try:
        header, rows = book.sheet_rows(SHEET_TITLE)
        by_label = {label: key for key, label in FIELDS.items()}
        index: dict[str, int] = {}
        for i, title in enumerate(header):
            label = str(title or "").strip().rstrip("*").strip()
            if label in by_label:
                index[by_label[label]] = i
        missing = [FIELDS[k] for k in ALWAYS if k not in index]
        if missing:
            raise InvalidInput("模板缺少必填列：" + "、".join(missing), code="bad_template")
        cols = [k for k in _columns(enabled) if k in index]
        out: list[dict[str, Any]] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        count = 0
        for number, row in rows:
            if all(v is None or str(v).strip() == "" for v in row):
                continue
            count += 1
            if count > max_rows:
                raise X.too_many_rows(max_rows)
            raw = {k: _cell(row[index[k]]) if index[k] < len(row) else None for k in cols}
            values, problems = clean_values(raw, enabled, dept_lookup, c, require_all=False)
            phone = values.get("phone")
            if phone:
                if phone in existing_phones:
                    problems.setdefault("phone", "该手机号的员工已存在")
                elif phone in seen:
                    problems.setdefault("phone", f"与第 {seen[phone]} 行手机号重复")
                else:
                    seen[phone] = number
            for key, message in problems.items():
                if len(errors) < MAX_ERRORS:
                    errors.append(RowError(number, FIELDS[key], message))
            if not problems and not errors:
                out.append(values)
        if count == 0:
            raise InvalidInput("Excel 中没有员工数据", code="empty_import")
        return (out if not errors else []), errors, count
    finally:
        book.close()


async def import_employees(
    deps: Deps, user_id: str, enterprise_id: str, data: bytes, meta: RequestMeta,
    *, activate: bool = False,
) -> ImportReport:
    """Import every row or none. activate=True skips review (HR's own trusted data)."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge("Excel 文件不能超过 10 MB", code="upload_too_large")
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        if activate:
            await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_REVIEW)
        ent = await R.load_enterprise(tx, enterprise_id)
        enabled = list(ent.onboarding_fields or [])
        lookup = dept_lookup_for(await all_departments(tx, enterprise_id))
        existing = set(
            (
                await tx.session.execute(
                    select(Employee.phone).where(Employee.enterprise_id == enterprise_id,
                                                 Employee.status != EmployeeStatus.RESIGNED)
                )
            ).scalars().all()
        )
    # Parsing and validating thousands of rows is pure Python CPU work: in a thread it
    # would hold the GIL and stall the event loop, so it runs in the process pool.
    rows, errors, total = await run_cpu(
        parse_rows, data, enabled, lookup, cipher(deps), existing
    )
    if errors:
        return ImportReport(0, errors, total)
    now = deps.clock.now()
    status = EmployeeStatus.ACTIVE if activate else EmployeeStatus.PENDING_REVIEW
    records = []
    for values in rows:
        record: dict[str, Any] = {
            "id": new_id(), "enterprise_id": enterprise_id, "status": status,
            "source": "import", "created_at": now, "updated_at": now,
            "name": values["name"], "phone": values["phone"], "fields": values["fields"],
        }
        for key in ("id_type", "id_number_cipher", "id_number_hash", "id_number_masked",
                    "department_id", "position", "start_date"):
            record[key] = values.get(key)
        records.append(record)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        # Someone may have added one of these phones while the file was parsed.
        phones = [r["phone"] for r in records]
        clash: set[str] = set()
        for i in range(0, len(phones), 500):
            clash |= set(
                (
                    await tx.session.execute(
                        select(Employee.phone).where(
                            Employee.enterprise_id == enterprise_id,
                            Employee.status != EmployeeStatus.RESIGNED,
                            Employee.phone.in_(phones[i:i + 500]),
                        )
                    )
                ).scalars().all()
            )
        if clash:
            return ImportReport(0, [RowError(0, FIELDS["phone"], f"手机号 {p} 的员工已存在")
                                    for p in sorted(clash)[:MAX_ERRORS]], total)
        for i in range(0, len(records), 1000):
            await tx.session.execute(insert(Employee), records[i:i + 1000])
        await log(tx, deps, "employee.imported", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="enterprise", subject_id=enterprise_id,
                  data={"count": len(records), "status": status}, meta=meta)
        await events.emit(tx, deps, enterprise_id, "batch.finished", {
            "batch": "employee_import", "total": total, "succeeded": len(records),
            "failed": 0, "status": str(status)})
    return ImportReport(len(records), [], total)
