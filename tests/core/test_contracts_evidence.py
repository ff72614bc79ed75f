"""Evidence (C5, E3, E7): the signing disclosure, the trail, the platform-signed evidence
report, the evidence package, the worker's package on completion, paper-copy requests
and batch exports, through the real services."""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import zipfile

import pytest
from sqlalchemy import select

from core.contracts import disclosure, evidence, paper_copies, trail
from core.contracts.states import ContractState
from core.contracts.verification import verify_upload
from core.devtools import sms_inbox
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.signing import service
from storage.models import AuditEntry, EvidenceExport, SigningDisclosure
from tests.contract_support import (
    META,
    company,
    employee,
    parties,
    person,
    send_contract,
    sign_as,
    start_tsa,
)
from tests.enterprise_factories import certified_enterprise, make_user, user_phone


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def _completed(deps, outbox, flow) -> str:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    outcome = await sign_as(deps, outbox, flow.sealer_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED
    return contract_id


def _text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                         check=True)
    return out.stdout.decode()


# -- disclosure -------------------------------------------------------------------------


async def test_signing_refuses_a_person_who_has_not_accepted_the_disclosure(
    deps, outbox, flow
) -> None:
    newcomer = await employee(deps, name="王五", disclosed=False)
    phone = await user_phone(deps, newcomer)
    contract_id = await send_contract(deps, flow, [person(phone, name="王五"),
                                                   company(flow.seal_id)])
    with pytest.raises(disclosure.DisclosureRequired):
        await sign_as(deps, outbox, newcomer, contract_id)
    # Accepting what was never shown is refused too.
    with pytest.raises(disclosure.DisclosureNotShown):
        await disclosure.accept(deps, newcomer, contract_id, META)

    shown = await disclosure.show(deps, newcomer, contract_id, META)
    assert shown.accepted_at is None and shown.paragraphs
    await disclosure.show(deps, newcomer, contract_id, META)  # shown twice: one row
    accepted = await disclosure.accept(deps, newcomer, contract_id, META)
    assert accepted.accepted_at is not None
    async with deps.db.sessions() as session:
        row = (await session.execute(select(SigningDisclosure).where(
            SigningDisclosure.user_id == newcomer))).scalar_one()
        actions = list((await session.execute(select(AuditEntry.action).where(
            AuditEntry.subject_id == contract_id))).scalars())
    assert row.shown_count == 2 and row.shown_ip == META.ip
    assert row.shown_user_agent == META.user_agent == row.accepted_user_agent
    assert row.accepted_contract_id == contract_id
    assert "contract.disclosure_shown" in actions and "contract.disclosure_accepted" in actions
    outcome = await sign_as(deps, outbox, newcomer, contract_id)
    assert outcome.state in ("signing", "signed")


async def test_a_stranger_cannot_record_a_disclosure_on_someone_elses_contract(
    deps, flow
) -> None:
    contract_id = await send_contract(deps, flow)
    stranger = await make_user(deps, name="路人")
    with pytest.raises(NotFound):
        await disclosure.show(deps, stranger, contract_id, META)


# -- trail, report, package ----------------------------------------------------------------


async def test_trail_lists_identity_intent_hashes_and_chain(deps, outbox, flow) -> None:
    contract_id = await _completed(deps, outbox, flow)
    t = await trail.load_trail(deps, flow.employee_id, contract_id)
    worker, firm = t.parties
    assert worker.identity is not None and worker.identity.at is not None
    assert worker.intent is not None and worker.intent.phone_masked
    assert "*" in worker.intent.phone_masked and worker.intent.ip == META.ip
    assert worker.intent.device == META.user_agent
    assert worker.disclosure_accepted_at is not None
    assert firm.enterprise_check is not None and firm.intent is not None
    # The hashes chain: each signature starts from the version the previous one left.
    assert worker.intent.sha256_after == firm.intent.sha256_before
    assert firm.intent.sha256_after == t.document_sha256
    assert worker.certificate and firm.certificate
    assert [e.action for e in t.entries][:2] == ["contract.created", "contract.sent"]
    assert all(e.prev_hash == p.hash for p, e in zip(t.entries, t.entries[1:], strict=False)
               if e.chain_seq == p.chain_seq + 1)
    with pytest.raises(NotFound):
        await trail.load_trail(deps, await make_user(deps, name="路人"), contract_id)


