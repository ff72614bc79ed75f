"""Admin change (B4): the old admin hands over with an SMS code, or a person appeals.

Transfer: the main admin gets a code on their own phone, picks an active member as the
new main admin and confirms which of their items (seal grants, …) go with the role.
Appeal (申诉, also "apply to become admin" from My Enterprises): a verified person proves
control of the enterprise by one of the certification methods (purpose "appeal"); on
success they become main admin. Either way the old admin is demoted to 员工, not
removed, and the change is in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from core import sms_codes
from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import proofs
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.members import MemberStatus, transfer_items
from core.enterprise.members.handover import handover_items_of
from core.enterprise.members.join_requests import upsert_member
from core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from core.sms import queue_sms
from core.statemachine import StateMachine
from core.validators import check_sms_code_format
from storage.models import AdminChange, CertificationAttempt, Enterprise, Member, User
from storage.uow import Tx

SMS_PURPOSE = "admin_transfer"

class ChangeState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ADMIN_CHANGE_SM = StateMachine(
    "admin_change",
    {
        ChangeState.PENDING: frozenset(
            {ChangeState.DONE, ChangeState.FAILED, ChangeState.CANCELLED}
        ),
        ChangeState.DONE: frozenset(),
        ChangeState.FAILED: frozenset(),
        ChangeState.CANCELLED: frozenset(),
    },
)
LABELS = {"pending": "进行中", "done": "已完成", "failed": "未通过", "cancelled": "已取消"}


@dataclass(frozen=True)
class AdminChangeView:
    id: str
    enterprise_id: str
    enterprise_name: str
    kind: str
    state: str
    state_label: str
    from_user_id: str | None
    to_user_id: str
    created_at: datetime
    completed_at: datetime | None


def _view(c: AdminChange, ent_name: str) -> AdminChangeView:
    return AdminChangeView(c.id, c.enterprise_id, ent_name, c.kind, c.state, LABELS[c.state],
                           c.from_user_id, c.to_user_id, c.created_at, c.completed_at)


async def _switch_admin(tx: Tx, deps: Deps, ent: Enterprise, new_user: User, kind: str,
                        actor_id: str, meta: RequestMeta | None) -> str | None:
    """Make `new_user` main admin; demote the old one to 员工. Returns the old admin id."""
    now = deps.clock.now()
    old_id = ent.main_admin_id
    main_role = await R.builtin_role_id(tx, ent.id, "main_admin")
    employee_role = await R.builtin_role_id(tx, ent.id, "employee")
    new_member = await R.active_member(tx, new_user.id, ent.id)
    if new_member is None:
        new_member = await upsert_member(tx, ent.id, new_user, [main_role], [], kind, now)
    new_member.role_ids = [main_role]
    if old_id:
        old_member = await R.active_member(tx, old_id, ent.id)
        if old_member is not None:
            old_member.role_ids = [employee_role]
    ent.main_admin_id = new_user.id
    ent.updated_at = now
    await tx.session.flush()
    await log(tx, deps, "admin.changed", actor_id=actor_id, enterprise_id=ent.id,
              subject_type="enterprise", subject_id=ent.id,
              data={"kind": kind, "from_user_id": old_id, "to_user_id": new_user.id,
                    "old_admin": "demoted_to_employee"}, meta=meta)
    await queue_sms(tx, deps, new_user.phone, "notice",
                    {"text": f"您已成为“{ent.name}”的主管理员。"})
    if old_id:
        old_user = await tx.session.get(User, old_id)
        if old_user is not None:
            await queue_sms(tx, deps, old_user.phone, "notice",
                            {"text": f"“{ent.name}”的主管理员已变更，您的角色已调整为员工。"
                                     "如非本人操作，请联系平台客服。"})
    return old_id


# ---------------------------------------------------------------- transfer by the old admin


async def send_transfer_code(deps: Deps, user_id: str, enterprise_id: str,
                             meta: RequestMeta) -> str:
    """A code to the main admin's own phone; returns the masked phone."""
    try:
        async with deps.db.transaction() as tx:
            await R.require_main_admin(tx, user_id, enterprise_id)
            user = await tx.session.get(User, user_id)
            assert user is not None
            await proofs.check_start(tx, deps, proofs.ADMIN_TRANSFER_CODE, enterprise_id,
                                     user_id)
            await sms_codes.check_send_limits(tx, deps, user.phone, meta)
            await sms_codes.issue_code(tx, deps, user.phone, SMS_PURPOSE, meta)
            return mask_phone(user.phone)
    except RateLimited as err:
        if err.code != "rate_limited":  # the SMS send limits are the phone's, not ours
            await proofs.refused(deps, proofs.ADMIN_TRANSFER_CODE, enterprise_id, user_id,
                                 err, meta)
        raise


