"""Urging (催办): the sending side reminds the pending signers of a contract by WeChat
template message, else SMS, through the job system.

At most once per signer per URGE_INTERVAL. The limit lives in the database: a signer is
urged only by the UPDATE that moves its `last_urged_at` from NULL or older than the
interval to now (a compare-and-set both databases run atomically), so two processes, or
two clicks, never urge the same signer twice within the interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update

from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.ending import BulkOutcome, check_ids
from core.contracts.states import ContractState, SignerState
from core.errors import Conflict, DomainError, NotFound, RateLimited
from storage.models import Contract, ContractSigner, Enterprise
from storage.uow import Tx

URGE_INTERVAL = timedelta(hours=10)


class UrgeTooSoon(RateLimited):
    code = "urge_too_soon"
    message = "已催办，请稍后再试"


def wait_label(available_at: datetime, now: datetime) -> str:
    """What the button says while it waits: 已催办，X 小时后可再次催办."""
    hours = max(1, math.ceil((available_at - now).total_seconds() / 3600))
    return f"已催办，{hours} 小时后可再次催办"


def signer_available_at(signer: ContractSigner, now: datetime) -> datetime:
    if signer.last_urged_at is None:
        return now
    return max(now, signer.last_urged_at + URGE_INTERVAL)


def next_urge_at(contract: Contract, signers: Sequence[ContractSigner],
                 now: datetime) -> datetime | None:
    """When the contract can be urged (now, or when the first pending signer's interval
    ends); None when nobody is pending or the contract is not live."""
    if not common.is_live(contract, now):
        return None
    pending = [s for s in signers if s.state == SignerState.PENDING]
    if not pending:
        return None
    return min(signer_available_at(s, now) for s in pending)


@dataclass(frozen=True)
class UrgeOutcome:
    contract_id: str
    # Signer rows urged now (their names), and those still inside the interval.
    urged: tuple[str, ...]
    skipped: tuple[str, ...]
    # When the contract can be urged again.
    next_urge_at: datetime


async def urge_contract(
    deps: Deps, user_id: str, contract_id: str, meta: RequestMeta, *,
    signer_id: str | None = None, enterprise_id: str | None = None,
) -> UrgeOutcome:
    """Urge the pending signers of one contract (or one of them, `signer_id`).

    Only the sending side may (the initiator or a member with contracts.send); signers
    urged within the interval are skipped, and when every one is, UrgeTooSoon (429)
    says how long to wait."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id)
        if enterprise_id is not None and contract.enterprise_id != enterprise_id:
            raise NotFound("合同不存在", code="contract_not_found")
        await common.require_manager(tx, user_id, contract)
        if common.is_overdue(contract, now):
            raise Conflict("合同已超过签署截止时间，不能催办", code="contract_expired")
        if contract.state != ContractState.IN_PROGRESS:
            raise Conflict("合同不在签署中，不能催办", code="contract_not_in_progress")
        signers = await common.signers_of(tx, contract.id)
        if signer_id is not None and not any(s.id == signer_id for s in signers):
            raise NotFound("签署方不存在", code="signer_not_found")
        pending = [s for s in signers if s.state == SignerState.PENDING
                   and (signer_id is None or s.id == signer_id)]
        if not pending:
            raise Conflict("没有待签署的签署方", code="nothing_to_urge")
        urged: list[ContractSigner] = []
        skipped: list[ContractSigner] = []
        for s in pending:
            won = await tx.changed(
                update(ContractSigner)
                .where(ContractSigner.id == s.id, ContractSigner.state == SignerState.PENDING,
                       or_(ContractSigner.last_urged_at.is_(None),
                           ContractSigner.last_urged_at <= now - URGE_INTERVAL))
                .values(last_urged_at=now, urge_count=ContractSigner.urge_count + 1)
                .execution_options(synchronize_session=False)
            )
            (urged if won == 1 else skipped).append(s)
        if not urged:
            # The rows may have been urged by another process meanwhile: read them again.
            for s in skipped:
                await tx.session.refresh(s)
            soonest = min(signer_available_at(s, now) for s in skipped)
            raise UrgeTooSoon(wait_label(soonest, now),
                              retry_after=max(1, int((soonest - now).total_seconds())))
        ent_name = await _enterprise_name(tx, contract.enterprise_id)
        recipients = await common.pending_recipients(tx, signers, {s.id for s in urged})
        await common.tell(
            tx, deps, contract, recipients, event="urged", title="合同催办",
            text=f"{ent_name}提醒您尽快签署《{contract.title}》，请点击链接查看并签署：",
            seal_text=f"《{contract.title}》等待{ent_name}盖章，发起方提醒您尽快处理：",
            key=f"contract-urge:{contract.id}:{int(now.timestamp())}")
        await common.log(tx, deps, "contract.urged", contract, actor_id=user_id,
                         data={"signers": "、".join(s.name for s in urged),
                               "signer_ids": [s.id for s in urged]}, meta=meta)
        for s in skipped:
            await tx.session.refresh(s)
        later = [now + URGE_INTERVAL] + [signer_available_at(s, now) for s in skipped]
        return UrgeOutcome(contract.id, tuple(s.name for s in urged),
                           tuple(s.name for s in skipped), min(later))


async def _enterprise_name(tx: Tx, enterprise_id: str) -> str:
    ent = await tx.session.get(Enterprise, enterprise_id)
    return ent.name if ent else ""


@dataclass(frozen=True)
class BulkUrge(BulkOutcome):
    next_urge_at: datetime | None = None


async def urge_many(
    deps: Deps, user_id: str, contract_ids: Sequence[str], meta: RequestMeta, *,
    enterprise_id: str | None = None,
) -> list[BulkUrge]:
    """Urge a selection (the console list's check boxes, the API's bulk form): each
    contract on its own, so one urged too recently does not hold back the others."""
    out: list[BulkUrge] = []
    for cid in check_ids(contract_ids):
        try:
            done = await urge_contract(deps, user_id, cid, meta, enterprise_id=enterprise_id)
        except DomainError as err:
            out.append(BulkUrge(cid, False, err.code, err.message))
        else:
            out.append(BulkUrge(cid, True, next_urge_at=done.next_urge_at))
    return out
