"""Reading contracts: the lists (待我签署 / 待他人签署 / 已完成 / 已作废 / 我发起的 /
抄送我的) with search and a state filter, one contract's view, its page images and the
signed PDF. Only parties (and cc) see a contract; the enterprise's ledger is
core/contracts/ledger.py."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from core.context import Deps
from core.contracts import common, ledger
from core.contracts.states import (
    CONTRACT_LABELS,
    ContractState,
    SignerState,
    may_reject,
    signer_label,
)
from core.contracts.urging import next_urge_at, wait_label
from core.crypto import mask_phone
from core.enterprise import roles
from core.errors import InvalidInput
from core.files import read_verified
from core.signatures import default_signature_png
from storage.models import (
    BusinessType,
    Contract,
    ContractCc,
    ContractDocument,
    ContractSigner,
    Enterprise,
    Member,
    SignatureField,
    SignTask,
    SignTaskItem,
    User,
)
from storage.uow import Tx

TABS = {
    "to_sign": "待我签署",
    "waiting": "待他人签署",
    "completed": "已完成",
    "ended": "已作废",
    "initiated": "我发起的",
    "cc": "抄送我的",
}
LIST_LIMIT = 100
# The state filter of the personal lists ("" = every state).
LIST_STATES = {
    "": "全部状态",
    "in_progress": "签署中",
    "completed": "已完成",
    "rejected": "已拒签",
    "revoked": "已撤销",
    "expired": "已过期",
    "draft": "草稿",
    "archived": "已归档（纸质）",
}
MAX_LIST_QUERY = 50


@dataclass(frozen=True)
class ContractItem:
    id: str
    title: str
    state: str
    state_label: str
    enterprise_name: str
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    url: str
    number: str = ""


@dataclass(frozen=True)
class BoxView:
    field_name: str
    page: int
    rect: tuple[float, float, float, float]
    signed: bool


@dataclass(frozen=True)
class SignerView:
    id: str
    party: str
    name: str
    phone_masked: str | None
    order: int
    state: str
    state_label: str
    signed_at: datetime | None
    reject_reason: str | None
    boxes: tuple[BoxView, ...]


@dataclass(frozen=True)
class ContractView:
    id: str
    title: str
    state: str
    state_label: str
    enterprise_id: str
    enterprise_name: str
    initiator: bool
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    end_reason: str | None
    page_count: int
    page_sizes: tuple[tuple[float, float], ...]
    document_sha256: str
    version: int
    signers: tuple[SignerView, ...]
    # The signer row the viewer acts as, when it is theirs to sign now (or in progress).
    my_signer_id: str | None
    my_signer_state: str | None
    my_party: str | None
    can_sign: bool
    can_reject: bool
    can_revoke: bool
    can_download: bool
    identity_verified: bool
    has_signature: bool
    # The viewer's own phone, masked: where the signing code goes.
    my_phone_masked: str
    # The enterprise's contract list in the HR console, for its members who may see it.
    console_url: str | None = None
    number: str = ""
    business_type: str = ""
    confidential: bool = False
    cc_names: tuple[str, ...] = ()
    # The viewer is copied on it (抄送): they read, they never sign.
    is_cc: bool = False
    # Sent to the viewer with other documents to sign with one code (E5): the group's
    # page (/tasks/<id>), and how many documents it holds.
    task_id: str | None = None
    task_size: int = 0
    # The sending side may urge (催办) the pending signers now; else the button's words.
    can_urge: bool = False
    urge_label: str | None = None
    next_urge_at: datetime | None = None


def _to_sign(mine: ColumnElement[bool], now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Contracts in progress (not past the deadline) where one of the viewer's signer
    rows is pending."""
    todo = select(ContractSigner.contract_id).where(
        mine, ContractSigner.state == SignerState.PENDING)
    return (common.live_condition(now), Contract.id.in_(todo))


