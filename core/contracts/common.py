"""Shared by the contract services: loading rows, who is a party, seal authority, notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select

from core import audit
from core.context import Deps, RequestMeta
from core.contracts.states import ContractState, SignerState
from core.enterprise import roles
from core.enterprise import seals as enterprise_seals
from core.errors import InvalidInput, NotFound
from core.files import FileStore, file_store
from core.integration import events
from core.wechat.notify import notify_person
from storage.models import (
    Contract,
    ContractCc,
    ContractDocument,
    ContractSigner,
    Enterprise,
    Member,
    Seal,
    SealGrant,
    User,
)
from storage.uow import Tx

FILE_AREA = "contracts"
# The outbox job that applies a confirmed (or automatic) signature: core/contracts/signing.py.
SIGN_JOB_KIND = "contract.sign"
SIGNABLE_SEAL_KINDS = ("contract", "official", "legal_rep", "custom")


def store(deps: Deps) -> FileStore:
    return file_store(deps)


def contract_link(deps: Deps, contract_id: str, suffix: str = "") -> str:
    return f"{deps.config.server.base_url.rstrip('/')}/contracts/{contract_id}{suffix}"


async def log(
    tx: Tx,
    deps: Deps,
    action: str,
    contract: Contract,
    *,
    actor_id: str | None,
    data: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
) -> None:
    await audit.record(
        tx, at=deps.clock.now(), action=action, actor_id=actor_id,
        tenant_id=contract.enterprise_id, subject_type="contract", subject_id=contract.id,
        data=data, meta=meta,
    )
    # Sent, signed, completed, rejected, revoked and expired are webhook events too.
    await events.contract_event(tx, deps, action, contract, data)


# The signing flow's most frequent reads, built once with bound parameters: building a
# statement and its cache key again for each call was half of such a read's CPU
# (docs/benchmarks.md, "Fourth round").
_CONTRACT = select(Contract).where(Contract.id == bindparam("id"))
_CONTRACT_LOCKED = _CONTRACT.with_for_update()
_DOCUMENT = select(ContractDocument).where(ContractDocument.contract_id == bindparam("id"))
_DOCUMENT_LOCKED = _DOCUMENT.with_for_update()
_SIGNERS = (select(ContractSigner).where(ContractSigner.contract_id == bindparam("id"))
            .order_by(ContractSigner.sign_order, ContractSigner.created_at))
_SIGNERS_LOCKED = _SIGNERS.with_for_update()


async def load_contract(tx: Tx, contract_id: str, *, lock: bool = False) -> Contract:
    if not contract_id or len(contract_id) > 32:
        raise NotFound("合同不存在", code="contract_not_found")
    query = _CONTRACT_LOCKED if lock else _CONTRACT
    row = (await tx.session.execute(query, {"id": contract_id})).scalar_one_or_none()
    if row is None:
        raise NotFound("合同不存在", code="contract_not_found")
    return row


async def load_document(tx: Tx, contract_id: str, *, lock: bool = False) -> ContractDocument:
    query = _DOCUMENT_LOCKED if lock else _DOCUMENT
    return (await tx.session.execute(query, {"id": contract_id})).scalar_one()


async def signers_of(tx: Tx, contract_id: str, lock: bool = False) -> list[ContractSigner]:
    query = _SIGNERS_LOCKED if lock else _SIGNERS
    return list((await tx.session.execute(query, {"id": contract_id})).scalars())


async def load_user(tx: Tx, user_id: str) -> User:
    user = await tx.session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def is_person_signer(signer: ContractSigner, user: User) -> bool:
    if signer.party != "person":
        return False
    if signer.user_id is not None:
        return signer.user_id == user.id
    return signer.phone == user.phone


async def may_use_seal(tx: Tx, user_id: str, enterprise_id: str, seal_id: str | None) -> bool:
    """An active member of a certified enterprise holding a live grant on the seal."""
    if seal_id is None:
        return False
    ent = await tx.session.get(Enterprise, enterprise_id)
    if ent is None or ent.state != "certified":
        return False
    return await enterprise_seals.member_may_use_seal(tx, enterprise_id, seal_id, user_id)


async def sealer_scope(tx: Tx, user_id: str) -> set[str]:
    """Seal ids the user holds live grants on (enabled seals, active membership)."""
    return set(
        (
            await tx.session.execute(
                select(SealGrant.seal_id)
                .join(Member, Member.id == SealGrant.member_id)
                .join(Seal, Seal.id == SealGrant.seal_id)
                .join(Enterprise, Enterprise.id == SealGrant.enterprise_id)
                .where(
                    Member.user_id == user_id,
                    Member.status == "active",
                    SealGrant.revoked_at.is_(None),
                    Seal.status == "enabled",
                    Enterprise.state == "certified",
                )
            )
        ).scalars()
    )


def sealer_condition(seal_ids: set[str]) -> Any:
    return (ContractSigner.party == "enterprise") & ContractSigner.seal_id.in_(
        seal_ids or {""})


def person_condition(user: User) -> Any:
    return (ContractSigner.party == "person") & or_(
        ContractSigner.user_id == user.id,
        (ContractSigner.user_id.is_(None)) & (ContractSigner.phone == user.phone),
    )


def check_search(text: str, limit: int) -> str:
    """A search box's text: trimmed, at most `limit` characters, no control characters
    (PostgreSQL refuses NUL in a string)."""
    text = (text or "").strip()
    if len(text) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInput(f"搜索内容须为 {limit} 个字以内的文字", code="invalid_query",
                           field="q")
    return text


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def cc_condition(user: User) -> Any:
    """ContractCc rows addressed to this user (by account, or by phone before linking)."""
    return or_(
        ContractCc.user_id == user.id,
        (ContractCc.user_id.is_(None)) & (ContractCc.phone == user.phone),
    )


@dataclass(frozen=True)
class Involvement:
    """How the user relates to one contract."""

    person_signer: ContractSigner | None
    enterprise_signer: ContractSigner | None  # one the user may seal for
    initiator: bool
    # A member of the sending enterprise with contracts.view who may see this contract:
    # of a business type they are not limited away from, and not confidential (the main
    # admin sees confidential ones too).
    viewer: bool
    cc: bool = False  # copied on the contract (抄送): may read, never sign
    handler: bool = False  # sealed it for the enterprise (even without the grant now)

    @property
    def any(self) -> bool:
        return bool(self.person_signer or self.enterprise_signer or self.initiator
                    or self.viewer or self.cc or self.handler)


async def involvement(
    tx: Tx, user: User, contract: Contract, signers: list[ContractSigner]
) -> Involvement:
    person = next((s for s in signers if is_person_signer(s, user)), None)
    sealer = None
    for s in signers:
        if s.party == "enterprise" and s.enterprise_id and await may_use_seal(
            tx, user.id, s.enterprise_id, s.seal_id
        ):
            sealer = s
            break
    viewer = False
    member = await roles.active_member(tx, user.id, contract.enterprise_id)
    if member is not None:
        try:
            actor = await roles.actor_for(tx, user.id, contract.enterprise_id)
            viewer = (actor.can(roles.CONTRACTS_VIEW)
                      and actor.sees_type(contract.business_type_id)
                      and (actor.is_main_admin or not contract.confidential))
        except NotFound:
            viewer = False
    cc = (await tx.session.execute(
        select(ContractCc.id).where(ContractCc.contract_id == contract.id, cc_condition(user))
        .limit(1))).scalar_one_or_none() is not None
    handler = member is not None and any(
        s.party == "enterprise" and s.signed_by == user.id for s in signers)
    return Involvement(person, sealer, contract.initiator_id == user.id, viewer, cc, handler)


async def require_involved(
    tx: Tx, user: User, contract: Contract, signers: list[ContractSigner]
) -> Involvement:
    """Outsiders get NotFound, not 403: contract ids reveal nothing."""
    inv = await involvement(tx, user, contract, signers)
    if not inv.any:
        raise NotFound("合同不存在", code="contract_not_found")
    return inv


async def sealer_recipients(tx: Tx, enterprise_id: str, seal_id: str | None) -> list[User]:
    """Who is told that the enterprise must seal: grant holders of the seal, else the admin."""
    users: list[User] = []
    if seal_id is not None:
        users = list(
            (
                await tx.session.execute(
                    select(User)
                    .join(Member, Member.user_id == User.id)
                    .join(SealGrant, SealGrant.member_id == Member.id)
                    .where(
                        SealGrant.seal_id == seal_id,
                        SealGrant.revoked_at.is_(None),
                        Member.status == "active",
                        Member.enterprise_id == enterprise_id,
                    )
                )
            ).scalars().unique()
        )
    if not users:
        ent = await tx.session.get(Enterprise, enterprise_id)
        if ent is not None and ent.main_admin_id:
            admin = await tx.session.get(User, ent.main_admin_id)
            if admin is not None:
                users = [admin]
    return users


async def notify_turn(
    tx: Tx, deps: Deps, contract: Contract, signer: ContractSigner, enterprise_name: str
) -> None:
    """Tell a signer whose turn has come."""
    link = contract_link(deps, contract.id)
    if signer.party == "person":
        await notify_person(
            tx, deps, phone=signer.phone, user_id=signer.user_id, event="to_sign",
            title="合同待签署",
            text=f"{enterprise_name}邀请您签署《{contract.title}》，请点击链接查看并签署：",
            link=link, dedupe_key=f"contract-turn:{signer.id}",
        )
        return
    for user in await sealer_recipients(tx, signer.enterprise_id or "", signer.seal_id):
        await notify_person(
            tx, deps, phone=user.phone, user_id=user.id, event="to_sign",
            title="合同待盖章",
            text=f"《{contract.title}》等待{enterprise_name}盖章，请点击链接处理：",
            link=link, dedupe_key=f"contract-turn:{signer.id}:{user.id}",
        )


def is_live(contract: Contract, now: datetime) -> bool:
    return contract.state == ContractState.IN_PROGRESS and (
        contract.deadline is None or contract.deadline > now
    )


def is_overdue(contract: Contract, now: datetime) -> bool:
    """In progress on paper but past its deadline: it reads as expired at once, whatever
    the expiry sweep has done yet."""
    return (contract.state == ContractState.IN_PROGRESS and contract.deadline is not None
            and contract.deadline <= now)


def effective_state(contract: Contract, now: datetime) -> ContractState:
    return ContractState.EXPIRED if is_overdue(contract, now) else ContractState(contract.state)


def live_condition(now: datetime) -> Any:
    """SQL: in progress and not past the deadline."""
    return (Contract.state == ContractState.IN_PROGRESS) & (
        Contract.deadline.is_(None) | (Contract.deadline > now))


def expired_condition(now: datetime) -> Any:
    """SQL: expired, or in progress past its deadline (not swept yet)."""
    return (Contract.state == ContractState.EXPIRED) | (
        (Contract.state == ContractState.IN_PROGRESS) & Contract.deadline.is_not(None)
        & (Contract.deadline <= now))


def state_condition(state: str, now: datetime) -> Any:
    """SQL for "reads as `state`" (in_progress and expired follow the deadline)."""
    if state == ContractState.IN_PROGRESS:
        return live_condition(now)
    if state == ContractState.EXPIRED:
        return expired_condition(now)
    return Contract.state == state


def ended_condition(now: datetime) -> Any:
    """SQL for 已作废: rejected, revoked or expired (by the deadline, too)."""
    return Contract.state.in_([ContractState.REJECTED, ContractState.REVOKED]) | \
        expired_condition(now)


def _sees(actor: roles.Actor, contract: Contract) -> bool:
    """The ledger's limits on a member who did not start the contract: only business
    types they are not limited away from, and confidential ones only for the main admin."""
    return actor.sees_type(contract.business_type_id) and (
        actor.is_main_admin or not contract.confidential)


async def may_manage(tx: Tx, user_id: str, contract: Contract) -> bool:
    """The sending side: the initiator, or an active member with contracts.send who may
    see the contract (business type, confidential)."""
    if contract.initiator_id == user_id:
        return True
    try:
        actor = await roles.actor_for(tx, user_id, contract.enterprise_id)
    except NotFound:
        return False
    return actor.can(roles.CONTRACTS_SEND) and _sees(actor, contract)


async def require_manager(tx: Tx, user_id: str, contract: Contract) -> None:
    """Urge and revoke are for the sending side; outsiders, and members the contract is
    hidden from, learn nothing (NotFound)."""
    if contract.initiator_id == user_id:
        return
    try:
        actor = await roles.require_permission(tx, user_id, contract.enterprise_id,
                                               roles.CONTRACTS_SEND)
    except NotFound:
        raise NotFound("合同不存在", code="contract_not_found") from None
    if not _sees(actor, contract):
        raise NotFound("合同不存在", code="contract_not_found")


@dataclass(frozen=True)
class Recipient:
    """One person to tell about a signer row: the person signer, or for an enterprise
    row each holder of its seal's grant (else the main admin)."""

    signer_id: str
    phone: str | None
    user_id: str | None
    sealing: bool


