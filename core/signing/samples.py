"""A plain generated contract PDF (Helvetica, no embedded fonts) for demos, tests and bench."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (595, 842)
CLAUSES = [
    "1. Term. This contract runs for three years from the start date below.",
    "2. Position and place of work are as agreed in Annex 1.",
    "3. Working hours follow the standard working-hour system.",
    "4. Pay is made monthly by bank transfer, no later than the 10th.",
    "5. Social insurance and housing fund are paid as required by law.",
    "6. Either party may end this contract as provided by the Labour Contract Law.",
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def sample_contract_pdf(pages: int = 3, title: str = "LABOUR CONTRACT") -> bytes:
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
            }
        )
    )
    for number in range(1, pages + 1):
        lines = [f"BT /F1 18 Tf 72 770 Td ({_escape(title)}) Tj ET"]
        y = 730
        for clause in CLAUSES:
            lines.append(f"BT /F1 11 Tf 72 {y} Td ({_escape(clause)}) Tj ET")
            y -= 22
        if number == pages:
            lines.append("BT /F1 11 Tf 72 260 Td (Employer \\(seal\\):) Tj ET")
            lines.append("BT /F1 11 Tf 330 260 Td (Employee \\(signature\\):) Tj ET")
        lines.append(f"BT /F1 9 Tf 280 40 Td (Page {number} of {pages}) Tj ET")
        stream = generic.StreamObject(stream_data="\n".join(lines).encode("ascii"))
        page = PageObject(
            contents=writer.add_object(stream),
            media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, *A4)]),
            resources=generic.DictionaryObject(
                {
                    generic.pdf_name("/Font"): generic.DictionaryObject(
                        {generic.pdf_name("/F1"): font}
                    )
                }
            ),
        )
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# Where the sample's signature boxes go (last page, under the labels above).
ENTERPRISE_BOX = (72.0, 110.0, 242.0, 250.0)
EMPLOYEE_BOX = (330.0, 170.0, 500.0, 250.0)