async def count_to_sign(deps: Deps, user_id: str) -> int:
    """How many contracts wait for this user (as a person or as a seal holder): the
    待我签署 list's length, for the bot's greetings and menu replies."""
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None:
            return 0
        seal_ids = await common.sealer_scope(tx, user_id)
        mine = or_(common.person_condition(user), common.sealer_condition(seal_ids))
        return (await tx.session.execute(
            select(func.count()).select_from(Contract).where(
                *_to_sign(mine, deps.clock.now()))
        )).scalar_one()


async def list_contracts(deps: Deps, user_id: str, tab: str, *, q: str = "",
                         state: str = "") -> list[ContractItem]:
    """One of my lists, newest first; `q` searches the title, the contract number and
    the sending enterprise's name, `state` keeps one state (LIST_STATES)."""
    if tab not in TABS:
        raise InvalidInput("列表类型无效", code="invalid_tab", field="tab")
    q = common.check_search(q, MAX_LIST_QUERY)
    if state not in LIST_STATES:
        raise InvalidInput("合同状态无效", code="invalid_state", field="state")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        seal_ids = await common.sealer_scope(tx, user_id)
        mine = or_(common.person_condition(user), common.sealer_condition(seal_ids))
        query = select(Contract, Enterprise.name).join(
            Enterprise, Enterprise.id == Contract.enterprise_id)
        if tab == "initiated":
            query = query.where(Contract.initiator_id == user_id)
        elif tab == "cc":
            copied = select(ContractCc.contract_id).where(common.cc_condition(user))
            query = query.where(Contract.id.in_(copied),
                                Contract.state != ContractState.DRAFT)
        else:
            party_ids = select(ContractSigner.contract_id).where(mine)
            query = query.where(Contract.id.in_(party_ids))
            if tab == "to_sign":
                query = query.where(*_to_sign(mine, now))
            elif tab == "waiting":
                todo = select(ContractSigner.contract_id).where(
                    mine, ContractSigner.state == SignerState.PENDING)
                query = query.where(common.live_condition(now), Contract.id.not_in(todo))
            elif tab == "completed":
                # Paper contracts archived for this person (core/contracts/archive.py)
                # are signed too: they are listed here, labelled 已归档（纸质）.
                query = query.where(Contract.state.in_(
                    [ContractState.COMPLETED, ContractState.ARCHIVED]))
            else:
                query = query.where(common.ended_condition(now))
        if state:
            query = query.where(common.state_condition(state, now))
        if q:
            like = common.like_pattern(q)
            query = query.where(or_(Contract.title.ilike(like, escape="\\"),
                                    Contract.number.ilike(like, escape="\\"),
                                    Enterprise.name.ilike(like, escape="\\")))
        rows = (await tx.session.execute(
            query.order_by(Contract.created_at.desc(), Contract.id).limit(LIST_LIMIT)
        )).all()
    out = []
    for c, name in rows:
        shown = common.effective_state(c, now)
        out.append(ContractItem(
            c.id, c.title, shown, CONTRACT_LABELS[shown], name,
            c.created_at, c.sent_at, c.completed_at, c.deadline,
            f"/contracts/{c.id}", c.number or "",
        ))
    return out


# The HR console's list of one enterprise's contracts.
ENTERPRISE_TABS = {
    "all": "全部",
    "to_seal": "待我盖章",
    "in_progress": "签署中",
    "completed": "已完成",
    "ended": "已作废",
    "draft": "草稿",
}


@dataclass(frozen=True)
class EnterpriseContractItem:
    id: str
    title: str
    state: str
    state_label: str
    signers: str  # "张三 已签署、企业 待签署"
    signed: int
    total: int
    initiator_name: str
    created_at: datetime
    sent_at: datetime | None
    deadline: datetime | None
    url: str
    # For the sending side: urge (催办) now, or the words saying when; revoke.
    can_urge: bool = False
    urge_label: str | None = None
    next_urge_at: datetime | None = None
    can_revoke: bool = False


