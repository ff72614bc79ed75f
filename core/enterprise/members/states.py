"""Member and join-request states, and what pages and the API see of members, roles,
business types, join requests and hand-over items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.context import Deps
from core.statemachine import StateMachine
from storage.models import (
    Member,
)
from storage.uow import Tx


class JoinState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


JOIN_SM = StateMachine(
    "join_request",
    {
        JoinState.PENDING: frozenset({JoinState.APPROVED, JoinState.REJECTED,
                                      JoinState.REVOKED}),
        JoinState.APPROVED: frozenset(),
        JoinState.REJECTED: frozenset(),
        JoinState.REVOKED: frozenset(),
    },
)
JOIN_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回",
               "revoked": "已撤销"}


class MemberStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    REMOVED = "removed"


MEMBER_SM = StateMachine(
    "member",
    {
        MemberStatus.INACTIVE: frozenset({MemberStatus.ACTIVE, MemberStatus.REMOVED}),
        MemberStatus.ACTIVE: frozenset({MemberStatus.REMOVED}),
        MemberStatus.REMOVED: frozenset({MemberStatus.ACTIVE, MemberStatus.INACTIVE}),
    },
)
MEMBER_LABELS = {"inactive": "未激活", "active": "已激活", "removed": "已移除"}


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class MemberView:
    id: str
    user_id: str | None
    display_name: str
    phone_masked: str
    status: str
    status_label: str
    role_ids: tuple[str, ...]
    role_names: tuple[str, ...]
    business_type_ids: tuple[str, ...]
    is_main_admin: bool
    source: str
    created_at: datetime


@dataclass(frozen=True)
class RoleView:
    id: str
    name: str
    builtin: str | None
    permissions: tuple[str, ...]
    member_count: int


@dataclass(frozen=True)
class BusinessTypeView:
    id: str
    name: str


@dataclass(frozen=True)
class JoinRequestView:
    id: str
    enterprise_id: str
    enterprise_name: str
    user_id: str
    applicant_name: str | None
    applicant_phone_masked: str
    reason: str
    state: str
    state_label: str
    reject_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class MyAccess:
    """What the signed-in member may do here: decides which console pages are offered."""

    permissions: frozenset[str]
    is_main_admin: bool
    enterprise_name: str
    enterprise_state: str

    def can(self, perm: str) -> bool:
        return perm in self.permissions


@dataclass(frozen=True)
class EnterpriseHit:
    id: str
    name: str
    credit_code_masked: str


@dataclass(frozen=True)
class HandoverItem:
    """Something a member holds that must go to someone else before removal."""

    key: str  # "<kind>:<id>", unique per member
    kind: str
    label: str


# Other features register what members hold (templates, contracts):
#   list_items(tx, enterprise_id, member) -> list[HandoverItem]
#   transfer(tx, deps, enterprise_id, item_key, from_member, to_member, actor_id) -> None
@dataclass(frozen=True)
class HandoverProvider:
    kind: str
    list_items: Callable[[Tx, str, Member], Awaitable[list[HandoverItem]]]
    transfer: Callable[[Tx, Deps, str, str, Member, Member, str], Awaitable[None]]