async def transfer_admin(
    deps: Deps, user_id: str, enterprise_id: str, *, code: str, new_member_id: str,
    handover_keys: Sequence[str], meta: RequestMeta,
) -> AdminChangeView:
    code = check_sms_code_format(code)
    try:
        return await _transfer_admin(deps, user_id, enterprise_id, code=code,
                                     new_member_id=new_member_id,
                                     handover_keys=handover_keys, meta=meta)
    except RateLimited as err:
        await proofs.refused(deps, proofs.ADMIN_TRANSFER_CODE, enterprise_id, user_id, err,
                             meta)
        raise


async def _transfer_admin(
    deps: Deps, user_id: str, enterprise_id: str, *, code: str, new_member_id: str,
    handover_keys: Sequence[str], meta: RequestMeta,
) -> AdminChangeView:
    error: DomainError | None = None
    view: AdminChangeView | None = None
    rule = proofs.ADMIN_TRANSFER_CODE
    async with deps.db.transaction() as tx:
        await R.require_main_admin(tx, user_id, enterprise_id)
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        if ent.state != "certified":
            raise Conflict("企业认证完成后才能更换管理员", code="not_certified")
        target = (
            await tx.session.execute(
                select(Member).where(Member.id == new_member_id,
                                     Member.enterprise_id == enterprise_id)
            )
        ).scalar_one_or_none()
        if target is None or target.status != MemberStatus.ACTIVE or target.user_id is None:
            raise InvalidInput("请选择已激活的成员作为新管理员", code="invalid_new_admin",
                               field="new_member_id")
        if target.user_id == user_id:
            raise InvalidInput("新管理员不能是您自己", code="invalid_new_admin",
                               field="new_member_id")
        new_user = await tx.session.get(User, target.user_id)
        assert new_user is not None
        if new_user.identity_state != "verified":
            raise InvalidInput("新管理员须先完成个人实名认证", code="new_admin_unverified",
                               field="new_member_id")
        me = await tx.session.get(User, user_id)
        assert me is not None
        await proofs.check_answer(tx, deps, rule, enterprise_id, user_id)
        check = await sms_codes.verify(tx, deps, me.phone, SMS_PURPOSE, code)
        if not check.ok:
            error = check.error
            if check.row is not None:  # a live code was guessed wrong
                await proofs.wrong_answer(tx, deps, rule, enterprise_id, user_id,
                                          used_up=check.row.used_at is not None,
                                          subject=("enterprise", enterprise_id), meta=meta)
        else:
            await sms_codes.consume(tx, deps, check)
            old_member = await R.active_member(tx, user_id, enterprise_id)
            assert old_member is not None
            held = await handover_items_of(tx, deps, enterprise_id, old_member)
            available = {i.key for i in held}
            chosen = [k for k in dict.fromkeys(handover_keys) if k in available]
            await transfer_items(tx, deps, user_id, enterprise_id, old_member,
                                 {k: target.id for k in chosen}, meta)
            change = AdminChange(enterprise_id=enterprise_id, kind="transfer",
                                 from_user_id=user_id, to_user_id=new_user.id, state="done",
                                 handover={"items": chosen}, created_at=deps.clock.now(),
                                 completed_at=deps.clock.now())
            tx.session.add(change)
            await tx.session.flush()
            await _switch_admin(tx, deps, ent, new_user, "transfer", user_id, meta)
            view = _view(change, ent.name)
    if error is not None:
        raise error
    assert view is not None
    return view


# ---------------------------------------------------------------- appeal


