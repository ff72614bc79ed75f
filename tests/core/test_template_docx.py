"""Word (.docx) templates: converted by a real LibreOffice into the template's PDF (CJK text
and page count checked with poppler), garbage refused before the converter ever runs, a
conversion past its time limit killed with its whole process group, and no converter
installed answered with `docx_unsupported`."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from core.adapters.docx_libreoffice import LibreOfficeConverter
from core.errors import DomainError
from core.files import MB
from core.templates import docx, service
from handlers.app import build_converter
from storage.models import AuditEntry
from tests.contract_support import META, parties
from tests.docx_support import make_docx, zip_of

needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None,
                                   reason="LibreOffice (scripts/setup.sh) not installed")


def _fake_soffice(tmp_path: Path, body: str) -> str:
    """A stand-in program that records every run (and then does `body`)."""
    script = tmp_path / "fake-soffice"
    script.write_text(f"#!/bin/sh\necho $$ >> {tmp_path}/runs\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def _pages(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                          text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines()
                    if line.startswith("Pages:")))


@needs_soffice
async def test_a_docx_becomes_the_template_pdf_with_its_chinese_text_and_pages(
        deps, tmp_path) -> None:
    assert deps.converter is not None  # setup.sh installs LibreOffice
    p = await parties(deps)
    tid = await service.create_template(
        deps, p.admin_id, p.enterprise_id, name="研发劳动合同", business_type="劳动合同",
        filename="研发劳动合同.docx", meta=META,
        pdf=make_docx("劳动合同", ["甲方（用人单位）：某某科技有限公司", "乙方（劳动者）：张三"],
                      pages=3))
    view = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    assert view.page_count == 3 and view.filename == "研发劳动合同.pdf"
    w, h = view.page_sizes[0]
    assert abs(w - 595.3) < 1 and abs(h - 841.9) < 1  # A4, as the document says
    pdf = await service.template_pdf(deps, p.admin_id, p.enterprise_id, tid)
    assert pdf.startswith(b"%PDF-") and _pages(pdf, tmp_path) == 3
    text = _pdftotext(pdf, tmp_path)
    assert "劳动合同" in text and "某某科技有限公司" in text and "张三" in text
    async with deps.db.transaction() as tx:
        row = (await tx.session.execute(select(AuditEntry).where(
            AuditEntry.action == "template.created", AuditEntry.subject_id == tid))).scalar_one()
    assert row.data["converted_from"] == "docx" and row.data["pages"] == 3


@needs_soffice
async def test_replacing_with_a_docx_keeps_the_fields(deps) -> None:
    p = await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    before = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    last_page = max(pl.page for f in before.fields for pl in f.placements)
    view = await service.replace_pdf(
        deps, p.admin_id, p.enterprise_id, tid, filename="新版.docx", meta=META,
        pdf=make_docx(pages=last_page + 1))
    assert view.page_count == last_page + 1 and view.filename == "新版.pdf"
    assert [f.key for f in view.fields] == [f.key for f in before.fields]
    assert view.sha256 != before.sha256


GARBAGE = {
    "empty": (lambda: b"", "empty_upload"),
    "zip_magic_only": (lambda: b"PK\x03\x04 not really a zip at all", "not_docx"),
    "old_binary_doc": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "not_docx"),
    "text_named_docx": (lambda: b"just some text, named .docx", "not_docx"),
    "zip_without_document": (lambda: zip_of({"[Content_Types].xml": b"<Types/>",
                                             "word/other.xml": b"<x/>"}), "not_docx"),
    "zip_bomb": (lambda: zip_of({"[Content_Types].xml": b"<Types/>",
                                 "word/document.xml": b" " * (60 * MB)}), "docx_too_large"),
    "too_many_members": (lambda: zip_of({f"word/media/{n}.xml": b"x" for n in range(1001)}),
                         "docx_too_large"),
    "macros": (lambda: make_docx(extra={"word/vbaProject.bin": b"\0" * 64}), "docx_macros"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
async def test_garbage_is_refused_before_the_converter_runs(deps, tmp_path, case) -> None:
    make, code = GARBAGE[case]
    deps.converter = LibreOfficeConverter(_fake_soffice(tmp_path, "exit 1"),
                                          timeout_seconds=5)
    p = await parties(deps)
    with pytest.raises(DomainError) as err:
        await service.create_template(deps, p.admin_id, p.enterprise_id, name="坏文件",
                                      business_type="其他", filename="坏文件.docx", pdf=make(),
                                      meta=META)
    assert err.value.code == code
    assert not (tmp_path / "runs").exists()
    assert await service.list_templates(deps, p.admin_id, p.enterprise_id) == []


async def test_a_docx_over_the_upload_limit_is_refused_unread(deps, tmp_path) -> None:
    deps.converter = LibreOfficeConverter(_fake_soffice(tmp_path, "exit 1"),
                                          timeout_seconds=5)
    data = make_docx(extra={"word/media/big.bin": os.urandom(11 * MB)})
    with pytest.raises(DomainError) as err:
        await docx.as_pdf(deps, data, "big.docx")
    assert err.value.code == "docx_too_large" and err.value.status == 413
    assert not (tmp_path / "runs").exists()


async def test_a_document_the_converter_cannot_read_is_a_clear_refusal(deps, tmp_path
                                                                       ) -> None:
    deps.converter = LibreOfficeConverter(_fake_soffice(tmp_path, "exit 0"),
                                          timeout_seconds=5)
    with pytest.raises(DomainError) as err:
        await docx.as_pdf(deps, make_docx(), "a.docx")
    assert err.value.code == "docx_conversion_failed" and err.value.status == 400
    assert (tmp_path / "runs").exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


async def test_a_conversion_past_its_time_limit_is_killed_with_its_children(deps, tmp_path
                                                                           ) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # A launcher that starts a worker and waits, as soffice does with soffice.bin.
    program = _fake_soffice(tmp_path, f"sleep 60 &\necho $! >> {tmp_path}/runs\nwait")
    deps.converter = LibreOfficeConverter(program, timeout_seconds=0.5, work_dir=str(work))
    started = asyncio.get_running_loop().time()
    with pytest.raises(DomainError) as err:
        await docx.as_pdf(deps, make_docx(), "slow.docx")
    assert err.value.code == "docx_timeout"
    assert asyncio.get_running_loop().time() - started < 10
    pids = [int(x) for x in (tmp_path / "runs").read_text().split()]
    assert len(pids) == 2
    for _ in range(50):
        if not any(_alive(pid) for pid in pids):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
    assert list(work.iterdir()) == []  # the temporary profile and copies are gone


@needs_soffice
async def test_real_libreoffice_past_a_tiny_time_limit_is_killed(deps, tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    deps.converter = LibreOfficeConverter("soffice", timeout_seconds=0.2, work_dir=str(work))
    with pytest.raises(DomainError) as err:
        await docx.as_pdf(deps, make_docx(), "a.docx")
    assert err.value.code == "docx_timeout"
    await asyncio.sleep(0.3)
    running = [pid for pid in os.listdir("/proc") if pid.isdigit()
               and str(work).encode() in _cmdline(pid)]
    assert running == []
    assert list(work.iterdir()) == []


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def test_one_conversion_at_a_time_and_later_ones_refused_as_busy(deps, tmp_path
                                                                       ) -> None:
    program = _fake_soffice(tmp_path, "sleep 1.5; exit 1")
    deps.converter = LibreOfficeConverter(program, timeout_seconds=0.6, concurrency=1)
    results = await asyncio.gather(docx.as_pdf(deps, make_docx(), "a.docx"),
                                   docx.as_pdf(deps, make_docx(), "b.docx"),
                                   return_exceptions=True)
    codes = sorted(r.code for r in results if isinstance(r, DomainError))
    assert codes == ["docx_busy", "docx_timeout"]
    assert len((tmp_path / "runs").read_text().split()) == 1


async def test_without_a_converter_a_docx_is_docx_unsupported(deps, config) -> None:
    assert build_converter(config.replace(templates={"soffice": "/nonexistent/soffice"})
                           ) is None
    deps.converter = None
    p = await parties(deps)
    with pytest.raises(DomainError) as err:
        await service.create_template(deps, p.admin_id, p.enterprise_id, name="Word 模板",
                                      business_type="其他", filename="a.docx",
                                      pdf=make_docx(), meta=META)
    assert err.value.code == "docx_unsupported" and err.value.status == 415
    assert "PDF" in err.value.message


def test_the_soffice_path_comes_from_the_environment() -> None:
    from core.config import load_config

    cfg = load_config(env={"LABORSIGN_TEMPLATES_SOFFICE": "/opt/lo/program/soffice",
                           "LABORSIGN_TEMPLATES_CONVERT_TIMEOUT_SECONDS": "5"})
    assert cfg.templates.soffice == "/opt/lo/program/soffice"
    assert cfg.templates.convert_timeout_seconds == 5.0


def test_a_pdf_named_docx_is_still_a_pdf_and_names_are_kept_readable() -> None:
    assert not docx.is_word(b"%PDF-1.7\n...", "合同.docx")
    assert docx.is_word(make_docx(), "合同.pdf")
    assert docx.pdf_filename("合同.DOCX") == "合同.pdf"
    assert docx.pdf_filename("合同") == "合同.pdf"
    assert docx.pdf_filename(None) == "template.pdf"


def test_the_zip_checks_read_only_the_directory() -> None:
    bomb = zip_of({"[Content_Types].xml": b"<Types/>",
                   "word/document.xml": b"\0" * (5 * MB)})
    assert len(bomb) < 100 * 1024
    with pytest.raises(DomainError) as err:
        docx.check_docx(bomb)
    assert err.value.code == "docx_too_large"
    docx.check_docx(make_docx())  # a real one passes
