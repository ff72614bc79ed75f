"""Members, join requests, roles and business types (B3), and member hand-over.

Join request: pending → approved | rejected | revoked (applicant); after rejected or
revoked the person may apply again. A member added by phone is 未激活 (inactive) until
that phone registers: the accounts service calls `activate_invitations_for`.
Removing a member needs every item they hold (seal grants here; open contracts and, later,
templates through the hand-over providers in Deps) assigned to another active member first.

Modules: `states` (states and views), `common` (shared checks), `join_requests`,
`people` (the members themselves), `handover`, `roles` (roles and business types).
Callers use the names re-exported here.
"""

from __future__ import annotations

from core.enterprise.members.handover import (
    handover_items,
    transfer_items,
)
from core.enterprise.members.join_requests import (
    decide_join,
    list_join_requests,
    my_join_requests,
    request_join,
    revoke_join,
    search_enterprises,
)
from core.enterprise.members.people import (
    activate_invitations_for,
    add_member,
    list_members,
    my_access,
    remove_member,
    update_member,
)
from core.enterprise.members.roles import (
    add_business_type,
    delete_role,
    list_business_types,
    list_roles,
    save_role,
)
from core.enterprise.members.states import (
    JOIN_LABELS,
    JOIN_SM,
    MEMBER_LABELS,
    MEMBER_SM,
    BusinessTypeView,
    EnterpriseHit,
    HandoverItem,
    HandoverProvider,
    JoinRequestView,
    JoinState,
    MemberStatus,
    MemberView,
    MyAccess,
    RoleView,
)

__all__ = [
    "JOIN_LABELS",
    "JOIN_SM",
    "MEMBER_LABELS",
    "MEMBER_SM",
    "BusinessTypeView",
    "EnterpriseHit",
    "HandoverItem",
    "HandoverProvider",
    "JoinRequestView",
    "JoinState",
    "MemberStatus",
    "MemberView",
    "MyAccess",
    "RoleView",
    "activate_invitations_for",
    "add_business_type",
    "add_member",
    "decide_join",
    "delete_role",
    "handover_items",
    "list_business_types",
    "list_join_requests",
    "list_members",
    "list_roles",
    "my_access",
    "my_join_requests",
    "remove_member",
    "request_join",
    "revoke_join",
    "save_role",
    "search_enterprises",
    "transfer_items",
    "update_member",
]
