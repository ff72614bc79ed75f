"""Paper archive (C7): one PDF with metadata, batches of zip + xlsx with per-cell errors,
and archived contracts that nothing can sign, urge, revoke or send."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import LOCAL_ZONE
from core.context import Deps
from core.contracts import access, archive, ending, send, signing, urging
from core.contracts import archive_batch as AB
from core.contracts import ledger as L
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.signing.samples import sample_contract_pdf
from storage.models import AuditEntry, Contract
from tests.archive_support import pdfs, row, sheet, zip_of
from tests.contract_support import META, employee, person
from tests.enterprise_factories import certified_enterprise, user_phone
from tests.ledger_support import member_with, type_ids

PDF = sample_contract_pdf(2)


def _today(deps: Deps) -> date:
    return deps.clock.now().astimezone(LOCAL_ZONE).date()


async def _setup(deps: Deps) -> tuple[str, str, dict[str, str]]:
    ent, admin = await certified_enterprise(deps)
    return ent, admin, await type_ids(deps, ent)


def _inp(types: dict[str, str], deps: Deps, **kw: object) -> archive.ArchiveInput:
    today = _today(deps)
    base: dict[str, object] = dict(
        title="劳动合同（纸质）", business_type_id=types["劳动合同"], name="张三",
        phone="13800138000", signed_on=today - timedelta(days=30),
        start_on=today - timedelta(days=29), end_on=today + timedelta(days=700))
    base.update(kw)
    return archive.ArchiveInput(**base)  # type: ignore[arg-type]


async def _one(deps: Deps, ent: str, admin: str, types: dict[str, str], **kw: object) -> str:
    return await archive.archive_one(deps, admin, ent, _inp(types, deps, **kw), PDF,
                                     "张三.pdf", META)


async def test_archive_one_stores_the_pdf_hash_and_an_archive_number(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    cid = await _one(deps, ent, admin, types, remarks="原件存档于人事部")
    view = await archive.get_archive(deps, admin, ent, cid)
    assert view.state == "archived" and view.state_label == "已归档（纸质）"
    assert view.number.startswith("GD") and len(view.number) == 14
    assert view.remarks == "原件存档于人事部" and view.business_type == "劳动合同"
    doc = await archive.download(deps, admin, ent, cid)
    assert doc.sha256 == hashlib.sha256(doc.data).hexdigest() == view.sha256
    assert doc.data == PDF


async def test_archive_writes_an_audit_entry(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    cid = await _one(deps, ent, admin, types)
    async with deps.db.sessions() as s:
        actions = list((await s.execute(select(AuditEntry.action).where(
            AuditEntry.subject_id == cid))).scalars())
    assert "contract.archived" in actions


async def test_archived_contracts_are_a_ledger_state(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    cid = await _one(deps, ent, admin, types)
    page = await L.ledger(deps, admin, ent, L.parse_query({"state": "archived"}))
    assert [(i.id, i.state_label) for i in page.items] == [(cid, "已归档（纸质）")]
    assert page.items[0].url == f"/console/e/{ent}/archive/{cid}"
    assert not page.items[0].manageable
    live = await L.ledger(deps, admin, ent, L.parse_query({"state": "in_progress"}))
    assert live.total == 0


async def test_the_paper_number_is_kept_and_must_be_unique(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    cid = await _one(deps, ent, admin, types, number="LD-2025-001")
    assert (await archive.get_archive(deps, admin, ent, cid)).number == "LD-2025-001"
    with pytest.raises(Conflict) as err:
        await _one(deps, ent, admin, types, number="LD-2025-001")
    assert err.value.code == "duplicate_number"


@pytest.mark.parametrize(("change", "code"), [
    ({"phone": "1380013800"}, "invalid_phone"),
    ({"name": "x"}, "invalid_name"),
    ({"signed_on": None}, "invalid_date"),
    ({"title": ""}, "invalid_title"),
    ({"number": "编号 有空格"}, "invalid_number"),
    ({"business_type_id": "nope"}, "business_type_not_found"),
])
async def test_bad_fields_are_refused(deps: Deps, change: dict[str, object], code: str) -> None:
    ent, admin, types = await _setup(deps)
    with pytest.raises(InvalidInput) as err:
        await _one(deps, ent, admin, types, **change)
    assert err.value.code == code


async def test_end_before_start_is_refused(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    today = _today(deps)
    with pytest.raises(InvalidInput) as err:
        await _one(deps, ent, admin, types, start_on=today, end_on=today - timedelta(days=1))
    assert err.value.code == "end_before_start"


@pytest.mark.parametrize("data", [b"", b"not a pdf at all" * 10, sample_contract_pdf(1)[:-200]])
async def test_not_a_pdf_is_refused_and_nothing_is_written(deps: Deps, data: bytes) -> None:
    ent, admin, types = await _setup(deps)
    with pytest.raises(InvalidInput):
        await archive.archive_one(deps, admin, ent, _inp(types, deps), data, "x.pdf", META)
    async with deps.db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Contract))).scalar_one() == 0


async def test_a_member_without_the_permission_cannot_archive(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    legal = await member_with(deps, ent, admin, role="legal")
    with pytest.raises(PermissionDenied):
        await _one(deps, ent, legal, types)


async def test_an_outsider_cannot_archive_or_read(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    cid = await _one(deps, ent, admin, types)
    other_ent, other_admin = await certified_enterprise(deps, name="另一家科技有限公司")
    with pytest.raises(NotFound):
        await _one(deps, ent, other_admin, types)
    with pytest.raises(NotFound):
        await archive.get_archive(deps, other_admin, ent, cid)
    with pytest.raises(NotFound):
        await archive.get_archive(deps, other_admin, other_ent, cid)


async def test_business_type_limits_hold_for_archiving_and_reading(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    limited = await member_with(deps, ent, admin, role="hr", types=("保密协议",))
    with pytest.raises(InvalidInput) as err:
        await _one(deps, ent, limited, types)
    assert err.value.code == "business_type_not_found"
    labour = await _one(deps, ent, admin, types)
    nda = await _one(deps, ent, limited, types, business_type_id=types["保密协议"])
    listed = await archive.list_archives(deps, limited, ent)
    assert [v.id for v in listed.items] == [nda]
    with pytest.raises(NotFound):
        await archive.get_archive(deps, limited, ent, labour)


async def _archived_for_employee(deps: Deps) -> tuple[str, str, str, str]:
    ent, admin, types = await _setup(deps)
    emp = await employee(deps)
    cid = await _one(deps, ent, admin, types, phone=await user_phone(deps, emp))
    return ent, admin, emp, cid


async def test_the_employee_cannot_sign_an_archived_contract(deps: Deps) -> None:
    _, _, emp, cid = await _archived_for_employee(deps)
    with pytest.raises(Conflict) as err:
        await signing.request_sign(deps, emp, cid, META)
    assert err.value.code in ("contract_not_signable", "signer_not_pending")


async def test_an_archived_contract_cannot_be_urged(deps: Deps) -> None:
    ent, admin, _, cid = await _archived_for_employee(deps)
    with pytest.raises(Conflict) as err:
        await urging.urge_contract(deps, admin, cid, META, enterprise_id=ent)
    assert err.value.code == "contract_not_in_progress"


async def test_an_archived_contract_cannot_be_revoked(deps: Deps) -> None:
    ent, admin, _, cid = await _archived_for_employee(deps)
    with pytest.raises(Conflict):
        await ending.revoke_contract(deps, admin, cid, "录入错误", META, enterprise_id=ent)
    async with deps.db.sessions() as s:
        assert (await s.get(Contract, cid)).state == "archived"  # type: ignore[union-attr]


async def test_an_archived_contract_cannot_be_sent(deps: Deps) -> None:
    _, admin, emp, cid = await _archived_for_employee(deps)
    with pytest.raises(Conflict):
        await send.send_draft(deps, admin, cid, [person(await user_phone(deps, emp))],
                              meta=META)
    async with deps.db.sessions() as s:
        assert (await s.get(Contract, cid)).state == "archived"  # type: ignore[union-attr]


async def test_the_employee_sees_and_downloads_the_paper_contract(deps: Deps) -> None:
    _, _, emp, cid = await _archived_for_employee(deps)
    items = await access.list_contracts(deps, emp, "completed")
    assert [(i.id, i.state_label) for i in items] == [(cid, "已归档（纸质）")]
    view = await access.view_contract(deps, emp, cid)
    assert not view.can_sign and not view.can_revoke and view.can_download
    assert (await access.download(deps, emp, cid)).data == PDF


# ---------------------------------------------------------------- batches


def _batch(rows: list[list[object]], files: dict[str, bytes]) -> tuple[bytes, bytes]:
    return zip_of(files), sheet(rows)


async def _draft(deps: Deps, ent: str, user: str, rows: list[list[object]],
                 files: dict[str, bytes]) -> AB.BatchView:
    z, x = _batch(rows, files)
    bid = await AB.draft_batch(deps, user, ent, zip_data=z, zip_name="合同.zip", xlsx=x,
                               meta=META)
    return await AB.get_batch(deps, user, ent, bid)


async def test_a_batch_with_a_bad_row_archives_the_valid_rows(deps: Deps) -> None:
    ent, admin, _ = await _setup(deps)
    view = await _draft(deps, ent, admin, [
        row("a.pdf", "张三", "13800138001"),
        row("b.pdf", "李四", "1380013800"),
        row("c.pdf", "王五", "13800138003", number="LD-9"),
    ], pdfs("a.pdf", "b.pdf", "c.pdf"))
    assert view.state == "draft" and view.total == 2 and view.error_rows == 1
    assert [(e.row, e.column) for e in view.errors] == [(3, "手机号")]
    assert await AB.confirm_batch(deps, admin, ent, view.id, META) == 2
    listed = await archive.list_archives(deps, admin, ent, batch_id=view.id)
    assert sorted(v.name for v in listed.items) == ["张三", "王五"]
    assert {v.number for v in listed.items} >= {"LD-9"}
    with pytest.raises(Conflict):
        await AB.confirm_batch(deps, admin, ent, view.id, META)


async def test_every_bad_cell_is_reported_by_row_and_column(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    await _one(deps, ent, admin, types, number="TAKEN-1")
    files = pdfs("ok.pdf", "ok2.pdf", "ok3.pdf", "ok4.pdf")
    files["fake.pdf"] = b"%PDF-1.4 but not really"
    view = await _draft(deps, ent, admin, [
        row("missing.pdf", "张三", "13800138001"),
        row("fake.pdf", "张三", "13800138001"),
        row("ok.pdf", "张三", "13800138001", signed="2026-13-45"),
        row("ok2.pdf", "张三", "13800138001", btype="不存在的类型"),
        row("ok3.pdf", "张三", "13800138001", number="TAKEN-1"),
        row("ok4.pdf", "张三", "13800138001", start="2026-02-01", end="2026-01-01"),
        row("ok4.pdf", "李四", "13800138002", number="DUP"),
    ], files)
    got = {(e.row, e.column) for e in view.errors}
    assert got == {(2, "文件名"), (3, "文件名"), (4, "签署日期"), (5, "业务类型"),
                   (6, "合同编号"), (7, "结束日期"), (8, "文件名")}
    assert view.total == 0
    with pytest.raises(InvalidInput):
        await AB.confirm_batch(deps, admin, ent, view.id, META)


async def test_duplicate_numbers_within_the_sheet_are_refused(deps: Deps) -> None:
    ent, admin, _ = await _setup(deps)
    view = await _draft(deps, ent, admin, [
        row("a.pdf", "张三", "13800138001", number="N1"),
        row("b.pdf", "李四", "13800138002", number="N1"),
    ], pdfs("a.pdf", "b.pdf"))
    assert [(e.row, e.column) for e in view.errors] == [(3, "合同编号")]


async def test_files_in_folders_of_the_zip_are_found(deps: Deps) -> None:
    ent, admin, _ = await _setup(deps)
    files = {"扫描件/a.pdf": sample_contract_pdf(1)}
    view = await _draft(deps, ent, admin, [row("a.pdf", "张三", "13800138001")], files)
    assert view.total == 1 and not view.errors


async def test_a_batch_needs_the_permission(deps: Deps) -> None:
    ent, admin, _ = await _setup(deps)
    legal = await member_with(deps, ent, admin, role="legal")
    with pytest.raises(PermissionDenied):
        await _draft(deps, ent, legal, [row("a.pdf", "张三", "13800138001")], pdfs("a.pdf"))


async def test_another_enterprise_cannot_see_or_confirm_a_batch(deps: Deps) -> None:
    ent, admin, _ = await _setup(deps)
    view = await _draft(deps, ent, admin, [row("a.pdf", "张三", "13800138001")], pdfs("a.pdf"))
    other_ent, other_admin = await certified_enterprise(deps, name="另一家科技有限公司")
    with pytest.raises(NotFound):
        await AB.get_batch(deps, other_admin, other_ent, view.id)
    with pytest.raises(NotFound):
        await AB.confirm_batch(deps, other_admin, other_ent, view.id, META)


def _raw_zip(names: list[str], data: bytes = b"x") -> bytes:
    return zip_of({n: data for n in names})


@pytest.mark.parametrize(("zip_data", "words"), [
    (b"not a zip", "zip"),
    (_raw_zip(["../evil.pdf"]), "路径"),
    (_raw_zip(["/abs.pdf"]), "路径"),
    (_raw_zip(["inner.zip"]), "压缩包内不能再包含压缩包"),
    (_raw_zip([f"f{i}.pdf" for i in range(AB.MAX_MEMBERS + 1)]), "不能超过"),
    (zip_of({"bomb.pdf": b"\0" * (5 * 1024 * 1024)}), "压缩比"),
    (zip_of({"big.pdf": b"%PDF" + bytes(range(256)) * (45 * 1024)},
            compression=zipfile.ZIP_STORED), "超过"),
])
def test_hostile_zips_are_refused(zip_data: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        AB.zip_members(zip_data, 10 * 1024 * 1024)
    assert words in err.value.message


def test_the_template_has_the_columns() -> None:
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(AB.template_bytes()))
    header = [c.value for c in wb[AB.SHEET_TITLE][1]]
    assert [str(h).rstrip("*") for h in header] == list(AB.COLUMNS)


def test_api_keys_with_the_contracts_scope_may_archive() -> None:
    from core.integration.api_keys import needed_scope

    for path in ("/enterprises/{enterprise_id}/archives",
                 "/enterprises/{enterprise_id}/archive-batches",
                 "/enterprises/{enterprise_id}/archive-batches/{batch_id}/confirm"):
        assert needed_scope("POST", path) == "contracts"
    assert needed_scope("GET", "/enterprises/{enterprise_id}/archives") == "read"


async def test_the_employee_can_be_picked_from_the_roster(deps: Deps) -> None:
    from tests.ledger_support import employee_in

    ent, admin, types = await _setup(deps)
    phone = await employee_in(deps, ent, None, "陈一")
    async with deps.db.sessions() as s:
        from storage.models import Employee

        emp_id = (await s.execute(select(Employee.id).where(
            Employee.phone == phone))).scalar_one()
    cid = await _one(deps, ent, admin, types, name="", phone="", employee_id=emp_id)
    view = await archive.get_archive(deps, admin, ent, cid)
    assert (view.name, view.phone) == ("陈一", phone)
    other_ent, other_admin = await certified_enterprise(deps, name="另一家科技有限公司")
    other_types = await type_ids(deps, other_ent)
    with pytest.raises(InvalidInput) as err:
        await _one(deps, other_ent, other_admin, other_types, employee_id=emp_id)
    assert err.value.code == "employee_not_found"


async def test_a_number_taken_before_confirming_archives_nothing(deps: Deps) -> None:
    ent, admin, types = await _setup(deps)
    view = await _draft(deps, ent, admin, [
        row("a.pdf", "张三", "13800138001"),
        row("b.pdf", "李四", "13800138002", number="LATE-1"),
    ], pdfs("a.pdf", "b.pdf"))
    await _one(deps, ent, admin, types, number="LATE-1")
    with pytest.raises(Conflict) as err:
        await AB.confirm_batch(deps, admin, ent, view.id, META)
    assert "第 3 行" in err.value.message
    assert (await archive.list_archives(deps, admin, ent, batch_id=view.id)).total == 0
    assert (await AB.get_batch(deps, admin, ent, view.id)).state == "draft"


async def test_an_unconfirmed_archive_draft_goes_with_its_scans_after_a_week(
        deps: Deps, clock) -> None:
    """Its stored scans are deleted with it and the discard is audited; a draft younger
    than a week stays, and the old one can no longer be confirmed."""
    from datetime import timedelta

    from sqlalchemy import select

    from core.contracts import common
    from core.templates.batch_drafts import DRAFT_KEEP, discard_abandoned
    from storage.models import ArchiveBatch, AuditEntry

    ent, admin, _ = await _setup(deps)
    old = await _draft(deps, ent, admin, [row("a.pdf", "张三", "13800138001")], pdfs("a.pdf"))
    async with deps.db.sessions() as s:
        keys = [r["file_key"] for r in (await s.get(ArchiveBatch, old.id)).rows]
    assert keys and all(common.store(deps).exists(k) for k in keys)
    clock.advance(seconds=(DRAFT_KEEP + timedelta(minutes=1)).total_seconds())
    young = await _draft(deps, ent, admin, [row("b.pdf", "李四", "13800138002")],
                         pdfs("b.pdf"))
    assert await discard_abandoned(deps) == 1
    async with deps.db.sessions() as s:
        left = set((await s.execute(select(ArchiveBatch.id))).scalars())
        audited = (await s.execute(select(AuditEntry.subject_id).where(
            AuditEntry.action == "archive.batch_discarded"))).scalars().all()
    assert left == {young.id} and audited == [old.id]
    assert not any(common.store(deps).exists(k) for k in keys)
    with pytest.raises(NotFound):
        await AB.confirm_batch(deps, admin, ent, old.id, META)


async def test_an_unconfirmed_batch_can_be_discarded_by_hand_with_its_scans(
        deps: Deps) -> None:
    """The wrong files were uploaded: the draft and its stored scans go (audited, by whom);
    a confirmed batch and another enterprise's drafts cannot be discarded."""
    from sqlalchemy import select

    from core.contracts import common
    from storage.models import ArchiveBatch, AuditEntry

    ent, admin, _ = await _setup(deps)
    wrong = await _draft(deps, ent, admin, [row("a.pdf", "张三", "13800138001")],
                         pdfs("a.pdf"))
    async with deps.db.sessions() as s:
        keys = [r["file_key"] for r in (await s.get(ArchiveBatch, wrong.id)).rows]
    other_ent, other_admin = await certified_enterprise(deps, name="另一家科技有限公司")
    with pytest.raises(NotFound):
        await AB.discard_batch(deps, other_admin, other_ent, wrong.id, META)
    await AB.discard_batch(deps, admin, ent, wrong.id, META)
    assert keys and not any(common.store(deps).exists(k) for k in keys)
    async with deps.db.sessions() as s:
        assert await s.get(ArchiveBatch, wrong.id) is None
        who = (await s.execute(select(AuditEntry.actor_id).where(
            AuditEntry.action == "archive.batch_discarded",
            AuditEntry.subject_id == wrong.id))).scalars().all()
    assert who == [admin]
    with pytest.raises(NotFound):
        await AB.confirm_batch(deps, admin, ent, wrong.id, META)

    done = await _draft(deps, ent, admin, [row("b.pdf", "李四", "13800138002")],
                        pdfs("b.pdf"))
    await AB.confirm_batch(deps, admin, ent, done.id, META)
    with pytest.raises(Conflict) as kept:
        await AB.discard_batch(deps, admin, ent, done.id, META)
    assert kept.value.code == "batch_not_draft"
    assert (await archive.list_archives(deps, admin, ent, batch_id=done.id)).total == 1


@pytest.mark.parametrize("number", ["HT202612030001", "gd202612030001", "HT2026120300010"])
def test_a_number_shaped_like_a_generated_one_is_refused(number: str) -> None:
    """Typed, it would later meet that day's counter on the unique contract number."""
    with pytest.raises(InvalidInput) as refused:
        archive.check_number(number)
    assert refused.value.code == "invalid_number"
    assert archive.check_number("HT-2026-001") == "HT-2026-001"  # a paper's own still goes


def test_dates_are_checked_on_29_february_too() -> None:
    leap = date(2028, 2, 29)
    assert archive.parse_date("2030-05-01", "签署日期", "signed_on", leap) == date(2030, 5, 1)
    with pytest.raises(InvalidInput):
        archive.parse_date("2039-01-01", "签署日期", "signed_on", leap)


def test_a_page_number_in_other_digits_is_no_page() -> None:
    from core.contracts.page_marks import _page

    assert _page("2", 3) == 2
    assert _page("²", 3) is None and _page("٣", 3) is None and _page("9", 3) is None
