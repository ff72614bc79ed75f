"""Test data for the paper archive: a zip of PDFs and the batch sheet."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from openpyxl import Workbook

from core.contracts.archive_batch import COLUMNS, SHEET_TITLE
from core.signing.samples import sample_contract_pdf


def zip_of(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def sheet(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET_TITLE
    ws.append(header or list(COLUMNS))
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row(filename: str, name: str, phone: str, *, title: str = "劳动合同（纸质）",
        btype: str = "劳动合同", signed: object = "2026-01-05", start: object = "",
        end: object = "", number: str = "", remarks: str = "") -> list[object]:
    return [filename, title, btype, name, phone, signed, start, end, number, remarks]


def pdfs(*names: str) -> dict[str, bytes]:
    return {n: sample_contract_pdf(1, title=f"PAPER {i}") for i, n in enumerate(names)}


def a_date(days_ago: int, today: date) -> str:
    return date.fromordinal(today.toordinal() - days_ago).isoformat()