async def enterprise_contracts(
    deps: Deps, user_id: str, enterprise_id: str, tab: str = "all"
) -> list[EnterpriseContractItem]:
    """The newest 100 of one enterprise's contracts that the member may see (the ledger's
    first page, core/contracts/ledger.py, for the dashboard and older callers)."""
    if tab not in ENTERPRISE_TABS:
        raise InvalidInput("列表类型无效", code="invalid_tab", field="tab")
    page = await ledger.ledger(deps, user_id, enterprise_id,
                               ledger.LedgerQuery(state=tab, per_page=LIST_LIMIT))
    return [
        EnterpriseContractItem(
            i.id, i.title, i.state, i.state_label, i.signers, i.signed, i.total,
            i.initiator_name, i.created_at, i.sent_at, i.deadline, i.url,
            can_urge=i.can_urge, urge_label=i.urge_label, next_urge_at=i.next_urge_at,
            can_revoke=i.can_revoke)
        for i in page.items
    ]


async def view_contract(deps: Deps, user_id: str, contract_id: str) -> ContractView:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id)
        signers = await common.signers_of(tx, contract.id)
        inv = await common.require_involved(tx, user, contract, signers)
        doc = (await tx.session.execute(
            select(ContractDocument).where(ContractDocument.contract_id == contract.id)
        )).scalar_one()
        ent = await tx.session.get(Enterprise, contract.enterprise_id)
        fields = list((await tx.session.execute(
            select(SignatureField).where(SignatureField.contract_id == contract.id)
            .order_by(SignatureField.page, SignatureField.field_name)
        )).scalars())
        cc_names = tuple((await tx.session.execute(
            select(ContractCc.name).where(ContractCc.contract_id == contract.id)
            .order_by(ContractCc.created_at, ContractCc.phone))).scalars())
        btype = await tx.session.get(BusinessType, contract.business_type_id) \
            if contract.business_type_id else None
        in_console = inv.viewer or (
            contract.initiator_id == user.id
            and await roles.active_member(tx, user.id, contract.enterprise_id) is not None)
        state = common.effective_state(contract, now)
        manages = contract.initiator_id == user.id or (
            inv.viewer and await common.may_manage(tx, user.id, contract))
        can_revoke = manages and state in (ContractState.DRAFT, ContractState.IN_PROGRESS)
        urge_at = next_urge_at(contract, signers, now) if manages else None
        task_id, task_size = (await _task_of(tx, contract.id, user.phone)
                              if inv.person_signer is not None else (None, 0))
    boxes: dict[str, list[BoxView]] = {}
    for f in fields:
        boxes.setdefault(f.signer_id, []).append(
            BoxView(f.field_name, f.page, (f.x1, f.y1, f.x2, f.y2), f.signed_at is not None))
    views = tuple(
        SignerView(
            s.id, s.party, s.name, mask_phone(s.phone) if s.phone else None, s.sign_order,
            s.state, signer_label(s.state, state), s.signed_at, s.reject_reason,
            tuple(boxes.get(s.id, ())),
        )
        for s in signers
    )
    mine = None
    for candidate in (inv.person_signer, inv.enterprise_signer):
        if candidate is not None and candidate.state == SignerState.PENDING:
            mine = candidate
            break
    if mine is None:
        mine = inv.person_signer or inv.enterprise_signer
    live = common.is_live(contract, now)
    my_pending = mine is not None and mine.state == SignerState.PENDING
    has_sig = await default_signature_png(deps, user_id) is not None
    sizes = tuple((float(w), float(h)) for w, h in json.loads(doc.page_sizes))
    return ContractView(
        id=contract.id, title=contract.title, state=state,
        state_label=CONTRACT_LABELS[state],
        enterprise_id=contract.enterprise_id, enterprise_name=ent.name if ent else "",
        initiator=contract.initiator_id == user.id, created_at=contract.created_at,
        sent_at=contract.sent_at, completed_at=contract.completed_at,
        deadline=contract.deadline, end_reason=contract.end_reason,
        page_count=doc.page_count, page_sizes=sizes, document_sha256=doc.current_sha256,
        version=doc.version, signers=views,
        my_signer_id=mine.id if mine else None, my_signer_state=mine.state if mine else None,
        my_party=mine.party if mine else None,
        can_sign=live and my_pending,
        can_reject=live and my_pending and mine is not None
        and may_reject(contract.reject_by, mine.party),
        can_revoke=can_revoke,
        can_download=contract.state != ContractState.DRAFT,
        identity_verified=user.identity_state == "verified", has_signature=has_sig,
        my_phone_masked=mask_phone(user.phone),
        console_url=f"/console/e/{contract.enterprise_id}/contracts" if in_console else None,
        number=contract.number or "", business_type=btype.name if btype else "",
        confidential=bool(contract.confidential), cc_names=cc_names,
        is_cc=inv.cc and mine is None,
        can_urge=urge_at is not None and urge_at <= now,
        urge_label=wait_label(urge_at, now) if urge_at and urge_at > now else None,
        next_urge_at=urge_at, task_id=task_id, task_size=task_size,
    )