async def test_report_is_signed_by_the_platform_and_verifies(deps, outbox, flow) -> None:
    contract_id = await _completed(deps, outbox, flow)
    doc = await evidence.report(deps, flow.employee_id, contract_id)
    assert doc.data.startswith(b"%PDF") and doc.filename.endswith(".pdf")
    assert hashlib.sha256(doc.data).hexdigest() == doc.sha256
    result = await verify_upload(deps, doc.data)
    assert result.report.verdict == "valid", result.report.to_dict()
    (sig,) = result.report.signatures
    assert sig.issued_by_us and sig.timestamp_valid and sig.covers_whole_document
    assert "LaborSign" in (sig.signer_name or "") + sig.subject
    assert result.registered is not None and result.registered.kind == "evidence_report"
    assert result.registered.latest

    text = await asyncio.to_thread(_text, doc.data)
    t = await trail.load_trail(deps, flow.employee_id, contract_id)
    assert t.number.startswith("HT")  # the ledger's number, as HR quotes it
    for needle in ("电子合同出证报告", "张三", t.parties[0].intent.phone_masked, META.ip,
                   "短信验证码", t.document_sha256, t.entries[-1].hash, "审计链", t.number):
        assert needle in text, needle

    # Unchanged evidence: the same file for every party, built once.
    again = await evidence.report(deps, flow.admin_id, contract_id)
    sealer = await evidence.report(deps, flow.sealer_id, contract_id)
    assert again.data == doc.data == sealer.data
    with pytest.raises(NotFound):
        await evidence.report(deps, await make_user(deps, name="路人"), contract_id)
    _, other_admin = await certified_enterprise(deps, name="别家公司")
    with pytest.raises(NotFound):
        await evidence.report(deps, other_admin, contract_id)


async def test_a_draft_has_no_evidence_yet(deps, flow) -> None:
    from core.contracts import send
    from core.signing.samples import sample_contract_pdf

    draft = await send.create_draft(deps, flow.admin_id, flow.enterprise_id, title="草稿",
                                    filename="a.pdf", pdf=sample_contract_pdf(1), meta=META)
    with pytest.raises(evidence.NoEvidenceYet):
        await evidence.report(deps, flow.admin_id, draft)


async def test_package_hashes_match_the_pdf(deps, outbox, flow, tmp_path) -> None:
    contract_id = await _completed(deps, outbox, flow)
    pkg = await evidence.package(deps, flow.employee_id, contract_id)
    zf = zipfile.ZipFile(io.BytesIO(pkg.data))
    names = set(zf.namelist())
    assert {"contract.pdf", "evidence-report.pdf", "README.txt", "SHA256SUMS",
            "certs/chain.pem", "certs/tsa.pem", "certs/root.pem"} <= names
    assert {"timestamps/1.tst", "timestamps/2.tst", "timestamps/1.sig"} <= names
    contract = zf.read("contract.pdf")
    t = await trail.load_trail(deps, flow.employee_id, contract_id)
    digest = hashlib.sha256(contract).hexdigest()
    assert digest == t.document_sha256
    readme = zf.read("README.txt").decode()
    assert digest in readme and "openssl ts -verify" in readme
    for line in zf.read("SHA256SUMS").decode().splitlines():
        expected, name = line.split("  ", 1)
        assert hashlib.sha256(zf.read(name)).hexdigest() == expected, name
    assert zf.read("evidence-report.pdf") == (
        await evidence.report(deps, flow.employee_id, contract_id)).data


async def test_completion_sends_the_worker_the_package_link(deps, outbox, flow) -> None:
    contract_id = await _completed(deps, outbox, flow)
    await outbox.drain()
    texts = [m.text for m in await sms_inbox(deps, flow.employee_phone)]
    package = [t for t in texts if "证据包" in t]
    assert len(package) == 1
    t = await trail.load_trail(deps, flow.employee_id, contract_id)
    assert f"/contracts/{contract_id}/trail" in package[0]
    assert t.document_sha256[:16] in package[0] and "README.txt" in package[0]
    assert not any("已由各方签署完成" in x for x in texts)  # one message, not two


# -- paper copies ---------------------------------------------------------------------------


