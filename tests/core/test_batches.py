"""Batch sending, multi-document tasks signed with one code, the enterprise sealing a
batch with one code, and the onboarding QR's template, through the real services."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from core.contracts import access, signing
from core.enterprise import employees as employee_service
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.files import file_store, read_verified
from core.templates import batch, onboarding, service, tasks
from core.templates.sending import Party
from storage.models import (
    BatchRow,
    BusinessType,
    Contract,
    ContractDocument,
    ContractSigner,
    Employee,
    OutboxMessage,
    TemplateVersion,
    WebhookEvent,
)
from tests.batch_support import ENT_VALUES, header_of, model_row, sheet_with
from tests.contract_support import META, employee, parties, sign_as, start_tsa
from tests.enterprise_factories import id_number, joined_member, new_phone, user_phone
from tests.factories import last_code
from tests.template_support import basic_fields, published_template, short_contract_pdf


async def _contracts(deps) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(Contract))).scalar_one()


async def test_sheet_has_a_column_per_sender_field_and_rows_fail_per_cell(deps) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    _, sheet = await batch.sheet(deps, p.admin_id, p.enterprise_id, tid)
    header = header_of(sheet)
    assert header[:2] == ["姓名*", "手机号*"]
    assert "居民身份证号码*" in header and "甲方（用人单位）*" in header
    assert not any("劳动者" in h or "联系电话" in h for h in header)  # from name / phone
    assert not any("经常居住地" in h for h in header)  # the employee fills it
    good = new_phone()
    bad_id = id_number()[:17] + ("0" if id_number()[17] != "0" else "1")
    data = sheet_with(header, [
        model_row("王小明", good),
        model_row("李", "12345", ident=bad_id),   # row 3: name, phone and ID all bad
        model_row("赵小红", good),                # row 4: the phone of row 2 again
    ])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    view = await batch.get_batch(deps, p.admin_id, p.enterprise_id, bid)
    assert view.state == "draft" and view.total == 1 and view.error_rows == 2
    cells = {(e.row, e.column) for e in view.errors}
    assert {(3, "手机号"), (3, "居民身份证号码"), (4, "手机号")} <= cells
    assert next(e.message for e in view.errors if e.row == 4) == "与第 2 行手机号重复"
    assert view.preview[0].name == "王小明" and view.preview[0].values["emp_phone"] == good
    assert await _contracts(deps) == 0  # nothing is sent before confirming


async def test_a_sheet_missing_a_required_column_is_refused(deps) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    data = sheet_with(["姓名*", "手机号*"], [["王小明", new_phone()]])
    with pytest.raises(InvalidInput) as err:
        await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    assert err.value.code == "bad_template" and "居民身份证号码" in err.value.message


async def test_rows_become_contracts_once_whatever_the_retries(deps, outbox,
                                                               monkeypatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_ROWS", 2)
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    rows = [model_row(n, new_phone()) for n in ("王一", "王二", "王三")]
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid,
                                      sheet_with(header, rows), META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)  # double submit
    async with deps.db.sessions() as s:
        jobs = (await s.execute(select(OutboxMessage).where(
            OutboxMessage.kind == batch.CHUNK_KIND).order_by(OutboxMessage.dedupe_key)
        )).scalars().all()
    assert [len(j.payload["row_ids"]) for j in jobs] == [2, 1]  # one job per chunk of rows
    # The batch's characters, for its one font subset, in every chunk's job.
    assert jobs[0].payload["shared"] == jobs[1].payload["shared"]
    assert {"王", "一", "二", "三"} <= set(jobs[0].payload["shared"])
    # A chunk's job delivered twice, even side by side (a crash after the commit, an
    # expired claim): one contract per row.
    await asyncio.gather(batch.deliver_chunk(deps, jobs[0]), batch.deliver_chunk(deps, jobs[0]))
    await batch.deliver_chunk(deps, jobs[0])
    assert await _contracts(deps) == 2
    mid = await batch.progress(deps, p.admin_id, p.enterprise_id, bid)
    assert (mid.state, mid.created, mid.queued, mid.notified) == ("running", 2, 1, 0)
    await outbox.drain()
    await batch.deliver_chunk(deps, jobs[1])
    assert await _contracts(deps) == 3
    done = await batch.progress(deps, p.admin_id, p.enterprise_id, bid)
    assert (done.state, done.total, done.created, done.failed) == ("finished", 3, 3, 0)
    assert done.notified == 3 and done.signed == 0
    async with deps.db.sessions() as s:
        titles = sorted((await s.execute(select(Contract.title))).scalars())
        events = (await s.execute(select(WebhookEvent).where(
            WebhookEvent.type == "batch.finished"))).scalars().all()
    assert titles == sorted(f"劳动合同（示范文本）（{n}）" for n in ("王一", "王二", "王三"))
    assert len(events) == 1 and events[0].data["succeeded"] == 3


async def test_a_row_job_queued_before_chunks_still_sends_its_row_once(deps) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, sheet_with(
        header, [model_row("王一", new_phone()), model_row("王二", new_phone())]), META)
    async with deps.db.sessions() as s:
        row_id = (await s.execute(select(BatchRow.id).where(
            BatchRow.batch_id == bid, BatchRow.name == "王一"))).scalar_one()
    job = OutboxMessage(kind=batch.ROW_KIND, payload={"row_id": row_id}, attempts=1)
    await batch.deliver_row(deps, job)
    await batch.deliver_row(deps, job)
    assert await _contracts(deps) == 1


def _pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def _filled_fonts(pdf: bytes) -> list[bytes]:
    """The font programs the filling embedded (resources named LSFill…), page by page."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    out = []
    for ix in range(int(reader.root["/Pages"]["/Count"])):
        page = reader.find_page_for_modification(ix)[0].get_object()
        fonts = page["/Resources"].get("/Font", {})
        for key, font in fonts.items():
            if key.startswith("/LSFill"):
                cid_font = font.get_object()["/DescendantFonts"][0].get_object()
                out.append(cid_font["/FontDescriptor"]["/FontFile3"].get_object().data)
    return out


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
async def test_a_batch_fills_every_row_from_one_font_subset(deps, outbox) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    names = ["欧阳锋", "诸葛亮", "黄药师"]  # no character in common
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, sheet_with(
        header, [model_row(n, new_phone()) for n in names]), META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    await outbox.drain()
    assert (await batch.progress(deps, p.admin_id, p.enterprise_id, bid)).created == 3
    async with deps.db.sessions() as s:
        docs = (await s.execute(
            select(BatchRow.name, ContractDocument.file_key, ContractDocument.current_sha256,
                   ContractDocument.page_count)
            .join(ContractDocument, ContractDocument.contract_id == BatchRow.contract_id)
            .where(BatchRow.batch_id == bid))).all()
        pages = len((await s.execute(select(TemplateVersion.page_sizes).where(
            TemplateVersion.template_id == tid))).scalars().first() or [])
    assert sorted(d[0] for d in docs) == sorted(names)
    programs = set()
    for name, key, sha, page_count in docs:
        pdf = read_verified(file_store(deps), key, sha)
        text = _pdftotext(pdf)
        # The row's own name renders (and extracts), the other rows' names do not appear.
        assert name in text.replace(" ", "")
        assert not any(other in text for other in names if other != name)
        assert ENT_VALUES[0] in text.replace(" ", "")
        assert page_count == pages > 1
        fonts = _filled_fonts(pdf)
        assert fonts
        programs.update(fonts)
    # Every contract embeds the same subset, which holds every row's characters.
    assert len(programs) == 1


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
async def test_a_shared_subset_covers_text_it_was_not_given(deps) -> None:
    """A value with a character the batch's text lacks still renders (its own subset)."""
    from core.templates.fill import Stamp, fill_pdf

    config = deps.config
    blank = short_contract_pdf(config)
    font = dict(font_path=config.signing.font_path, font_index=config.signing.font_index,
                max_bytes=10_000_000)
    a = fill_pdf(blank, [Stamp(0, (100, 100, 300, 120), "欧阳锋", 12)], shared="欧阳锋诸葛亮",
                 **font)
    b = fill_pdf(blank, [Stamp(0, (100, 100, 300, 120), "诸葛亮", 12)], shared="欧阳锋诸葛亮",
                 **font)
    c = fill_pdf(blank, [Stamp(0, (100, 100, 300, 120), "黄药师", 12)], shared="欧阳锋诸葛亮",
                 **font)
    assert _filled_fonts(a) == _filled_fonts(b) != _filled_fonts(c)
    for pdf, name in ((a, "欧阳锋"), (b, "诸葛亮"), (c, "黄药师")):
        text = _pdftotext(pdf)
        assert name in text.replace(" ", "")


