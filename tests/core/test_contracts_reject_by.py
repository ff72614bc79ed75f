"""Who may refuse to sign (拒签), chosen when the contract is sent: the service refuses
the others, and the contract page offers 拒签 only to those allowed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.contracts import access, ending, send
from core.contracts.send import Options
from core.errors import InvalidInput, PermissionDenied
from core.signing.samples import sample_contract_pdf
from storage.models import AuditEntry, Contract
from tests.contract_support import META, company, parties, person


async def _send(deps, p, reject_by: str) -> str:
    # Both in the first group, so both have their turn at once.
    return await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="劳动合同（拒签设置）", filename="a.pdf",
        pdf=sample_contract_pdf(3), meta=META, options=Options(reject_by=reject_by),
        signers=[person(p.employee_phone), company(p.seal_id, order=1)])


async def _state(deps, contract_id: str) -> str:
    async with deps.db.sessions() as s:
        return (await s.execute(select(Contract.state).where(
            Contract.id == contract_id))).scalar_one()


async def test_only_the_enterprise_may_refuse_when_the_sender_says_so(deps) -> None:
    p = await parties(deps)
    cid = await _send(deps, p, "enterprises")
    view = await access.view_contract(deps, p.employee_id, cid)
    assert view.can_sign and not view.can_reject
    with pytest.raises(PermissionDenied) as refused:
        await ending.reject_contract(deps, p.employee_id, cid, "不同意", META)
    assert refused.value.code == "reject_not_allowed"
    assert await _state(deps, cid) == "in_progress"
    assert (await access.view_contract(deps, p.sealer_id, cid)).can_reject
    await ending.reject_contract(deps, p.sealer_id, cid, "岗位信息有误", META)
    assert await _state(deps, cid) == "rejected"


async def test_nobody_may_refuse_and_the_choice_is_audited(deps) -> None:
    p = await parties(deps)
    cid = await _send(deps, p, "none")
    for user_id in (p.employee_id, p.sealer_id):
        assert not (await access.view_contract(deps, user_id, cid)).can_reject
        with pytest.raises(PermissionDenied):
            await ending.reject_contract(deps, user_id, cid, "不同意", META)
    assert await _state(deps, cid) == "in_progress"
    async with deps.db.sessions() as s:
        sent = (await s.execute(select(AuditEntry.data).where(
            AuditEntry.subject_id == cid, AuditEntry.action == "contract.sent"))).scalar_one()
    assert sent["reject_by"] == "none"


async def test_by_default_every_signer_may_refuse(deps) -> None:
    p = await parties(deps)
    cid = await _send(deps, p, "all")
    assert (await access.view_contract(deps, p.employee_id, cid)).can_reject
    await ending.reject_contract(deps, p.employee_id, cid, "不同意", META)
    assert await _state(deps, cid) == "rejected"


async def test_an_unknown_choice_is_refused_before_anything_is_sent(deps) -> None:
    p = await parties(deps)
    with pytest.raises(InvalidInput) as refused:
        await _send(deps, p, "managers")
    assert refused.value.code == "invalid_reject_by"
    async with deps.db.sessions() as s:
        assert (await s.execute(select(Contract.id).where(
            Contract.state == "in_progress"))).first() is None
