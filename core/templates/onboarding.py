"""The onboarding QR carries a template (E4): a worker who scans the enterprise's
onboarding QR, registers and is approved gets a contract from that template at once.

HR picks the template (published, one person role) next to the QR poster; approving a
worker who joined by the QR (core.enterprise.employees) queues ONBOARDING_CONTRACT_KIND
in the approving transaction, and this job sends the contract in the name of the member
who chose the template (their permission is checked again when it runs). The job is
keyed per employee, and the sending transaction refuses a second contract from the same
template for the same phone, so a retry never sends twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import send as contract_send
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.employees import ONBOARDING_CONTRACT_KIND, EmployeeStatus
from core.errors import DomainError
from core.outbox import PermanentFailure
from core.templates import sending, service
from core.templates.batch import _check_batchable
from core.templates.fields import first_person
from storage.models import (
    Contract,
    ContractSigner,
    Employee,
    OnboardingTemplate,
    OutboxMessage,
    TemplateContract,
)
from storage.uow import Tx

log_ = logging.getLogger(__name__)

__all__ = ["ONBOARDING_CONTRACT_KIND", "current", "deliver", "set_template"]


@dataclass(frozen=True)
class Current:
    template_id: str
    name: str


async def current(deps: Deps, user_id: str, enterprise_id: str) -> Current | None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        row = await tx.session.get(OnboardingTemplate, enterprise_id)
        if row is None:
            return None
        try:
            t = await service.load(tx, enterprise_id, row.template_id)
        except DomainError:
            return None
        return Current(t.id, t.name)


async def set_template(deps: Deps, user_id: str, enterprise_id: str,
                       template_id: str | None, meta: RequestMeta) -> None:
    """Attach a published template to the onboarding QR, or none (None / '')."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        row = await tx.session.get(OnboardingTemplate, enterprise_id)
        if not template_id:
            if row is not None:
                await tx.session.delete(row)
        else:
            await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
            _check_batchable(service.version_view(
                await service.latest_version(tx, enterprise_id, template_id)))
            now = deps.clock.now()
            if row is None:
                tx.session.add(OnboardingTemplate(enterprise_id=enterprise_id,
                                                  template_id=template_id, set_by=user_id,
                                                  set_at=now))
            else:
                row.template_id, row.set_by, row.set_at = template_id, user_id, now
        await log(tx, deps, "employees.qr_template_set", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="enterprise",
                  subject_id=enterprise_id, data={"template_id": template_id or None},
                  meta=meta)


class _AlreadySent(Exception):
    pass


async def deliver(deps: Deps, msg: OutboxMessage) -> None:
    """Outbox deliverer: the approved worker's contract from the QR's template."""
    employee_id = str(msg.payload["employee_id"])
    async with deps.db.transaction() as tx:
        e = await tx.session.get(Employee, employee_id)
        if e is None or e.status != EmployeeStatus.ACTIVE:
            return
        setting = await tx.session.get(OnboardingTemplate, e.enterprise_id)
        if setting is None:
            return
        ent_id, sender, template_id = e.enterprise_id, setting.set_by, setting.template_id
        party = sending.Party(e.name, e.phone)
        try:
            version = service.version_view(
                await service.latest_version(tx, ent_id, template_id))
            type_id = await service.business_type_id(tx, ent_id, version.business_type)
        except DomainError as exc:
            raise PermanentFailure(exc.message) from exc
    person = first_person(version.roles)

    async def on_sent(tx: Tx, contract: Contract, rows: list[ContractSigner]) -> None:
        earlier = (await tx.session.execute(
            select(Contract.id)
            .join(TemplateContract, TemplateContract.contract_id == Contract.id)
            .join(ContractSigner, ContractSigner.contract_id == Contract.id)
            .where(Contract.enterprise_id == ent_id, Contract.id != contract.id,
                   TemplateContract.template_id == template_id,
                   ContractSigner.phone == party.phone).limit(1))).scalar_one_or_none()
        if earlier is not None:
            raise _AlreadySent()
        await record(tx, contract, rows)
        await log(tx, deps, "employee.onboarding_contract", actor_id=None,
                  enterprise_id=ent_id, subject_type="employee", subject_id=employee_id,
                  data={"contract_id": contract.id, "template_id": template_id})

    try:
        filled = await sending.fill_for_signers(
            deps, version, {person.key: party}, dict(sending.suggested_values(version, party)))
        record = sending.origin_recorder(deps, filled)
        await contract_send.create_and_send(
            deps, sender, ent_id, title=f"{version.name}（{party.name}）"[:100],
            filename=f"{version.name}.pdf", pdf=filled.pdf, signers=filled.signers,
            meta=RequestMeta(), on_sent=on_sent, business_type_id=type_id,
            produced=filled.info)
    except _AlreadySent:
        return
    except DomainError as exc:
        log_.warning("onboarding contract not sent", extra={"employee_id": employee_id,
                                                            "code": exc.code})
        raise PermanentFailure(f"{exc.code}: {exc.message}") from exc