async def test_progress_counts_failed_and_signed_rows(deps, outbox, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    data = sheet_with(header, [model_row("张三", p.employee_phone), model_row("王五", new_phone())])
    # A seal of another enterprise: every row fails for good, with the reason kept.
    bad = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META,
                                      seal_id="0" * 32)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bad, META)
    await outbox.drain()
    failed = await batch.progress(deps, p.admin_id, p.enterprise_id, bad)
    assert (failed.state, failed.failed, failed.created) == ("finished", 2, 0)
    assert failed.failures[0][2] == "印章不存在"

    good = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, good, META)
    await outbox.drain()
    async with deps.db.sessions() as s:
        cid = (await s.execute(select(BatchRow.contract_id).where(
            BatchRow.batch_id == good, BatchRow.phone == p.employee_phone))).scalar_one()
    from core.templates import sending
    await sending.fill_employee_fields(deps, p.employee_id, cid,
                                       {"emp_address": "杭州市天目山路1号"}, META)
    await sign_as(deps, outbox, p.employee_id, cid)
    now = await batch.progress(deps, p.admin_id, p.enterprise_id, good)
    assert (now.created, now.notified, now.signed, now.failed) == (2, 2, 1, 0)
    # The enterprise's seals now due in this batch: one.
    assert await batch.pending_seals(deps, p.sealer_id, p.enterprise_id, good) == [cid]


