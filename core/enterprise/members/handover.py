"""Hand-over before removal (一键转交): seal grants here, contracts and templates through
the providers wired in Deps.handover."""

from __future__ import annotations

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.members.common import load_member
from core.enterprise.members.states import HandoverItem, MemberStatus
from core.enterprise.seals import grant_in_tx
from core.errors import InvalidInput
from storage.models import (
    Member,
    Seal,
    SealGrant,
)
from storage.uow import Tx


async def seal_grant_items(tx: Tx, enterprise_id: str, member: Member) -> list[HandoverItem]:
    rows = (
        await tx.session.execute(
            select(SealGrant.seal_id, Seal.name).join(Seal, Seal.id == SealGrant.seal_id)
            .where(SealGrant.enterprise_id == enterprise_id, SealGrant.member_id == member.id,
                   SealGrant.revoked_at.is_(None))
        )
    ).all()
    return [HandoverItem(f"seal:{sid}", "seal", f"印章授权：{name}") for sid, name in rows]


async def handover_items_of(tx: Tx, deps: Deps, enterprise_id: str, member: Member
                 ) -> list[HandoverItem]:
    items = await seal_grant_items(tx, enterprise_id, member)
    for provider in deps.handover:
        items += await provider.list_items(tx, enterprise_id, member)
    return items


async def handover_items(deps: Deps, user_id: str, enterprise_id: str,
                         member_id: str) -> list[HandoverItem]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        m = await load_member(tx, enterprise_id, member_id)
        return await handover_items_of(tx, deps, enterprise_id, m)


async def transfer_items(tx: Tx, deps: Deps, actor_id: str, enterprise_id: str,
                         source: Member, assignments: dict[str, str],
                         meta: RequestMeta | None) -> int:
    """Move each assigned item from `source` to its target member (in the caller's tx)."""
    items = {i.key: i for i in await handover_items_of(tx, deps, enterprise_id, source)}
    now = deps.clock.now()
    moved = 0
    for key, target_id in assignments.items():
        item = items.get(key)
        if item is None:
            raise InvalidInput("转交项目不存在", code="handover_item_not_found")
        target = await load_member(tx, enterprise_id, target_id)
        if target.id == source.id or target.status != MemberStatus.ACTIVE:
            raise InvalidInput("请选择其他已激活的成员作为接手人", code="invalid_handover_target")
        if item.kind == "seal":
            seal_id = key.split(":", 1)[1]
            await grant_in_tx(tx, deps, actor_id, enterprise_id, seal_id, target.id, meta)
            grant = (
                await tx.session.execute(
                    select(SealGrant).where(SealGrant.seal_id == seal_id,
                                            SealGrant.member_id == source.id,
                                            SealGrant.revoked_at.is_(None))
                )
            ).scalar_one()
            grant.revoked_at = now
        else:
            provider = next(p for p in deps.handover if p.kind == item.kind)
            await provider.transfer(tx, deps, enterprise_id, key, source, target, actor_id)
        await log(tx, deps, "member.handover", actor_id=actor_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=source.id,
                  data={"item": key, "to_member": target.id}, meta=meta)
        moved += 1
    await tx.session.flush()
    return moved
