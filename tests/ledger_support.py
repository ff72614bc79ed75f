"""Test data for the contract ledger: many contracts written straight into the tables
(the ledger reads rows; sending each through the PDF flow would only slow the tests),
business types, members limited to some types, departments and employees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core.context import Deps
from core.contracts import numbers
from core.enterprise import members as M
from core.enterprise import roles
from storage.models import BusinessType, Contract, ContractSigner, Department, Employee
from tests.contract_support import META
from tests.enterprise_factories import make_user, new_phone, user_phone


async def type_ids(deps: Deps, enterprise_id: str) -> dict[str, str]:
    async with deps.db.sessions() as session:
        return dict((await session.execute(
            select(BusinessType.name, BusinessType.id).where(
                BusinessType.enterprise_id == enterprise_id))).all())


@dataclass(frozen=True)
class Row:
    title: str
    signer: str
    phone: str
    state: str = "in_progress"
    business_type: str = "劳动合同"
    sent_at: datetime | None = None
    deadline: datetime | None = None
    confidential: bool = False


async def insert_contracts(deps: Deps, enterprise_id: str, initiator_id: str,
                           rows: list[Row]) -> list[str]:
    """One contract per row, with one person signer, numbered like the real flow."""
    types = await type_ids(deps, enterprise_id)
    ids = []
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        for i, r in enumerate(rows):
            created = (r.sent_at or now) - timedelta(seconds=1)
            c = Contract(
                enterprise_id=enterprise_id, title=r.title, initiator_id=initiator_id,
                state=r.state, deadline=r.deadline, created_at=created,
                sent_at=None if r.state == "draft" else (r.sent_at or now - timedelta(
                    minutes=len(rows) - i)),
                updated_at=now, number=await numbers.next_number(tx, enterprise_id, created),
                business_type_id=types[r.business_type], confidential=r.confidential)
            tx.session.add(c)
            await tx.session.flush()
            tx.session.add(ContractSigner(
                contract_id=c.id, party="person", party_key=r.phone, sign_order=1,
                name=r.signer, phone=r.phone, state="pending", created_at=created))
            ids.append(c.id)
    return ids


async def member_with(deps: Deps, enterprise_id: str, admin_id: str, *, role: str = "hr",
                      types: tuple[str, ...] = (), name: str = "钱七") -> str:
    """A new active member with a built-in role, limited to `types` (names) if any."""
    user_id = await make_user(deps, name=name)
    names = await type_ids(deps, enterprise_id)
    async with deps.db.transaction() as tx:
        role_id = await roles.builtin_role_id(tx, enterprise_id, role)
    await M.add_member(deps, admin_id, enterprise_id, phone=await user_phone(deps, user_id),
                       name=name, role_ids=[role_id],
                       business_type_ids=[names[t] for t in types], meta=META)
    return user_id


async def department(deps: Deps, enterprise_id: str, name: str,
                     parent_id: str | None = None) -> str:
    async with deps.db.transaction() as tx:
        d = Department(enterprise_id=enterprise_id, name=name, parent_id=parent_id,
                       created_at=deps.clock.now())
        tx.session.add(d)
        await tx.session.flush()
        return d.id


async def employee_in(deps: Deps, enterprise_id: str, department_id: str | None,
                      name: str, phone: str | None = None) -> str:
    phone = phone or new_phone()
    async with deps.db.transaction() as tx:
        tx.session.add(Employee(
            enterprise_id=enterprise_id, name=name, phone=phone, department_id=department_id,
            status="active", source="manual", created_at=deps.clock.now(),
            updated_at=deps.clock.now()))
    return phone