async def start_appeal(deps: Deps, user_id: str, enterprise_id: str,
                       meta: RequestMeta) -> AdminChangeView:
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None or user.identity_state != "verified":
            raise PermissionDenied("请先完成个人实名认证", code="identity_required")
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        if ent.state != "certified":
            raise NotFound("企业不存在", code="enterprise_not_found")
        if ent.main_admin_id == user_id:
            raise Conflict("您已是该企业的主管理员", code="already_admin")
        now = deps.clock.now()
        for old in (
            await tx.session.execute(
                select(AdminChange).where(AdminChange.enterprise_id == enterprise_id,
                                          AdminChange.to_user_id == user_id,
                                          AdminChange.state == "pending")
            )
        ).scalars().all():
            ADMIN_CHANGE_SM.ensure(old.state, ChangeState.CANCELLED)
            old.state, old.completed_at = ChangeState.CANCELLED, now
        change = AdminChange(enterprise_id=enterprise_id, kind="appeal",
                             from_user_id=ent.main_admin_id, to_user_id=user_id,
                             state="pending", handover={}, created_at=now)
        tx.session.add(change)
        await tx.session.flush()
        await log(tx, deps, "admin.appeal_started", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="admin_change",
                  subject_id=change.id, meta=meta)
        return _view(change, ent.name)


async def _pending_appeal(tx: Tx, enterprise_id: str, user_id: str) -> AdminChange | None:
    return (
        await tx.session.execute(
            select(AdminChange).where(AdminChange.enterprise_id == enterprise_id,
                                      AdminChange.to_user_id == user_id,
                                      AdminChange.kind == "appeal",
                                      AdminChange.state == "pending")
            .order_by(AdminChange.created_at.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def open_appeal_for(tx: Tx, deps: Deps, user_id: str, enterprise_id: str) -> Enterprise:
    """Used by the certification methods: the user must have a pending appeal."""
    if await _pending_appeal(tx, enterprise_id, user_id) is None:
        raise NotFound("没有进行中的管理员申诉", code="appeal_not_found")
    ent = await R.load_enterprise(tx, enterprise_id, lock=True)
    if ent.state != "certified":
        raise Conflict("企业当前不能申诉", code="not_certified")
    return ent


async def complete_appeal(tx: Tx, deps: Deps, ent: Enterprise, attempt: CertificationAttempt,
                          meta: RequestMeta | None) -> None:
    change = await _pending_appeal(tx, ent.id, attempt.applicant_id)
    if change is None:
        return
    new_user = await tx.session.get(User, attempt.applicant_id)
    assert new_user is not None
    ADMIN_CHANGE_SM.ensure(change.state, ChangeState.DONE)
    change.state, change.completed_at = ChangeState.DONE, deps.clock.now()
    change.attempt_id = attempt.id
    change.from_user_id = ent.main_admin_id
    await _switch_admin(tx, deps, ent, new_user, "appeal", attempt.applicant_id, meta)


async def fail_appeal(tx: Tx, deps: Deps, attempt: CertificationAttempt, reason: str) -> None:
    """A failed method leaves the appeal open: the person may try another method."""
    await log(tx, deps, "admin.appeal_method_failed", actor_id=attempt.reviewed_by,
              enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
              subject_id=attempt.id, data={"reason": reason})


async def my_appeals(deps: Deps, user_id: str) -> list[AdminChangeView]:
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(AdminChange, Enterprise.name)
                .join(Enterprise, Enterprise.id == AdminChange.enterprise_id)
                .where(AdminChange.to_user_id == user_id, AdminChange.kind == "appeal")
                .order_by(AdminChange.created_at.desc()).limit(20)
            )
        ).all()
    return [_view(c, name) for c, name in rows]


async def get_appeal(deps: Deps, user_id: str, change_id: str) -> AdminChangeView:
    async with deps.db.sessions() as session:
        row = (
            await session.execute(
                select(AdminChange, Enterprise.name)
                .join(Enterprise, Enterprise.id == AdminChange.enterprise_id)
                .where(AdminChange.id == change_id, AdminChange.to_user_id == user_id)
            )
        ).first()
    if row is None:
        raise NotFound("申诉不存在", code="appeal_not_found")
    return _view(row[0], row[1])


async def admin_changes(deps: Deps, operator_id: str, limit: int = 50) -> list[AdminChangeView]:
    """Operator: recent admin changes across enterprises."""
    async with deps.db.transaction() as tx:
        await R.require_operator(tx, operator_id)
        rows = (
            await tx.session.execute(
                select(AdminChange, Enterprise.name)
                .join(Enterprise, Enterprise.id == AdminChange.enterprise_id)
                .order_by(AdminChange.created_at.desc()).limit(limit)
            )
        ).all()
        return [_view(c, name) for c, name in rows]