async def _task_of(tx: Tx, contract_id: str, phone: str) -> tuple[str | None, int]:
    """The multi-document task that sent this contract to this phone, and its size."""
    task_id = (await tx.session.execute(
        select(SignTaskItem.task_id).join(SignTask, SignTask.id == SignTaskItem.task_id)
        .where(SignTaskItem.contract_id == contract_id, SignTask.phone == phone).limit(1)
    )).scalar_one_or_none()
    if task_id is None:
        return None, 0
    size = (await tx.session.execute(
        select(func.count()).where(SignTaskItem.task_id == task_id))).scalar_one()
    return task_id, int(size)


@dataclass(frozen=True)
class Download:
    filename: str
    data: bytes
    sha256: str


async def download(deps: Deps, user_id: str, contract_id: str) -> Download:
    """The current PDF (the signed one once completed) for any party."""
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id)
        signers = await common.signers_of(tx, contract.id)
        await common.require_involved(tx, user, contract, signers)
        doc = await common.load_document(tx, contract.id)
        key, digest, filename = doc.file_key, doc.current_sha256, doc.filename
        state = contract.state
    data = await asyncio.to_thread(read_verified, common.store(deps), key, digest)
    stem = filename[:-4] if filename.lower().endswith(".pdf") else filename
    suffix = "-已签署" if state == ContractState.COMPLETED else ""
    return Download(f"{stem}{suffix}.pdf", data, digest)


async def document_for_pages(deps: Deps, user_id: str, contract_id: str) -> tuple[str, str, int]:
    """(file key, sha256, page count) of the current version, for a party."""
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id)
        signers = await common.signers_of(tx, contract.id)
        await common.require_involved(tx, user, contract, signers)
        doc = await common.load_document(tx, contract.id)
        return doc.file_key, doc.current_sha256, doc.page_count


@dataclass(frozen=True)
class SendableEnterprise:
    id: str
    name: str


async def sendable_enterprises(deps: Deps, user_id: str) -> list[SendableEnterprise]:
    """Certified enterprises where the user may send contracts (console picker)."""
    async with deps.db.transaction() as tx:
        rows = (await tx.session.execute(
            select(Enterprise).join(Member, Member.enterprise_id == Enterprise.id).where(
                Member.user_id == user_id, Member.status == "active",
                Enterprise.state == "certified",
            ).order_by(Enterprise.created_at)
        )).scalars().all()
        out = []
        for ent in rows:
            actor = await roles.actor_for(tx, user_id, ent.id)
            if actor.can(roles.CONTRACTS_SEND):
                out.append(SendableEnterprise(ent.id, ent.name))
    return out


@dataclass(frozen=True)
class SealChoice:
    id: str
    name: str
    kind: str


async def enterprise_seals(deps: Deps, user_id: str, enterprise_id: str) -> list[SealChoice]:
    from storage.models import Seal

    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_SEND)
        rows = (await tx.session.execute(
            select(Seal).where(Seal.enterprise_id == enterprise_id, Seal.status == "enabled")
            .order_by(Seal.created_at)
        )).scalars().all()
    return [SealChoice(s.id, s.name, s.kind) for s in rows]


async def draft_for_sender(deps: Deps, user_id: str, contract_id: str) -> ContractView:
    """The console's placement step: the draft, for a member who may send."""
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id)
        await roles.require_permission(tx, user_id, contract.enterprise_id,
                                       roles.CONTRACTS_SEND)
    return await view_contract(deps, user_id, contract_id)
