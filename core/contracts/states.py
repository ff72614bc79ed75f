"""State machines of a contract and of each signer, as tables."""

from __future__ import annotations

from enum import StrEnum

from core.statemachine import StateMachine


class ContractState(StrEnum):
    DRAFT = "draft"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"
    # A paper contract archived as a scanned PDF (core/contracts/archive.py): created in
    # this state, it never moves, and nothing can sign, urge, revoke or send it.
    ARCHIVED = "archived"


CONTRACT_TRANSITIONS: dict[ContractState, frozenset[ContractState]] = {
    ContractState.DRAFT: frozenset({ContractState.IN_PROGRESS, ContractState.REVOKED}),
    ContractState.IN_PROGRESS: frozenset(
        {
            ContractState.COMPLETED,
            ContractState.REJECTED,
            ContractState.REVOKED,
            ContractState.EXPIRED,
        }
    ),
    ContractState.COMPLETED: frozenset(),
    ContractState.REJECTED: frozenset(),
    ContractState.REVOKED: frozenset(),
    ContractState.EXPIRED: frozenset(),
    ContractState.ARCHIVED: frozenset(),
}
CONTRACT = StateMachine("contract", CONTRACT_TRANSITIONS)
ENDED = frozenset(
    {ContractState.REJECTED, ContractState.REVOKED, ContractState.EXPIRED}
)
CONTRACT_LABELS = {
    ContractState.DRAFT: "草稿",
    ContractState.IN_PROGRESS: "签署中",
    ContractState.COMPLETED: "已完成",
    ContractState.REJECTED: "已拒签",
    ContractState.REVOKED: "已撤销",
    ContractState.EXPIRED: "已过期",
    ContractState.ARCHIVED: "已归档（纸质）",
}


class SignerState(StrEnum):
    WAITING = "waiting"  # an earlier signing order is not finished
    PENDING = "pending"  # may sign now
    SIGNING = "signing"  # confirmed with the SMS code; the signature is being applied
    SIGNED = "signed"
    REJECTED = "rejected"


SIGNER_TRANSITIONS: dict[SignerState, frozenset[SignerState]] = {
    SignerState.WAITING: frozenset({SignerState.PENDING}),
    SignerState.PENDING: frozenset({SignerState.SIGNING, SignerState.REJECTED}),
    # Back to pending only when the signature can never be applied (e.g. revoked cert).
    SignerState.SIGNING: frozenset({SignerState.SIGNED, SignerState.PENDING}),
    SignerState.SIGNED: frozenset(),
    SignerState.REJECTED: frozenset(),
}
SIGNER = StateMachine("signer", SIGNER_TRANSITIONS)
SIGNER_LABELS = {
    SignerState.WAITING: "等待前序签署",
    SignerState.PENDING: "待签署",
    SignerState.SIGNING: "签署处理中",
    SignerState.SIGNED: "已签署",
    SignerState.REJECTED: "已拒签",
}
# A party that had not signed when the contract ended (rejected, revoked, expired) no
# longer waits for anything: "等待前序签署" or "待签署" would contradict the contract's state.
UNSIGNED_LABEL = "未签署"


# Who may refuse to sign (拒签), chosen per contract when it is sent.
REJECT_BY = {
    "all": "所有签署方",
    "persons": "仅个人签署方",
    "enterprises": "仅企业签署方",
    "none": "不允许拒签",
}


def may_reject(reject_by: str, party: str) -> bool:
    """Whether a signer of this party ("person" or "enterprise") may refuse."""
    return (reject_by == "all"
            or (reject_by == "persons" and party == "person")
            or (reject_by == "enterprises" and party == "enterprise"))


def signer_label(signer_state: str, contract_state: str) -> str:
    """A signer's label as the contract reads now (pass its effective state, so a
    contract past its deadline counts as ended before the sweep)."""
    state = SignerState(signer_state)
    if contract_state in ENDED and state in (SignerState.WAITING, SignerState.PENDING):
        return UNSIGNED_LABEL
    return SIGNER_LABELS[state]