async def test_batches_need_contracts_send_and_stay_in_their_enterprise(deps) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    with pytest.raises(PermissionDenied):
        await batch.sheet(deps, staff, p.enterprise_id, tid)
    other = await parties(deps)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid,
                                      sheet_with(header, [model_row("王一", new_phone())]), META)
    from core.errors import NotFound
    with pytest.raises((NotFound, PermissionDenied)):
        await batch.progress(deps, other.admin_id, p.enterprise_id, bid)
    with pytest.raises(NotFound):
        await batch.progress(deps, other.admin_id, other.enterprise_id, bid)


async def test_roster_selection_makes_a_batch(deps, outbox) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        people = [Employee(enterprise_id=p.enterprise_id, name=n, phone=new_phone(),
                           status="active", source="manual", fields={}, created_at=now,
                           updated_at=now) for n in ("钱一", "钱二", "孙三")]
        tx.session.add_all(people)
    page = await batch.roster(deps, p.admin_id, p.enterprise_id, q="钱")
    assert page.total == 2 and {e.name for e in page.items} == {"钱一", "钱二"}
    with pytest.raises(InvalidInput):  # the shared values are checked
        await batch.draft_from_roster(deps, p.admin_id, p.enterprise_id, tid,
                                      [e.id for e in page.items], {}, META)
    values = {"ent_name": "杭州示例劳务科技有限公司", "ent_code": "91330000MA0000000X",
              "ent_rep": "李四", "ent_address": "杭州市西湖区", "emp_id": id_number()}
    bid = await batch.draft_from_roster(deps, p.admin_id, p.enterprise_id, tid,
                                        [e.id for e in page.items] + ["nobody"], values, META)
    view = await batch.get_batch(deps, p.admin_id, p.enterprise_id, bid)
    assert view.total == 2 and view.error_rows == 1
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    await outbox.drain()
    assert (await batch.progress(deps, p.admin_id, p.enterprise_id, bid)).created == 2


async def _plain_template(deps, p, name: str, salary: str = "") -> str:
    """A template without employee fields (nothing to fill before signing)."""
    fields = [f if f["key"] != "salary" else {**f, "default": salary}
              for f in basic_fields() if f.get("filler") != "employee"]
    tid = await service.create_template(
        deps, p.admin_id, p.enterprise_id, name=name, business_type="保密协议",
        filename="x.pdf", pdf=short_contract_pdf(deps.config), fields=fields, meta=META)
    await service.publish(deps, p.admin_id, p.enterprise_id, tid, meta=META)
    return tid


