"""The dashboard's 待我处理: contracts to seal, due soon, and recently rejected."""

from __future__ import annotations

from datetime import timedelta

from core.contracts import ending, send
from core.enterprise import dashboard as D
from core.signing.samples import sample_contract_pdf
from tests.contract_support import META, company, parties, person, send_contract


async def test_a_contract_waiting_for_my_seal_is_on_my_dashboard(deps) -> None:
    p = await parties(deps)
    contract_id = await send_contract(
        deps, p, [company(p.seal_id, order=1), person(p.employee_phone, order=2)])
    sealer = await D.dashboard(deps, p.sealer_id, p.enterprise_id)
    assert [(t.id, t.url) for t in sealer.to_seal] == [
        (contract_id, f"/contracts/{contract_id}")]
    # The main admin holds no grant on that seal: not theirs to seal.
    assert (await D.dashboard(deps, p.admin_id, p.enterprise_id)).to_seal == []


async def test_the_seal_waits_only_once_it_is_the_enterprise_turn(deps) -> None:
    p = await parties(deps)
    await send_contract(deps, p)  # the employee signs first
    assert (await D.dashboard(deps, p.sealer_id, p.enterprise_id)).to_seal == []


async def test_contracts_due_within_three_days_are_listed(deps, clock) -> None:
    p = await parties(deps)
    soon = await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="两天后截止", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(p.employee_phone), company(p.seal_id)],
        deadline=clock.now() + timedelta(days=2), meta=META)
    await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="十天后截止", filename="b.pdf",
        pdf=sample_contract_pdf(3), signers=[person(p.employee_phone), company(p.seal_id)],
        deadline=clock.now() + timedelta(days=10), meta=META)
    board = await D.dashboard(deps, p.admin_id, p.enterprise_id)
    assert [t.title for t in board.due_soon] == ["两天后截止"]
    assert board.due_soon[0].url == f"/contracts/{soon}"
    clock.advance(seconds=2 * 86400 + 60)  # past the deadline: no longer "due soon"
    assert (await D.dashboard(deps, p.admin_id, p.enterprise_id)).due_soon == []


async def test_a_rejected_contract_shows_with_its_reason_for_a_week(deps, clock) -> None:
    p = await parties(deps)
    contract_id = await send_contract(deps, p)
    await ending.reject_contract(deps, p.employee_id, contract_id, "薪资与面谈不一致", META)
    board = await D.dashboard(deps, p.admin_id, p.enterprise_id)
    assert [(t.id, t.note) for t in board.rejected] == [(contract_id, "薪资与面谈不一致")]
    clock.advance(seconds=8 * 86400)
    assert (await D.dashboard(deps, p.admin_id, p.enterprise_id)).rejected == []


async def test_a_dashboard_page_links_each_contract(client, deps) -> None:
    from tests.handlers.test_contracts_h5 import as_user

    p = await parties(deps)
    contract_id = await send_contract(
        deps, p, [company(p.seal_id, order=1), person(p.employee_phone, order=2)])
    await as_user(client, deps, p.sealer_id)
    html = await (await client.get(f"/console/e/{p.enterprise_id}")).text()
    assert f'<a href="/contracts/{contract_id}">待盖章：《劳动合同（测试）》</a>' in html
