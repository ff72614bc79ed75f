"""The signing flow through the real services: send, sign with the SMS code, seal, complete."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core.audit import verify_chain
from core.contracts import access, signing
from core.contracts.states import ContractState, SignerState
from core.contracts.verification import verify_upload
from core.devtools import sms_inbox
from core.errors import Conflict, InvalidInput, NotFound
from storage.models import (
    AuditEntry,
    ContractDocument,
    ContractSigner,
    IntentConfirmation,
    SigningGrant,
)
from tests.contract_support import (
    META,
    company,
    parties,
    person,
    send_contract,
    sign_as,
    start_tsa,
)
from tests.factories import last_code


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def _signers(deps, contract_id: str) -> list[ContractSigner]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(ContractSigner).where(ContractSigner.contract_id == contract_id)
            .order_by(ContractSigner.sign_order)
        )).scalars())


async def _doc(deps, contract_id: str) -> ContractDocument:
    async with deps.db.sessions() as session:
        return (await session.execute(
            select(ContractDocument).where(ContractDocument.contract_id == contract_id)
        )).scalar_one()


async def test_send_notifies_the_first_signer_with_a_link(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await outbox.drain()
    texts = [m.text for m in await sms_inbox(deps, flow.employee_phone)]
    assert any(f"/contracts/{contract_id}" in t and "劳动合同（测试）" in t for t in texts)
    person_row, company_row = await _signers(deps, contract_id)
    assert (person_row.state, company_row.state) == (SignerState.PENDING, SignerState.WAITING)
    assert person_row.user_id == flow.employee_id


async def test_employee_then_enterprise_sign_and_the_contract_completes(
    deps, outbox, flow
) -> None:
    contract_id = await send_contract(deps, flow)
    first = await sign_as(deps, outbox, flow.employee_id, contract_id)
    assert first.state == SignerState.SIGNED
    assert first.contract_state == ContractState.IN_PROGRESS
    second = await sign_as(deps, outbox, flow.sealer_id, contract_id)
    assert second.contract_state == ContractState.COMPLETED

    result = await verify_upload(deps, (await access.download(
        deps, flow.employee_id, contract_id)).data)
    sigs = result.report.signatures
    assert [s.signer_name for s in sigs] == ["张三", "杭州示例劳务科技有限公司"]
    assert all(s.valid and s.timestamp_valid and s.issued_by_us for s in sigs)
    assert sigs[-1].covers_whole_document
    assert result.registered is not None and result.registered.latest
    assert result.registered.contract_state == ContractState.COMPLETED


async def test_completion_tells_every_party(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    await outbox.drain()
    for phone in (flow.employee_phone,):
        assert any("签署完成" in m.text for m in await sms_inbox(deps, phone))
    from tests.enterprise_factories import user_phone

    admin_phone = await user_phone(deps, flow.admin_id)
    assert any("签署完成" in m.text for m in await sms_inbox(deps, admin_phone))


async def test_enterprise_first_makes_a_certification_signature(deps, outbox, flow) -> None:
    contract_id = await send_contract(
        deps, flow, [company(flow.seal_id, order=1), person(flow.employee_phone, order=2)])
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    report = (await verify_upload(
        deps, (await access.download(deps, flow.admin_id, contract_id)).data)).report
    first, second = report.signatures
    assert first.certification and not second.certification
    assert first.valid and second.valid
    assert first.modification == "signatures"  # only the employee's signature followed


async def test_double_tap_signs_once(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await signing.request_sign(deps, flow.employee_id, contract_id, META)
    code = await last_code(deps, outbox, flow.employee_phone)
    results = await asyncio.gather(
        signing.confirm_sign(deps, flow.employee_id, contract_id, code, META),
        signing.confirm_sign(deps, flow.employee_id, contract_id, code, META),
    )
    assert {r.state for r in results} <= {SignerState.SIGNED, SignerState.SIGNING}
    doc = await _doc(deps, contract_id)
    assert doc.signature_count == 1
    async with deps.db.sessions() as session:
        grants = (await session.execute(select(func.count()).select_from(SigningGrant))).scalar()
    assert grants == 1
    again = await signing.confirm_sign(deps, flow.employee_id, contract_id, code, META)
    assert again.state == SignerState.SIGNED
    assert (await _doc(deps, contract_id)).signature_count == 1


async def test_two_signers_at_once_both_end_up_in_the_file(deps, outbox, flow) -> None:
    from tests.contract_support import employee
    from tests.enterprise_factories import user_phone

    other_id = await employee(deps, "李雷")
    other_phone = await user_phone(deps, other_id)
    contract_id = await send_contract(deps, flow, [
        person(flow.employee_phone, rect=(330.0, 170.0, 500.0, 250.0)),
        person(other_phone, "李雷", rect=(330.0, 60.0, 500.0, 140.0)),
        company(flow.seal_id, order=2),
    ])
    for user_id in (flow.employee_id, other_id):
        await signing.request_sign(deps, user_id, contract_id, META)
    code_a = await last_code(deps, outbox, flow.employee_phone)
    code_b = await last_code(deps, outbox, other_phone)
    await asyncio.gather(
        signing.confirm_sign(deps, flow.employee_id, contract_id, code_a, META),
        signing.confirm_sign(deps, other_id, contract_id, code_b, META),
    )
    rows = await _signers(deps, contract_id)
    assert [r.state for r in rows] == [SignerState.SIGNED, SignerState.SIGNED,
                                       SignerState.PENDING]
    report = (await verify_upload(
        deps, (await access.download(deps, flow.admin_id, contract_id)).data)).report
    assert sorted(s.signer_name for s in report.signatures) == ["张三", "李雷"]
    assert all(s.valid for s in report.signatures)


async def test_wrong_code_is_refused_and_counts_a_try(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await signing.request_sign(deps, flow.employee_id, contract_id, META)
    code = await last_code(deps, outbox, flow.employee_phone)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidInput) as err:
        await signing.confirm_sign(deps, flow.employee_id, contract_id, wrong, META)
    assert err.value.code == "invalid_code"
    assert (await _signers(deps, contract_id))[0].state == SignerState.PENDING
    outcome = await signing.confirm_sign(deps, flow.employee_id, contract_id, code, META)
    assert outcome.state == SignerState.SIGNED


async def test_expired_code_is_refused(deps, outbox, flow, clock) -> None:
    contract_id = await send_contract(deps, flow)
    await signing.request_sign(deps, flow.employee_id, contract_id, META)
    code = await last_code(deps, outbox, flow.employee_phone)
    clock.advance(seconds=deps.config.sms.code_ttl_seconds + 1)
    with pytest.raises(InvalidInput) as err:
        await signing.confirm_sign(deps, flow.employee_id, contract_id, code, META)
    assert err.value.code == "code_expired"


async def test_evidence_of_intent_is_kept_and_chained(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    async with deps.db.sessions() as session:
        evidence = (await session.execute(select(IntentConfirmation))).scalar_one()
        signed = (await session.execute(
            select(AuditEntry).where(AuditEntry.action == "contract.signed")
        )).scalar_one()
    doc = await _doc(deps, contract_id)
    assert evidence.phone_masked == flow.employee_phone[:3] + "****" + flow.employee_phone[-4:]
    assert evidence.code_sent_at is not None and evidence.code_entered_at is not None
    assert evidence.ip == "127.0.0.1" and evidence.user_agent == "pytest-phone"
    assert evidence.document_sha256_after == doc.current_sha256
    assert evidence.document_sha256_before != evidence.document_sha256_after
    assert signed.data["document_sha256_after"] == doc.current_sha256
    assert signed.data["phone"] == evidence.phone_masked
    assert (await verify_chain(deps.db)).ok


async def test_an_outsider_cannot_see_or_sign(deps, outbox, flow) -> None:
    from tests.contract_support import employee

    contract_id = await send_contract(deps, flow)
    stranger = await employee(deps, "路人")
    with pytest.raises(NotFound):
        await access.view_contract(deps, stranger, contract_id)
    with pytest.raises(NotFound):
        await signing.request_sign(deps, stranger, contract_id, META)
    with pytest.raises(NotFound):
        await access.download(deps, stranger, contract_id)


async def test_the_enterprise_waits_for_its_turn(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    with pytest.raises(Conflict) as err:
        await signing.request_sign(deps, flow.sealer_id, contract_id, META)
    assert err.value.code == "signer_not_pending"


async def test_a_code_sent_for_another_contract_does_not_sign_this_one(
    deps, outbox, flow
) -> None:
    first = await send_contract(deps, flow, title="合同甲")
    second = await send_contract(deps, flow, title="合同乙")
    await signing.request_sign(deps, flow.employee_id, first, META)
    code = await last_code(deps, outbox, flow.employee_phone)
    with pytest.raises(InvalidInput) as err:
        await signing.confirm_sign(deps, flow.employee_id, second, code, META)
    assert err.value.code == "code_expired"


async def test_lists_follow_the_flow(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    assert [c.id for c in await access.list_contracts(deps, flow.employee_id, "to_sign")] == [
        contract_id]
    assert await access.list_contracts(deps, flow.sealer_id, "to_sign") == []
    assert [c.id for c in await access.list_contracts(deps, flow.admin_id, "initiated")] == [
        contract_id]
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    assert await access.list_contracts(deps, flow.employee_id, "to_sign") == []
    assert [c.id for c in await access.list_contracts(deps, flow.employee_id, "waiting")] == [
        contract_id]
    assert [c.id for c in await access.list_contracts(deps, flow.sealer_id, "to_sign")] == [
        contract_id]
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    assert [c.id for c in await access.list_contracts(deps, flow.employee_id, "completed")] == [
        contract_id]
