"""Paper copies (纸质副本, 电子劳动合同订立指引 Art. 13): a worker who signed asks for a
free stamped paper copy from the contract page; HR sees the requests in the console and
marks each printed, stamped and handed over. Every step is in the audit chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.states import ContractState
from core.contracts.trail import PAPER_STATES
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.wechat.notify import notify_person
from storage.models import Contract, ContractSigner, PaperCopyRequest, User

STEPS = ("requested", "printed", "stamped", "handed_over")
NEXT_LABELS = {"requested": "标记已打印", "printed": "标记已盖章", "stamped": "标记已交付"}
MAX_NOTE = 200
LIST_LIMIT = 200
FILTERS = {"open": "待处理", "done": "已交付", "all": "全部"}


@dataclass(frozen=True)
class PaperCopyView:
    id: str
    contract_id: str
    contract_title: str
    signer_name: str
    state: str
    state_label: str
    note: str
    requested_at: datetime
    printed_at: datetime | None
    stamped_at: datetime | None
    handed_over_at: datetime | None
    next_label: str | None


def _view(row: PaperCopyRequest, title: str) -> PaperCopyView:
    return PaperCopyView(row.id, row.contract_id, title, row.signer_name, row.state,
                         PAPER_STATES.get(row.state, row.state), row.note, row.requested_at,
                         row.printed_at, row.stamped_at, row.handed_over_at,
                         NEXT_LABELS.get(row.state))


async def request_copy(deps: Deps, user_id: str, contract_id: str, note: str,
                       meta: RequestMeta) -> PaperCopyView:
    """A person who signed a completed contract asks for a paper copy (once)."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"备注不能超过 {MAX_NOTE} 个字", code="note_too_long", field="note")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id, lock=True)
        signers = await common.signers_of(tx, contract.id)
        inv = await common.require_involved(tx, user, contract, signers)
        if inv.person_signer is None:
            raise PermissionDenied("只有签署本合同的个人可以申请纸质副本",
                                   code="not_a_person_signer")
        if contract.state != ContractState.COMPLETED:
            raise Conflict("合同签署完成后才能申请纸质副本", code="contract_not_completed")
        row = (await tx.session.execute(
            select(PaperCopyRequest).where(PaperCopyRequest.contract_id == contract.id,
                                           PaperCopyRequest.user_id == user.id)
        )).scalar_one_or_none()
        if row is not None:
            return _view(row, contract.title)
        row = PaperCopyRequest(
            contract_id=contract.id, enterprise_id=contract.enterprise_id, user_id=user.id,
            signer_name=inv.person_signer.name, state="requested", note=note,
            requested_at=now, updated_at=now)
        tx.session.add(row)
        await tx.session.flush()
        await common.log(tx, deps, "contract.paper_copy_requested", contract,
                         actor_id=user.id, data={"request_id": row.id, "note": note},
                         meta=meta)
        initiator = await tx.session.get(User, contract.initiator_id)
        if initiator is not None:
            await notify_person(
                tx, deps, phone=initiator.phone, user_id=initiator.id, event="to_sign",
                title="纸质合同申请",
                text=f"{row.signer_name}申请《{contract.title}》的纸质副本，请在控制台处理：",
                link=f"{deps.config.server.base_url.rstrip('/')}/console/e/"
                     f"{contract.enterprise_id}/paper-copies",
                dedupe_key=f"paper-copy:{row.id}",
            )
        return _view(row, contract.title)


async def may_request(deps: Deps, user_id: str, contract_id: str) -> bool:
    """Whether the user is a person signer of this completed contract."""
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
        contract = await session.get(Contract, contract_id)
        if user is None or contract is None or contract.state != ContractState.COMPLETED:
            return False
        signers = (await session.execute(
            select(ContractSigner).where(ContractSigner.contract_id == contract_id)
        )).scalars()
        return any(common.is_person_signer(s, user) for s in signers)


async def my_request(deps: Deps, user_id: str, contract_id: str) -> PaperCopyView | None:
    async with deps.db.sessions() as session:
        row = (await session.execute(
            select(PaperCopyRequest, Contract.title)
            .join(Contract, Contract.id == PaperCopyRequest.contract_id)
            .where(PaperCopyRequest.contract_id == contract_id,
                   PaperCopyRequest.user_id == user_id)
        )).first()
    return _view(row[0], row[1]) if row else None


async def list_requests(deps: Deps, user_id: str, enterprise_id: str,
                        which: str = "open") -> list[PaperCopyView]:
    if which not in FILTERS:
        raise InvalidInput("列表类型无效", code="invalid_filter", field="state")
    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_VIEW)
        query = (select(PaperCopyRequest, Contract.title)
                 .join(Contract, Contract.id == PaperCopyRequest.contract_id)
                 .where(PaperCopyRequest.enterprise_id == enterprise_id))
        if which == "open":
            query = query.where(PaperCopyRequest.state != "handed_over")
        elif which == "done":
            query = query.where(PaperCopyRequest.state == "handed_over")
        rows = (await tx.session.execute(
            query.order_by(PaperCopyRequest.requested_at.desc()).limit(LIST_LIMIT))).all()
    return [_view(r, title) for r, title in rows]


async def advance(deps: Deps, user_id: str, request_id: str, to_state: str,
                  meta: RequestMeta) -> PaperCopyView:
    """HR marks the next step: printed → stamped → handed over (a member who may send)."""
    if to_state not in STEPS[1:]:
        raise InvalidInput("状态无效", code="invalid_state", field="state")
    if not request_id or len(request_id) > 32:
        raise NotFound("申请不存在", code="paper_copy_not_found")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = (await tx.session.execute(
            select(PaperCopyRequest).where(PaperCopyRequest.id == request_id).with_for_update()
        )).scalar_one_or_none()
        if row is None:
            raise NotFound("申请不存在", code="paper_copy_not_found")
        try:
            await roles.require_permission(tx, user_id, row.enterprise_id, roles.CONTRACTS_SEND)
        except NotFound:
            raise NotFound("申请不存在", code="paper_copy_not_found") from None
        contract = await common.load_contract(tx, row.contract_id)
        if row.state == to_state:
            return _view(row, contract.title)  # a double click
        if STEPS.index(to_state) != STEPS.index(row.state) + 1:
            raise Conflict(f"当前状态为“{PAPER_STATES[row.state]}”，请按打印、盖章、交付的顺序处理",
                           code="paper_copy_out_of_order")
        row.state, row.updated_by, row.updated_at = to_state, user_id, now
        setattr(row, f"{to_state}_at", now)
        await common.log(tx, deps, "contract.paper_copy_updated", contract, actor_id=user_id,
                         data={"request_id": row.id, "state": to_state,
                               "name": row.signer_name}, meta=meta)
        if to_state == "stamped":
            worker = await tx.session.get(User, row.user_id)
            if worker is not None:
                await notify_person(
                    tx, deps, phone=worker.phone, user_id=worker.id, event="completed",
                    title="纸质合同已盖章",
                    text=f"您申请的《{contract.title}》纸质副本已盖章，请留意领取：",
                    link=common.contract_link(deps, contract.id, "/trail"),
                    dedupe_key=f"paper-copy-stamped:{row.id}",
                )
        return _view(row, contract.title)