async def test_paper_copy_request_is_tracked_to_hand_over(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    with pytest.raises(Conflict):
        await paper_copies.request_copy(deps, flow.employee_id, contract_id, "", META)
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    with pytest.raises(InvalidInput):
        await paper_copies.request_copy(deps, flow.employee_id, contract_id, "长" * 201, META)
    with pytest.raises(PermissionDenied):
        await paper_copies.request_copy(deps, flow.admin_id, contract_id, "", META)
    req = await paper_copies.request_copy(deps, flow.employee_id, contract_id, "人事部领取",
                                          META)
    same = await paper_copies.request_copy(deps, flow.employee_id, contract_id, "", META)
    assert same.id == req.id and req.state == "requested"
    listed = await paper_copies.list_requests(deps, flow.admin_id, flow.enterprise_id)
    assert [r.id for r in listed] == [req.id]

    with pytest.raises(Conflict):  # out of order
        await paper_copies.advance(deps, flow.admin_id, req.id, "stamped", META)
    with pytest.raises(NotFound):
        await paper_copies.advance(deps, flow.employee_id, req.id, "printed", META)
    _, other_admin = await certified_enterprise(deps, name="别家公司")
    with pytest.raises(NotFound):
        await paper_copies.advance(deps, other_admin, req.id, "printed", META)
    for step in ("printed", "stamped", "handed_over"):
        view = await paper_copies.advance(deps, flow.admin_id, req.id, step, META)
        assert view.state == step
    assert view.handed_over_at is not None and view.printed_at and view.stamped_at
    assert await paper_copies.list_requests(deps, flow.admin_id, flow.enterprise_id) == []
    done = await paper_copies.list_requests(deps, flow.admin_id, flow.enterprise_id, "done")
    assert [r.id for r in done] == [req.id]
    t = await trail.load_trail(deps, flow.employee_id, contract_id)
    assert [e.action for e in t.entries].count("contract.paper_copy_updated") == 3
    await outbox.drain()
    assert any("纸质副本已盖章" in m.text for m in await sms_inbox(deps, flow.employee_phone))


# -- batch export ----------------------------------------------------------------------------


async def test_batch_export_builds_one_zip_by_a_job(deps, outbox, flow) -> None:
    first = await _completed(deps, outbox, flow)
    second = await send_contract(deps, flow, title="保密协议")
    with pytest.raises(InvalidInput):
        await evidence.request_export(deps, flow.admin_id, flow.enterprise_id, [])
    with pytest.raises(InvalidInput):
        await evidence.request_export(deps, flow.admin_id, flow.enterprise_id,
                                      [f"c{i}" for i in range(evidence.MAX_EXPORT_CONTRACTS + 1)])
    with pytest.raises(InvalidInput):
        await evidence.request_export(deps, flow.admin_id, flow.enterprise_id,
                                      [first, "nosuchcontract"])
    outsider = await make_user(deps, name="路人")
    with pytest.raises(NotFound):
        await evidence.request_export(deps, outsider, flow.enterprise_id, [first])
    view = await evidence.request_export(deps, flow.admin_id, flow.enterprise_id,
                                         [first, second])
    assert view.state == "queued"
    with pytest.raises(Conflict):
        await evidence.export_download(deps, flow.admin_id, view.id)
    await outbox.drain()
    (ready,) = await evidence.list_exports(deps, flow.admin_id, flow.enterprise_id)
    assert ready.state == "ready" and ready.url
    doc = await evidence.export_download(deps, flow.admin_id, view.id)
    names = zipfile.ZipFile(io.BytesIO(doc.data)).namelist()
    assert sum(n.endswith("/contract.pdf") for n in names) == 2
    assert sum(n.endswith("/evidence-report.pdf") for n in names) == 2
    with pytest.raises(NotFound):
        await evidence.export_download(deps, flow.sealer_id, view.id)
    async with deps.db.sessions() as session:
        row = await session.get(EvidenceExport, view.id)
        assert row is not None and row.size == len(doc.data)


async def test_platform_certificate_is_issued_once(deps) -> None:
    a = await service.platform_material(deps)
    b = await service.platform_material(deps)
    assert a.certificate_der == b.certificate_der


async def test_batch_exports_expire_after_a_week(deps, outbox, flow, clock) -> None:

    contract_id = await _completed(deps, outbox, flow)
    view = await evidence.request_export(deps, flow.admin_id, flow.enterprise_id,
                                         [contract_id])
    await outbox.drain()
    assert await evidence.prune_exports(deps) == 0
    clock.advance(days=7, minutes=1)
    assert await evidence.prune_exports(deps) == 1
    (row,) = await evidence.list_exports(deps, flow.admin_id, flow.enterprise_id)
    assert row.state == "expired" and row.url is None
    with pytest.raises(Conflict):
        await evidence.export_download(deps, flow.admin_id, view.id)


async def test_trail_reads_expired_once_past_the_deadline(deps, flow, clock) -> None:
    from datetime import timedelta

    from core.contracts import send
    from core.signing.samples import sample_contract_pdf

    contract_id = await send.create_and_send(
        deps, flow.admin_id, flow.enterprise_id, title="到期合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(flow.employee_phone)],
        deadline=deps.clock.now() + timedelta(days=1), meta=META)
    assert (await trail.load_trail(deps, flow.admin_id, contract_id)).state == "in_progress"
    clock.advance(days=2)
    t = await trail.load_trail(deps, flow.admin_id, contract_id)
    assert (t.state, t.state_label) == ("expired", "已过期")