async def test_three_documents_one_code_then_the_enterprise_seals_them_with_one_code(
        deps, outbox, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    tids = [await _plain_template(deps, p, n) for n in ("劳动合同", "保密协议", "员工手册确认书")]
    values = {t: {"salary": "8000"} for t in tids}
    task_id = await tasks.send_task(deps, p.admin_id, p.enterprise_id, tids,
                                    party=Party("张三", p.employee_phone), values=values,
                                    meta=META)
    async with deps.db.sessions() as s:
        notes = (await s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
            OutboxMessage.dedupe_key.like("sms:%")))).all()
    live = [k for k, st in notes if st == "queued"]
    assert live == [f"sms:task-turn:{task_id}"]  # one message for the task, not three
    view = await tasks.view_task(deps, p.employee_id, task_id)
    assert [d.title.split("（")[0] for d in view.docs] == ["劳动合同", "保密协议", "员工手册确认书"]
    ids = tasks.check_all_signable(view)
    assert len(ids) == 3
    # Each document, opened alone, leads its signer back to the group (E5).
    seen = await access.view_contract(deps, p.employee_id, ids[1])
    assert (seen.task_id, seen.task_size) == (task_id, 3)
    # Not the enterprise's sealer: the group was sent to the employee's phone.
    assert (await access.view_contract(deps, p.sealer_id, ids[1])).task_id is None
    async with deps.db.sessions() as s:  # each contract carries its template's type
        kinds = (await s.execute(select(BusinessType.name).join(
            Contract, Contract.business_type_id == BusinessType.id).where(
            Contract.id.in_(ids)))).scalars().all()
    assert kinds == ["保密协议"] * 3
    stranger = await employee(deps, "李四")
    with pytest.raises(NotFound) as hidden:  # anyone else: as if there were no task
        await tasks.view_task(deps, stranger, task_id)
    assert hidden.value.code == "task_not_found"

    sent = await signing.request_sign_many(deps, p.employee_id, ids, META)
    code = await last_code(deps, outbox, p.employee_phone)
    with pytest.raises(InvalidInput):
        await signing.confirm_sign_many(deps, p.employee_id, ids, "000000" if code != "000000"
                                        else "111111", META)
    outcomes = await signing.confirm_sign_many(deps, p.employee_id, ids, code, META)
    assert sent.phone_masked and [o.state for o in outcomes] == ["signed"] * 3
    # A second confirmation changes nothing.
    again = await signing.confirm_sign_many(deps, p.employee_id, ids, code, META)
    assert [o.state for o in again] == ["signed"] * 3
    async with deps.db.sessions() as s:
        docs = (await s.execute(select(ContractDocument).where(
            ContractDocument.contract_id.in_(ids)))).scalars().all()
    assert len({d.current_sha256 for d in docs}) == 3  # three separate signed PDFs
    assert all(d.signature_count == 2 for d in docs)  # the signature and its date box
    assert (await tasks.view_task(deps, p.employee_id, task_id)).done

    # The enterprise: one code seals all three.
    # The employee, having signed, is not asked again (their turn is over).
    with pytest.raises(Conflict) as over:
        await signing.request_sign_many(deps, p.employee_id, ids, META)
    assert over.value.code == "signer_not_pending"
    await signing.request_sign_many(deps, p.sealer_id, ids, META)
    code = await last_code(deps, outbox, await user_phone(deps, p.sealer_id))
    sealed = await signing.confirm_sign_many(deps, p.sealer_id, ids, code, META)
    assert [o.contract_state for o in sealed] == ["completed"] * 3
    for cid in ids:
        assert (await access.view_contract(deps, p.employee_id, cid)).state == "completed"


async def test_one_code_is_refused_when_any_contract_is_not_signable(deps, outbox) -> None:
    p = await parties(deps)
    tids = [await _plain_template(deps, p, n) for n in ("甲", "乙")]
    task_id = await tasks.send_task(deps, p.admin_id, p.enterprise_id, tids,
                                    party=Party("张三", p.employee_phone),
                                    values={t: {"salary": "1"} for t in tids}, meta=META)
    ids = (await tasks.view_task(deps, p.employee_id, task_id)).signable
    # The enterprise's turn has not come: sealing either one is refused, no code sent.
    with pytest.raises(Conflict) as err:
        await signing.request_sign_many(deps, p.sealer_id, ids, META)
    assert err.value.code == "signer_not_pending"
    with pytest.raises(InvalidInput):
        await signing.request_sign_many(deps, p.employee_id, [], META)
    with pytest.raises(InvalidInput):
        await signing.request_sign_many(deps, p.employee_id,
                                        [str(i) for i in range(signing.MAX_TOGETHER + 1)],
                                        META)


