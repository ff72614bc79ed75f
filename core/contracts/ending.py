"""Ending a contract early: a signer rejects it, the initiator revokes it, or it expires."""

from __future__ import annotations

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.states import CONTRACT, SIGNER, ContractState, SignerState
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.wechat.notify import notify_person
from storage.models import Contract, ContractSigner, User
from storage.uow import Tx

MAX_REASON = 300


def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"请填写原因（{MAX_REASON} 字以内）", code="invalid_reason",
                           field="reason")
    return reason


async def _tell_parties(
    tx: Tx, deps: Deps, contract: Contract, signers: list[ContractSigner], text: str,
    key: str, skip_user: str | None,
) -> None:
    """Every person signer and the initiator learn that the contract ended."""
    link = common.contract_link(deps, contract.id)
    told: set[str] = set()
    skip_phone = None
    if skip_user:
        skipped = await tx.session.get(User, skip_user)
        skip_phone = skipped.phone if skipped else None
    for s in signers:
        if s.party == "person" and s.phone and s.phone not in told and s.phone != skip_phone:
            told.add(s.phone)
            await notify_person(tx, deps, phone=s.phone, user_id=s.user_id,
                                     event="review_result", title="合同已终止", text=text,
                                     link=link, dedupe_key=f"{key}:{s.phone}")
    initiator = await tx.session.get(User, contract.initiator_id)
    if initiator and initiator.phone not in told and initiator.phone != skip_phone:
        await notify_person(tx, deps, phone=initiator.phone, user_id=initiator.id,
                                 event="review_result", title="合同已终止", text=text,
                                 link=link, dedupe_key=f"{key}:{initiator.phone}")


async def reject_contract(
    deps: Deps, user_id: str, contract_id: str, reason: str, meta: RequestMeta
) -> None:
    """A signer whose turn it is refuses to sign (拒签): the contract ends for everyone."""
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
        if contract.state != ContractState.IN_PROGRESS:
            raise Conflict("合同已结束，不能拒签", code="contract_not_in_progress")
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


async def revoke_contract(
    deps: Deps, user_id: str, contract_id: str, reason: str, meta: RequestMeta
) -> None:
    """The initiator (or a member who may send for the enterprise) withdraws the contract."""
    reason = check_reason(reason)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id, lock=True)
        if contract.initiator_id != user_id:
            try:
                await roles.require_permission(tx, user_id, contract.enterprise_id,
                                               roles.CONTRACTS_SEND)
            except NotFound:
                raise NotFound("合同不存在", code="contract_not_found") from None
        if contract.state not in (ContractState.DRAFT, ContractState.IN_PROGRESS):
            raise Conflict("合同已结束，不能撤销", code="contract_not_in_progress")
        CONTRACT.ensure(contract.state, ContractState.REVOKED)
        was_sent = contract.state == ContractState.IN_PROGRESS
        contract.state, contract.end_reason = ContractState.REVOKED, reason
        contract.ended_by, contract.ended_at, contract.updated_at = user_id, now, now
        await common.log(tx, deps, "contract.revoked", contract, actor_id=user_id,
                         data={"reason": reason}, meta=meta)
        if was_sent:
            signers = await common.signers_of(tx, contract.id)
            await _tell_parties(tx, deps, contract, signers,
                                f"《{contract.title}》已被发起方撤销，原因：{reason}。",
                                f"contract-revoked:{contract.id}", user_id)


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
                    ).limit(limit).with_for_update()
                )
            ).scalars()
        )
        for contract in rows:
            CONTRACT.ensure(contract.state, ContractState.EXPIRED)
            contract.state, contract.ended_at, contract.updated_at = (
                ContractState.EXPIRED, now, now)
            await common.log(tx, deps, "contract.expired", contract, actor_id=None)
            count += 1
    return count
