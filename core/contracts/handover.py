"""Contracts in a member's hands, for the hand-over before they leave (一键转交, B3).

What a member holds is the contracts they started that are still open (draft or in
progress): someone must keep urging, revoking or answering for them. Ended contracts
stay in the enterprise's archive, visible to whoever may manage contracts, so they are
not handed over one by one.
"""

from __future__ import annotations

from sqlalchemy import select

from core.context import Deps
from core.contracts import common
from core.contracts.states import ContractState
from core.enterprise.members import HandoverItem, HandoverProvider
from core.errors import InvalidInput
from storage.models import Contract, Member
from storage.uow import Tx

KIND = "contract"
OPEN_STATES = (ContractState.DRAFT, ContractState.IN_PROGRESS)


async def list_items(tx: Tx, enterprise_id: str, member: Member) -> list[HandoverItem]:
    if member.user_id is None:
        return []
    rows = (
        await tx.session.execute(
            select(Contract.id, Contract.title).where(
                Contract.enterprise_id == enterprise_id,
                Contract.initiator_id == member.user_id,
                Contract.state.in_(OPEN_STATES),
            ).order_by(Contract.created_at, Contract.id)
        )
    ).all()
    return [HandoverItem(f"{KIND}:{cid}", KIND, f"合同：{title}") for cid, title in rows]


async def transfer(tx: Tx, deps: Deps, enterprise_id: str, key: str, source: Member,
                   target: Member, actor_id: str) -> None:
    contract = await tx.session.get(Contract, key.split(":", 1)[1], with_for_update=True)
    if (contract is None or contract.enterprise_id != enterprise_id
            or contract.initiator_id != source.user_id or target.user_id is None):
        raise InvalidInput("转交项目不存在", code="handover_item_not_found")
    contract.initiator_id = target.user_id
    contract.updated_at = deps.clock.now()
    await common.log(tx, deps, "contract.handed_over", contract, actor_id=actor_id,
                     data={"from_member": source.id, "to_member": target.id})


PROVIDER = HandoverProvider(KIND, list_items, transfer)
