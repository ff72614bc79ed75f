"""The enterprise's 自动签署: with the switch on, the seal signs as soon as it is the
enterprise's turn (through the outbox job, never in the request that opened the turn),
with an audit entry naming the seal and the authorisation; with it off, it waits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import verify_chain
from core.contracts import access
from core.contracts.states import ContractState, SignerState
from core.contracts.verification import verify_upload
from core.devtools import sms_inbox
from core.enterprise import seals as enterprise_seals
from storage.models import AuditEntry, Contract, ContractSigner, SealUsage
from tests.contract_support import (
    META,
    company,
    parties,
    person,
    send_contract,
    sign_as,
    start_tsa,
)
from tests.enterprise_factories import user_phone


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def _state(deps, contract_id: str) -> tuple[str, list[str]]:
    async with deps.db.sessions() as session:
        contract = await session.get(Contract, contract_id)
        assert contract is not None
        signers = (await session.execute(
            select(ContractSigner.state).where(ContractSigner.contract_id == contract_id)
            .order_by(ContractSigner.sign_order))).scalars().all()
        return contract.state, list(signers)


async def _entries(deps, action: str) -> list[AuditEntry]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )).scalars())


async def _sealer_codes(deps, flow) -> list[str]:
    phone = await user_phone(deps, flow.sealer_id)
    return [m.text for m in await sms_inbox(deps, phone) if m.code]


async def test_with_auto_sign_on_the_contract_completes_after_the_employee_signs(
    deps, outbox, flow
) -> None:
    await enterprise_seals.set_auto_sign(deps, flow.admin_id, flow.enterprise_id,
                                         flow.seal_id, True, META)
    contract_id = await send_contract(deps, flow)
    outcome = await sign_as(deps, outbox, flow.employee_id, contract_id)
    # The employee's request did not apply the seal: a job does, after commit.
    assert outcome.contract_state == ContractState.IN_PROGRESS
    assert await _state(deps, contract_id) == (ContractState.IN_PROGRESS,
                                               [SignerState.SIGNED, SignerState.SIGNING])
    await outbox.drain()
    assert await _state(deps, contract_id) == (ContractState.COMPLETED,
                                               [SignerState.SIGNED, SignerState.SIGNED])
    assert await _sealer_codes(deps, flow) == []  # nobody was asked for a code

    switched_on = (await _entries(deps, "seal.auto_sign_on"))[-1]
    auto = (await _entries(deps, "contract.auto_sign"))[-1]
    assert auto.subject_id == contract_id and auto.tenant_id == flow.enterprise_id
    assert auto.data["seal_id"] == flow.seal_id
    assert auto.data["seal"].endswith("合同章")
    assert auto.data["authorized_by"] == flow.admin_id
    assert auto.data["authorization_seq"] == switched_on.seq
    signed = [e for e in await _entries(deps, "contract.signed")
              if e.data["party"] == "enterprise"]
    assert signed and signed[0].data["method"] == "auto_sign"
    async with deps.db.sessions() as session:
        uses = (await session.execute(select(SealUsage.action).where(
            SealUsage.seal_id == flow.seal_id))).scalars().all()
    assert list(uses) == ["auto_sign"]

    report = (await verify_upload(deps, (await access.download(
        deps, flow.employee_id, contract_id)).data)).report
    assert [s.signer_name for s in report.signatures] == ["张三", "杭州示例劳务科技有限公司"]
    assert all(s.valid for s in report.signatures)
    assert (await verify_chain(deps.db)).ok


async def test_with_auto_sign_off_the_enterprise_waits_for_its_code(deps, outbox, flow) -> None:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    await outbox.drain()
    assert await _state(deps, contract_id) == (ContractState.IN_PROGRESS,
                                               [SignerState.SIGNED, SignerState.PENDING])
    assert await _entries(deps, "contract.auto_sign") == []


async def test_auto_sign_switched_off_before_the_job_runs_falls_back_to_a_code(
    deps, outbox, flow
) -> None:
    await enterprise_seals.set_auto_sign(deps, flow.admin_id, flow.enterprise_id,
                                         flow.seal_id, True, META)
    contract_id = await send_contract(deps, flow)
    await signing_employee(deps, outbox, flow, contract_id)
    await enterprise_seals.set_auto_sign(deps, flow.admin_id, flow.enterprise_id,
                                         flow.seal_id, False, META)
    await outbox.drain()
    assert await _state(deps, contract_id) == (ContractState.IN_PROGRESS,
                                               [SignerState.SIGNED, SignerState.PENDING])
    # The seal holder is told it is theirs to seal, and sealing by code works.
    phone = await user_phone(deps, flow.sealer_id)
    assert any("等待" in m.text and "盖章" in m.text for m in await sms_inbox(deps, phone))
    outcome = await sign_as(deps, outbox, flow.sealer_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED


async def signing_employee(deps, outbox, flow, contract_id: str) -> None:
    """The employee signs without the outbox running (the auto-sign job stays queued)."""
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    assert (await _state(deps, contract_id))[1] == [SignerState.SIGNED, SignerState.SIGNING]


async def test_auto_sign_needs_its_authoriser_still_allowed_to_manage_seals(
    deps, outbox, flow
) -> None:
    # The switch was turned on by a member who has since lost the right to manage seals.
    from core.enterprise import members as M
    from core.enterprise import roles
    from tests.contract_support import member_of

    async with deps.db.transaction() as tx:
        admin_role = await roles.builtin_role_id(tx, flow.enterprise_id, "admin")
        hr_role = await roles.builtin_role_id(tx, flow.enterprise_id, "hr")
    member = await member_of(deps, flow.enterprise_id, flow.sealer_id)
    assert member is not None
    await M.update_member(deps, flow.admin_id, flow.enterprise_id, member.id,
                          role_ids=[admin_role], business_type_ids=[], display_name="赵六",
                          meta=META)
    await enterprise_seals.set_auto_sign(deps, flow.sealer_id, flow.enterprise_id,
                                         flow.seal_id, True, META)
    await M.update_member(deps, flow.admin_id, flow.enterprise_id, member.id,
                          role_ids=[hr_role], business_type_ids=[], display_name="赵六",
                          meta=META)
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    await outbox.drain()
    assert (await _state(deps, contract_id))[1] == [SignerState.SIGNED, SignerState.PENDING]


async def test_enterprise_first_with_auto_sign_seals_at_sending(deps, outbox, flow) -> None:
    await enterprise_seals.set_auto_sign(deps, flow.admin_id, flow.enterprise_id,
                                         flow.seal_id, True, META)
    contract_id = await send_contract(
        deps, flow, [company(flow.seal_id, order=1), person(flow.employee_phone, order=2)])
    await outbox.drain()
    assert await _state(deps, contract_id) == (ContractState.IN_PROGRESS,
                                               [SignerState.SIGNED, SignerState.PENDING])
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    report = (await verify_upload(deps, (await access.download(
        deps, flow.admin_id, contract_id)).data)).report
    first, second = report.signatures
    assert first.certification and first.valid and second.valid
