"""Contract rules: state machines, sending checks, ending, expiry, permissions, recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import housekeeping
from core.contracts import access, ending, send, signing
from core.contracts.states import (
    CONTRACT,
    CONTRACT_TRANSITIONS,
    SIGNER,
    SIGNER_TRANSITIONS,
    ContractState,
    SignerState,
)
from core.devtools import sms_inbox
from core.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from core.signing.samples import sample_contract_pdf
from storage.models import (
    Contract,
    ContractDocument,
    ContractSigner,
    DocumentHash,
    IntentConfirmation,
    OutboxMessage,
)
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
from tests.core.signing.pdfs import encrypted_pdf, hybrid_xref_pdf, with_text_field
from tests.enterprise_factories import make_user, user_phone
from tests.factories import last_code


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def count(deps, model) -> int:
    async with deps.db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


# -- state machines -------------------------------------------------------------------------


def test_every_contract_state_has_a_row() -> None:
    assert set(CONTRACT_TRANSITIONS) == set(ContractState)


def test_ended_contracts_never_move_again() -> None:
    for state in (ContractState.COMPLETED, ContractState.REJECTED, ContractState.REVOKED,
                  ContractState.EXPIRED):
        for target in ContractState:
            with pytest.raises(IllegalTransition):
                CONTRACT.ensure(state, target)


def test_a_draft_cannot_complete_without_being_sent() -> None:
    with pytest.raises(IllegalTransition):
        CONTRACT.ensure(ContractState.DRAFT, ContractState.COMPLETED)


def test_every_signer_state_has_a_row() -> None:
    assert set(SIGNER_TRANSITIONS) == set(SignerState)


def test_a_signer_cannot_sign_without_confirming() -> None:
    with pytest.raises(IllegalTransition):
        SIGNER.ensure(SignerState.PENDING, SignerState.SIGNED)
    with pytest.raises(IllegalTransition):
        SIGNER.ensure(SignerState.WAITING, SignerState.SIGNING)
    with pytest.raises(IllegalTransition):
        SIGNER.ensure(SignerState.SIGNED, SignerState.SIGNING)


# -- sending --------------------------------------------------------------------------------


@pytest.mark.parametrize("maker, code", [
    (lambda: b"PK\x03\x04 zip, not pdf" * 20, "pdf_invalid"),
    (encrypted_pdf, "pdf_encrypted"),
    (hybrid_xref_pdf, "pdf_unsupported"),
    (lambda: sample_contract_pdf(2)[:-300], "pdf_truncated"),
])
async def test_bad_uploads_write_no_row_and_no_file(deps, flow, maker, code) -> None:
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, pdf=maker())
    assert err.value.code in (code, "pdf_invalid")
    assert await count(deps, Contract) == 0 and await count(deps, DocumentHash) == 0
    assert not list((Path(deps.config.storage.file_dir) / "contracts").glob("*.pdf"))


async def test_a_pdf_with_fillable_fields_is_refused_with_the_fields_named(deps, flow) -> None:
    # A value filled in after both parties signed would leave every signature intact.
    with_field = with_text_field(sample_contract_pdf(3), "monthly_wage", "10000")
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, pdf=with_field)
    assert err.value.code == "pdf_has_form_fields"
    assert "monthly_wage" in err.value.message and "打印为 PDF" in err.value.message
    assert await count(deps, Contract) == 0 and await count(deps, DocumentHash) == 0


async def test_no_more_boxes_than_verification_accepts_signatures(deps, flow) -> None:
    # Each box is one signature: a signed contract must stay verifiable on /verify.
    limit = deps.config.verify.max_signatures
    boxes = tuple(send.Box(0, (40 + 25 * (i % 20), 40 + 60 * (i // 20),
                               60 + 25 * (i % 20), 90 + 60 * (i // 20)))
                  for i in range(limit))
    half = limit // 2
    signers = [send.SignerSpec("person", boxes[:half], name="张三", phone=flow.employee_phone),
               send.SignerSpec("person", boxes[half:], name="王五", phone="13900000009"),
               company(flow.seal_id)]  # one more: the seal's box
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, signers)
    assert err.value.code == "too_many_boxes" and str(limit) in err.value.message


async def test_a_too_large_upload_is_refused_before_parsing(deps, flow) -> None:
    big = b"%PDF-1.7\n" + b"0" * (deps.config.signing.max_upload_bytes + 1)
    from core.errors import PayloadTooLarge

    with pytest.raises(PayloadTooLarge):
        await send_contract(deps, flow, pdf=big)


async def test_boxes_are_checked_against_the_pages(deps, flow) -> None:
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, [person(flow.employee_phone, page=7)])
    assert err.value.code == "signature_field_invalid"
    with pytest.raises(InvalidInput):
        await send_contract(deps, flow, [person(flow.employee_phone, rect=(500, 800, 700, 900))])
    assert await count(deps, Contract) == 0


async def test_the_same_phone_twice_is_refused(deps, flow) -> None:
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, [person(flow.employee_phone),
                                         person(flow.employee_phone, rect=(72, 60, 242, 100))])
    assert err.value.code == "duplicate_signer"


async def test_an_employee_without_send_permission_cannot_send(deps, flow) -> None:
    with pytest.raises(NotFound):
        await send.create_and_send(
            deps, flow.employee_id, flow.enterprise_id, title="x", filename="x.pdf",
            pdf=sample_contract_pdf(1), signers=[person(flow.employee_phone, page=0)],
            meta=META)


async def test_a_seal_of_another_enterprise_is_refused(deps, flow) -> None:
    from tests.enterprise_factories import certified_enterprise

    other_ent, _ = await certified_enterprise(deps, name="别的公司有限公司")
    async with deps.db.sessions() as session:
        from storage.models import Seal

        foreign = (await session.execute(
            select(Seal.id).where(Seal.enterprise_id == other_ent).limit(1))).scalar_one()
    with pytest.raises(InvalidInput) as err:
        await send_contract(deps, flow, [person(flow.employee_phone), company(foreign)])
    assert err.value.code == "seal_not_found"


async def test_all_fields_exist_before_the_first_signature(deps, flow) -> None:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    contract_id = await send_contract(deps, flow)
    pdf = (await access.download(deps, flow.admin_id, contract_id)).data
    names = [name for name, value, _ in enumerate_sig_fields(PdfFileReader(io.BytesIO(pdf)))
             if value is None]
    assert sorted(names) == ["ent_1", "p0_1"]


async def test_draft_then_send(deps, outbox, flow) -> None:
    contract_id = await send.create_draft(deps, flow.admin_id, flow.enterprise_id,
                                          title="草稿合同", filename="a.pdf",
                                          pdf=sample_contract_pdf(3), meta=META)
    view = await access.view_contract(deps, flow.admin_id, contract_id)
    assert view.state == ContractState.DRAFT and view.page_count == 3
    await send.send_draft(deps, flow.admin_id, contract_id,
                          [person(flow.employee_phone), company(flow.seal_id)], meta=META)
    with pytest.raises(Conflict):
        await send.send_draft(deps, flow.admin_id, contract_id,
                              [person(flow.employee_phone)], meta=META)
    assert (await access.view_contract(deps, flow.admin_id, contract_id)).state == \
        ContractState.IN_PROGRESS


# -- signing preconditions ----------------------------------------------------------------


async def test_an_unverified_person_must_verify_first(deps, flow) -> None:
    unverified = await make_user(deps, verified=False)
    phone = await user_phone(deps, unverified)
    contract_id = await send_contract(deps, flow, [person(phone, "钱七")])
    with pytest.raises(signing.IdentityRequired):
        await signing.request_sign(deps, unverified, contract_id, META)


async def test_a_person_without_a_signature_is_sent_to_the_pad(deps, flow) -> None:
    bare = await employee(deps, "孙八", with_signature=False)
    contract_id = await send_contract(deps, flow, [person(await user_phone(deps, bare),
                                                          "孙八")])
    with pytest.raises(signing.SignatureRequired):
        await signing.request_sign(deps, bare, contract_id, META)


async def test_the_real_name_must_match_the_signer(deps, flow) -> None:
    contract_id = await send_contract(deps, flow, [person(flow.employee_phone, "张三丰")])
    with pytest.raises(PermissionDenied) as err:
        await signing.request_sign(deps, flow.employee_id, contract_id, META)
    assert err.value.code == "signer_name_mismatch"


async def test_a_member_without_the_seal_grant_cannot_seal(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow, [company(flow.seal_id, order=1)])
    with pytest.raises(PermissionDenied) as err:  # the admin sees it, but holds no grant
        await signing.request_sign(deps, flow.admin_id, contract_id, META)
    assert err.value.code == "not_a_signer"
    outcome = await sign_as(deps, outbox, flow.sealer_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED


# -- ending ---------------------------------------------------------------------------------


async def test_reject_ends_the_contract_and_tells_the_initiator(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await ending.reject_contract(deps, flow.employee_id, contract_id, "薪资有误", META)
    view = await access.view_contract(deps, flow.admin_id, contract_id)
    assert view.state == ContractState.REJECTED and view.end_reason == "薪资有误"
    await outbox.drain()
    admin_phone = await user_phone(deps, flow.admin_id)
    assert any("拒签" in m.text for m in await sms_inbox(deps, admin_phone))
    with pytest.raises(Conflict):
        await signing.request_sign(deps, flow.employee_id, contract_id, META)


async def test_reject_needs_a_reason(deps, flow) -> None:
    contract_id = await send_contract(deps, flow)
    with pytest.raises(InvalidInput):
        await ending.reject_contract(deps, flow.employee_id, contract_id, "  ", META)


async def test_only_the_sending_side_may_revoke(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    with pytest.raises(NotFound):
        await ending.revoke_contract(deps, flow.employee_id, contract_id, "不想签", META)
    await ending.revoke_contract(deps, flow.admin_id, contract_id, "条款有误", META)
    with pytest.raises(Conflict):
        await ending.revoke_contract(deps, flow.admin_id, contract_id, "再撤一次", META)
    await outbox.drain()
    assert any("撤销" in m.text for m in await sms_inbox(deps, flow.employee_phone))


async def test_a_completed_contract_cannot_be_revoked(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow, [person(flow.employee_phone)])
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    with pytest.raises(Conflict):
        await ending.revoke_contract(deps, flow.admin_id, contract_id, "晚了", META)


async def test_a_contract_past_its_deadline_expires(deps, flow, clock) -> None:
    from datetime import timedelta

    contract_id = await send.create_and_send(
        deps, flow.admin_id, flow.enterprise_id, title="限期合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(flow.employee_phone)],
        deadline=clock.now() + timedelta(days=1), meta=META)
    clock.advance(days=2)
    with pytest.raises(Conflict) as err:
        await signing.request_sign(deps, flow.employee_id, contract_id, META)
    assert err.value.code == "contract_expired"
    view = await access.view_contract(deps, flow.employee_id, contract_id)
    assert view.state == ContractState.EXPIRED and not view.can_sign


async def test_the_sweep_expires_overdue_contracts(deps, flow, clock) -> None:
    from datetime import timedelta

    await send.create_and_send(
        deps, flow.admin_id, flow.enterprise_id, title="限期合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(flow.employee_phone)],
        deadline=clock.now() + timedelta(hours=1), meta=META)
    assert (await housekeeping.sweep(deps))["contracts_expired"] == 0
    clock.advance(hours=2)
    assert (await housekeeping.sweep(deps))["contracts_expired"] == 1
    assert await ending.expire_due(deps) == 0


# -- recovery ---------------------------------------------------------------------------------


async def test_a_confirmed_signing_left_half_way_is_finished_by_the_job(
    deps, outbox, flow, clock, monkeypatch
) -> None:
    contract_id = await send_contract(deps, flow, [person(flow.employee_phone)])
    await signing.request_sign(deps, flow.employee_id, contract_id, META)
    code = await last_code(deps, outbox, flow.employee_phone)

    async def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(signing, "perform_signing", crash)
    with pytest.raises(RuntimeError):
        await signing.confirm_sign(deps, flow.employee_id, contract_id, code, META)
    monkeypatch.undo()
    async with deps.db.sessions() as session:
        signer = (await session.execute(select(ContractSigner))).scalar_one()
    assert signer.state == SignerState.SIGNING
    await outbox.drain()  # the job is not due yet
    assert (await access.view_contract(deps, flow.employee_id, contract_id)).state == \
        ContractState.IN_PROGRESS
    clock.advance(seconds=signing.RECOVERY_DELAY.total_seconds() + 1)
    await outbox.drain()
    assert (await access.view_contract(deps, flow.employee_id, contract_id)).state == \
        ContractState.COMPLETED
    async with deps.db.sessions() as session:
        job = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.kind == signing.SIGN_JOB_KIND))).scalar_one()
        doc = (await session.execute(select(ContractDocument))).scalar_one()
    assert job.status == "sent" and doc.signature_count == 1
    assert await count(deps, IntentConfirmation) == 1
