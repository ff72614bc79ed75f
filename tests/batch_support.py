"""Test data for batch sending: the model template's batch sheet filled with rows."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from core.templates import batch
from tests.enterprise_factories import id_number

ENT_VALUES = ["杭州示例劳务科技有限公司", "91330000MA0000000X", "李四", "杭州市西湖区"]


def header_of(sheet: bytes) -> list[str]:
    wb = load_workbook(io.BytesIO(sheet), read_only=True)
    ws = wb[batch.SHEET_TITLE]
    header = [str(c) for c in next(ws.iter_rows(values_only=True))]
    wb.close()
    return header


def sheet_with(header: list[str], rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = batch.SHEET_TITLE
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def model_row(name: str, phone: str, *, ident: str | None = None) -> list[object]:
    """A row of the model template's sheet: name, phone, the 4 enterprise fields, ID."""
    return [name, phone, *ENT_VALUES, ident or id_number()]