async def pending_recipients(
    tx: Tx, signers: list[ContractSigner], only: set[str] | None = None
) -> list[Recipient]:
    """Who must act now: the pending rows (restricted to `only` signer ids if given)."""
    out: list[Recipient] = []
    for s in signers:
        if s.state != SignerState.PENDING or (only is not None and s.id not in only):
            continue
        if s.party == "person":
            out.append(Recipient(s.id, s.phone, s.user_id, False))
            continue
        for user in await sealer_recipients(tx, s.enterprise_id or "", s.seal_id):
            out.append(Recipient(s.id, user.phone, user.id, True))
    return out


async def tell(
    tx: Tx, deps: Deps, contract: Contract, recipients: list[Recipient], *, event: str,
    title: str, text: str, seal_text: str | None = None, key: str,
) -> int:
    """One notice (WeChat template, else SMS, through the job system) per recipient,
    idempotent by `key`; `seal_text` is what the seal holders of an enterprise row read."""
    link = contract_link(deps, contract.id)
    told: set[str] = set()
    count = 0
    for r in recipients:
        who = r.user_id or r.phone or ""
        if not who or who in told or (r.phone and r.phone in told):
            continue
        told.update(x for x in (r.user_id, r.phone) if x)
        count += 1
        await notify_person(tx, deps, phone=r.phone, user_id=r.user_id, event=event,
                            title=title, text=seal_text if r.sealing and seal_text else text,
                            link=link, dedupe_key=f"{key}:{who}")
    return count
