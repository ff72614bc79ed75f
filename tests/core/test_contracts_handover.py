"""A member who started open contracts hands them over before removal (一键转交)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.contracts import ending, send
from core.enterprise import members as M
from core.errors import Conflict
from core.signing.samples import sample_contract_pdf
from storage.models import AuditEntry, Contract
from tests.contract_support import company, member_of, parties, person, start_tsa
from tests.enterprise_factories import META


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def test_open_contracts_are_handed_over_item_by_item(deps, flow) -> None:
    hr = flow.sealer_id  # an HR member holding the contract seal's grant
    open_id = await send.create_and_send(
        deps, hr, flow.enterprise_id, title="待签合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(flow.employee_phone)], meta=META)
    ended_id = await send.create_and_send(
        deps, hr, flow.enterprise_id, title="已撤销合同", filename="b.pdf",
        pdf=sample_contract_pdf(3), signers=[person(flow.employee_phone), company(flow.seal_id)],
        meta=META)
    await ending.revoke_contract(deps, hr, ended_id, "作废", META)

    leaving = await member_of(deps, flow.enterprise_id, hr)
    admin = await member_of(deps, flow.enterprise_id, flow.admin_id)
    items = await M.handover_items(deps, flow.admin_id, flow.enterprise_id, leaving.id)
    keys = {i.key: i for i in items}
    assert f"contract:{open_id}" in keys and f"contract:{ended_id}" not in keys
    assert keys[f"contract:{open_id}"].label == "合同：待签合同"

    with pytest.raises(Conflict) as err:  # the seal grant is handed over, the contract is not
        await M.remove_member(deps, flow.admin_id, flow.enterprise_id, leaving.id,
                              assignments={f"seal:{flow.seal_id}": admin.id}, meta=META)
    assert err.value.code == "handover_required"
    async with deps.db.sessions() as s:
        assert (await s.get(Contract, open_id)).initiator_id == hr  # nothing half-done

    await M.remove_member(deps, flow.admin_id, flow.enterprise_id, leaving.id,
                          assignments={k: admin.id for k in keys}, meta=META)
    async with deps.db.sessions() as s:
        assert (await s.get(Contract, open_id)).initiator_id == flow.admin_id
        assert (await s.get(Contract, ended_id)).initiator_id == hr
        actions = (await s.execute(select(AuditEntry.action).where(
            AuditEntry.subject_id == open_id))).scalars().all()
    assert "contract.handed_over" in actions
    # the new owner can now act on it
    await ending.revoke_contract(deps, flow.admin_id, open_id, "接手后撤销", META)
