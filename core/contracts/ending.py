"""Ending a contract early: a signer rejects it, the sending side revokes it (one or many),
or it expires. Each end tells the people it concerns through the job system."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.states import CONTRACT, SIGNER, ContractState, SignerState, may_reject
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from storage.models import Contract, ContractSigner, User
from storage.uow import Tx

MAX_REASON = 300
# Contracts one bulk request may touch (console selection, API).
MAX_BULK = 100


def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"请填写原因（{MAX_REASON} 字以内）", code="invalid_reason",
                           field="reason")
    return reason


def check_ids(contract_ids: Sequence[str]) -> list[str]:
    """A bulk selection: distinct ids in their order, at least one, at most MAX_BULK."""
    ids = list(dict.fromkeys(i.strip() for i in contract_ids if i and i.strip()))
    if not ids:
        raise InvalidInput("请先勾选合同", code="nothing_selected", field="contract_ids")
    if len(ids) > MAX_BULK:
        raise InvalidInput(f"一次最多处理 {MAX_BULK} 份合同", code="too_many_contracts",
                           field="contract_ids")
    return ids


@dataclass(frozen=True)
class BulkOutcome:
    """One contract of a bulk action: done, or why not (a stable code and the words)."""

    contract_id: str
    ok: bool
    code: str | None = None
    message: str | None = None


async def _signed_and_told(
    tx: Tx, contract: Contract, signers: list[ContractSigner]
) -> list[common.Recipient]:
    """The people an ended contract concerns: every person signer, the member who sealed
    each signed enterprise row, the pending seal holders, and the initiator."""
    out = [common.Recipient(s.id, s.phone, s.user_id, False)
           for s in signers if s.party == "person"]
    for s in signers:
        if s.party == "enterprise" and s.state in (SignerState.SIGNED, SignerState.SIGNING) \
                and s.signed_by:
            sealer = await tx.session.get(User, s.signed_by)
            if sealer is not None:
                out.append(common.Recipient(s.id, sealer.phone, sealer.id, True))
    out += [r for r in await common.pending_recipients(tx, signers) if r.sealing]
    initiator = await tx.session.get(User, contract.initiator_id)
    if initiator is not None:
        out.append(common.Recipient("initiator", initiator.phone, initiator.id, False))
    return out


async def _tell_parties(
    tx: Tx, deps: Deps, contract: Contract, signers: list[ContractSigner], text: str,
    key: str, skip_user: str | None,
) -> None:
    """Everyone the contract concerns learns that it ended, except who ended it."""
    skip_phone = None
    if skip_user:
        skipped = await tx.session.get(User, skip_user)
        skip_phone = skipped.phone if skipped else None
    recipients = [r for r in await _signed_and_told(tx, contract, signers)
                  if r.user_id != skip_user and (r.phone is None or r.phone != skip_phone)]
    await common.tell(tx, deps, contract, recipients, event="review_result",
                      title="合同已终止", text=text, key=key)


def _refuse_if_over(contract: Contract, now: datetime, verb: str) -> None:
    if common.is_overdue(contract, now):
        raise Conflict(f"合同已超过签署截止时间，不能{verb}", code="contract_expired")


async def reject_contract(
    deps: Deps, user_id: str, contract_id: str, reason: str, meta: RequestMeta
) -> None:
    """A signer whose turn it is refuses to sign (拒签): the contract ends for everyone,
    and the sender and everyone who signed learn the reason."""
    reason = check_reason(reason)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id, lock=True)
        signers = await common.signers_of(tx, contract.id)
        inv = await common.require_involved(tx, user, contract, signers)
        mine = [s for s in (inv.person_signer, inv.enterprise_signer) if s is not None]
        if not mine:
            raise PermissionDenied("只有签署方可以拒签", code="not_a_signer")
        signer = next((s for s in mine if s.state == SignerState.PENDING), mine[0])
        _refuse_if_over(contract, now, "拒签")
        if contract.state != ContractState.IN_PROGRESS:
            raise Conflict("合同已结束，不能拒签", code="contract_not_in_progress")
        if not may_reject(contract.reject_by, signer.party):
            raise PermissionDenied("发起方设置了本合同不能由您拒签，如有异议请联系发起方",
                                   code="reject_not_allowed")
        SIGNER.ensure(signer.state, SignerState.REJECTED)
        CONTRACT.ensure(contract.state, ContractState.REJECTED)
        signer.state, signer.reject_reason = SignerState.REJECTED, reason
        if signer.party == "person" and signer.user_id is None:
            signer.user_id = user.id
        contract.state, contract.end_reason = ContractState.REJECTED, reason
        contract.ended_by, contract.ended_at, contract.updated_at = user.id, now, now
        await common.log(tx, deps, "contract.rejected", contract, actor_id=user.id,
                         data={"signer_id": signer.id, "reason": reason}, meta=meta)
        await _tell_parties(tx, deps, contract, signers,
                            f"《{contract.title}》已被{signer.name}拒签，原因：{reason}。",
                            f"contract-rejected:{contract.id}", user.id)


async def _revoke_in(tx: Tx, deps: Deps, user_id: str, contract: Contract, reason: str,
                     meta: RequestMeta) -> None:
    now = deps.clock.now()
    await common.require_manager(tx, user_id, contract)
    _refuse_if_over(contract, now, "撤销")
    if contract.state not in (ContractState.DRAFT, ContractState.IN_PROGRESS):
        raise Conflict("合同已结束，不能撤销", code="contract_not_in_progress")
    CONTRACT.ensure(contract.state, ContractState.REVOKED)
    was_sent = contract.state == ContractState.IN_PROGRESS
    contract.state, contract.end_reason = ContractState.REVOKED, reason
    contract.ended_by, contract.ended_at, contract.updated_at = user_id, now, now
    contract.next_reminder_at = contract.due_notice_at = None
    await common.log(tx, deps, "contract.revoked", contract, actor_id=user_id,
                     data={"reason": reason}, meta=meta)
    if was_sent:
        signers = await common.signers_of(tx, contract.id)
        await _tell_parties(tx, deps, contract, signers,
                            f"《{contract.title}》已被发起方撤销，原因：{reason}。",
                            f"contract-revoked:{contract.id}", user_id)


async def revoke_contract(
    deps: Deps, user_id: str, contract_id: str, reason: str, meta: RequestMeta,
    *, enterprise_id: str | None = None,
) -> None:
    """The initiator (or a member who may send for the enterprise) withdraws the contract;
    every party, and above all everyone who already signed, is told why."""
    reason = check_reason(reason)
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id, lock=True)
        if enterprise_id is not None and contract.enterprise_id != enterprise_id:
            raise NotFound("合同不存在", code="contract_not_found")
        await _revoke_in(tx, deps, user_id, contract, reason, meta)


async def revoke_many(
    deps: Deps, user_id: str, contract_ids: Sequence[str], reason: str, meta: RequestMeta,
    *, enterprise_id: str | None = None,
) -> list[BulkOutcome]:
    """Revoke a selection with one reason: each contract on its own (one that cannot be
    revoked does not hold back the others), in its own transaction."""
    reason = check_reason(reason)
    out = []
    for cid in check_ids(contract_ids):
        try:
            await revoke_contract(deps, user_id, cid, reason, meta, enterprise_id=enterprise_id)
        except DomainError as err:
            out.append(BulkOutcome(cid, False, err.code, err.message))
        else:
            out.append(BulkOutcome(cid, True))
    return out


async def expire_in(tx: Tx, deps: Deps, contract: Contract) -> None:
    """The contract (locked, in progress, past its deadline) ends as expired; the sender
    and whoever still had to sign are told."""
    now = deps.clock.now()
    CONTRACT.ensure(contract.state, ContractState.EXPIRED)
    contract.state, contract.ended_at, contract.updated_at = ContractState.EXPIRED, now, now
    contract.next_reminder_at = contract.due_notice_at = None
    await common.log(tx, deps, "contract.expired", contract, actor_id=None)
    signers = await common.signers_of(tx, contract.id)
    recipients = await common.pending_recipients(tx, signers)
    initiator = await tx.session.get(User, contract.initiator_id)
    if initiator is not None:
        recipients.append(common.Recipient("initiator", initiator.phone, initiator.id, False))
    await common.tell(tx, deps, contract, recipients, event="review_result",
                      title="合同已过期",
                      text=f"《{contract.title}》已超过签署截止时间，未签署完成，合同已过期。",
                      key=f"contract-expired:{contract.id}")


async def expire_due(deps: Deps, limit: int = 100) -> int:
    """Mark in-progress contracts past their deadline as expired (a periodic sweep)."""
    now = deps.clock.now()
    count = 0
    async with deps.db.transaction() as tx:
        rows = list(
            (
                await tx.session.execute(
                    select(Contract).where(
                        Contract.state == ContractState.IN_PROGRESS,
                        Contract.deadline.is_not(None),
                        Contract.deadline <= now,
                    ).limit(limit).with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        for contract in rows:
            await expire_in(tx, deps, contract)
            count += 1
    return count