async def test_onboarding_qr_template_sends_the_contract_on_approval(deps, outbox) -> None:
    p = await parties(deps)
    # Every sender field is answered by the worker's name / phone or has a default.
    tid = await _plain_template(deps, p, "入职合同", salary="6000")
    await onboarding.set_template(deps, p.admin_id, p.enterprise_id, tid, META)
    assert (await onboarding.current(deps, p.admin_id, p.enterprise_id)).template_id == tid
    worker = await employee(deps, "周八")
    phone = await user_phone(deps, worker)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        e = Employee(enterprise_id=p.enterprise_id, name="周八", phone=phone, user_id=worker,
                     status="pending_review", source="qr", fields={}, created_at=now,
                     updated_at=now)
        tx.session.add(e)
        await tx.session.flush()
        eid = e.id
    await employee_service.review_employee(deps, p.admin_id, p.enterprise_id, eid,
                                           approve=True, meta=META)
    await outbox.drain()
    async with deps.db.sessions() as s:
        job = (await s.execute(select(OutboxMessage).where(
            OutboxMessage.kind == onboarding.ONBOARDING_CONTRACT_KIND))).scalar_one()
        signers = (await s.execute(select(ContractSigner).where(
            ContractSigner.phone == phone))).scalars().all()
    assert (job.status, job.last_error) == ("sent", None) and len(signers) == 1
    await onboarding.deliver(deps, job)  # a retry sends nothing more
    async with deps.db.sessions() as s:
        assert len((await s.execute(select(ContractSigner).where(
            ContractSigner.phone == phone))).scalars().all()) == 1
    # Without a template on the QR, approval queues nothing.
    await onboarding.set_template(deps, p.admin_id, p.enterprise_id, None, META)
    assert await onboarding.current(deps, p.admin_id, p.enterprise_id) is None


async def test_a_row_whose_batch_deadline_passed_is_not_sent(deps, outbox, clock) -> None:
    from datetime import timedelta
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid,
                                      sheet_with(header, [model_row("王一", new_phone())]),
                                      META, deadline=clock.now() + timedelta(days=1))
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    clock.advance(days=2)
    await outbox.drain()
    done = await batch.progress(deps, p.admin_id, p.enterprise_id, bid)
    assert (done.state, done.created, done.failed) == ("finished", 0, 1)
    assert "截止" in done.failures[0][2] and await _contracts(deps) == 0


async def test_a_draft_nobody_confirms_is_discarded_after_a_week_and_audited(
        deps, clock) -> None:
    """Its rows (names, phones, ID numbers) go with it; a confirmed batch, and a draft
    younger than a week, stay."""
    from datetime import timedelta

    from core.errors import NotFound
    from core.templates.batch_drafts import DRAFT_KEEP, discard_abandoned
    from storage.models import AuditEntry, ContractBatch

    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    _, sheet = await batch.sheet(deps, p.admin_id, p.enterprise_id, tid)
    data = sheet_with(header_of(sheet), [model_row("王小明", new_phone())])
    old = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    sent = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, sent, META)
    clock.advance(seconds=(DRAFT_KEEP + timedelta(minutes=1)).total_seconds())
    young = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    assert await discard_abandoned(deps) == 1
    assert await discard_abandoned(deps) == 0
    async with deps.db.sessions() as s:
        left = set((await s.execute(select(ContractBatch.id))).scalars())
        rows = (await s.execute(select(func.count()).select_from(BatchRow)
                                .where(BatchRow.batch_id == old))).scalar_one()
        audited = (await s.execute(select(AuditEntry.subject_id).where(
            AuditEntry.action == "batch.draft_discarded"))).scalars().all()
    assert left == {sent, young} and rows == 0 and audited == [old]
    with pytest.raises(NotFound):
        await batch.confirm(deps, p.admin_id, p.enterprise_id, old, META)


async def test_a_member_limited_to_other_business_types_finds_no_batch(deps) -> None:
    """The batch's template type limits who sees it, as for its template and contracts:
    its preview holds the rows' names, phones and ID numbers."""
    from tests.ledger_support import member_with

    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)  # 劳动合同
    _, sheet = await batch.sheet(deps, p.admin_id, p.enterprise_id, tid)
    data = sheet_with(header_of(sheet), [model_row("王小明", new_phone())])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    other = await member_with(deps, p.enterprise_id, p.admin_id, types=("保密协议",),
                              name="孙八")
    same = await member_with(deps, p.enterprise_id, p.admin_id, types=("劳动合同",),
                             name="周九")
    assert (await batch.get_batch(deps, same, p.enterprise_id, bid)).total == 1
    for call in (lambda: batch.get_batch(deps, other, p.enterprise_id, bid),
                 lambda: batch.progress(deps, other, p.enterprise_id, bid),
                 lambda: batch.pending_seals(deps, other, p.enterprise_id, bid),
                 lambda: batch.confirm(deps, other, p.enterprise_id, bid, META)):
        with pytest.raises(NotFound) as hidden:
            await call()
        assert hidden.value.code == "batch_not_found"
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    assert [b.id for b in await batch.list_batches(deps, same, p.enterprise_id)] == [bid]
    assert await batch.list_batches(deps, other, p.enterprise_id) == []
