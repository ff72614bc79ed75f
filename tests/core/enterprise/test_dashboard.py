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


async def test_the_enterprise_contract_list_follows_the_access_rules(deps) -> None:
    import pytest

    from core.contracts import access
    from core.enterprise import members as M
    from core.enterprise import roles
    from core.errors import NotFound
    from tests.enterprise_factories import make_user, user_phone

    p = await parties(deps)
    first = await send_contract(deps, p, title="第一份")
    second = await send_contract(deps, p, title="第二份")
    draft = await send.create_draft(deps, p.admin_id, p.enterprise_id, title="草稿",
                                    filename="c.pdf", pdf=sample_contract_pdf(2), meta=META)
    # contracts.view: every contract of the enterprise, newest first; drafts open to edit.
    items = await access.enterprise_contracts(deps, p.admin_id, p.enterprise_id)
    assert {i.id for i in items} == {first, second, draft}
    assert next(i.url for i in items if i.id == draft) == f"/console/contracts/{draft}/edit"
    assert [i.id for i in await access.enterprise_contracts(
        deps, p.admin_id, p.enterprise_id, "draft")] == [draft]
    # A member with the 员工 role and no seal sees none; one holding the seal sees those
    # waiting for (or sealed with) it.
    plain = await make_user(deps, name="孙七")
    async with deps.db.transaction() as tx:
        employee_role = await roles.builtin_role_id(tx, p.enterprise_id, "employee")
    await M.add_member(deps, p.admin_id, p.enterprise_id, phone=await user_phone(deps, plain),
                       name="孙七", role_ids=[employee_role], meta=META)
    assert await access.enterprise_contracts(deps, plain, p.enterprise_id) == []
    # An outsider: the enterprise does not exist for them.
    stranger = await make_user(deps, name="周八")
    with pytest.raises(NotFound):
        await access.enterprise_contracts(deps, stranger, p.enterprise_id)


async def test_the_contract_page_leads_hr_back_to_the_enterprise_list(client, deps) -> None:
    from tests.handlers.test_contracts_h5 import as_user

    p = await parties(deps)
    contract_id = await send_contract(deps, p)
    link = f'href="/console/e/{p.enterprise_id}/contracts"'
    await as_user(client, deps, p.sealer_id)  # HR: contracts.view
    assert link in await (await client.get(f"/contracts/{contract_id}")).text()
    await as_user(client, deps, p.employee_id)  # the employee: not a member
    assert link not in await (await client.get(f"/contracts/{contract_id}")).text()
