"""Automatic reminders and deadline notices (PRODUCT C4, D3).

An enterprise sets its schedule in the console settings: the first reminder N days after
sending, then every M days, at most K times, never at or after the deadline. Each
contract keeps its own `next_reminder_at` (set when it is sent, recomputed when the
schedule changes) and `due_notice_at` (a day before the deadline); the periodic task
`contracts.remind` (core/housekeeping.py, run once across processes by
core/periodic.py) sends what is due. Rows are taken with SKIP LOCKED and moved forward
in the same transaction, and every notice carries an idempotency key naming the
contract and the reminder's number, so each reminder goes out once even if two workers
ever ran the sweep at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core import audit
from core.clock import LOCAL_ZONE
from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.states import ContractState
from core.enterprise import roles
from core.errors import InvalidInput
from storage.models import Contract, Enterprise, User

FIRST_DAYS = (1, 30)
EVERY_DAYS = (1, 30)
MAX_TIMES = (1, 10)
DUE_NOTICE_BEFORE = timedelta(days=1)
BATCH = 100


@dataclass(frozen=True)
class ReminderSchedule:
    enabled: bool
    first_days: int
    every_days: int
    max_times: int

    @property
    def summary(self) -> str:
        if not self.enabled:
            return "未开启自动提醒"
        return (f"发起 {self.first_days} 天后首次提醒，之后每 {self.every_days} 天提醒一次，"
                f"最多 {self.max_times} 次，截止时间后不再提醒")


# What the settings form shows before an enterprise chose (the example of PRODUCT C4).
SUGGESTED = ReminderSchedule(False, 3, 2, 5)


def schedule_of(ent: Enterprise) -> ReminderSchedule:
    if ent.reminder_first_days is None:
        return ReminderSchedule(False, SUGGESTED.first_days,
                                ent.reminder_every_days or SUGGESTED.every_days,
                                ent.reminder_max or SUGGESTED.max_times)
    return ReminderSchedule(True, ent.reminder_first_days,
                            ent.reminder_every_days or SUGGESTED.every_days,
                            ent.reminder_max or SUGGESTED.max_times)


def _bounded(value: int | None, bounds: tuple[int, int], field: str, label: str) -> int:
    lo, hi = bounds
    if value is None or not lo <= value <= hi:
        raise InvalidInput(f"{label}须为 {lo}–{hi} 之间的整数", code="invalid_reminder",
                           field=field)
    return value


def reminder_due(contract: Contract, schedule: ReminderSchedule) -> datetime | None:
    """When the contract's next reminder is due by the schedule, or None: off, all sent,
    or it would fall at or after the deadline."""
    if not schedule.enabled or contract.sent_at is None \
            or contract.reminders_sent >= schedule.max_times:
        return None
    at = contract.sent_at + timedelta(
        days=schedule.first_days + schedule.every_days * contract.reminders_sent)
    if contract.deadline is not None and at >= contract.deadline:
        return None
    return at


def due_notice_at(contract: Contract) -> datetime | None:
    """A day before the deadline, when the contract runs longer than that."""
    if contract.deadline is None or contract.sent_at is None:
        return None
    at = contract.deadline - DUE_NOTICE_BEFORE
    return at if at > contract.sent_at else None


def on_send(contract: Contract, ent: Enterprise) -> None:
    """Called as the contract is sent (core/contracts/send.py)."""
    contract.reminders_sent = 0
    contract.next_reminder_at = reminder_due(contract, schedule_of(ent))
    contract.due_notice_at = due_notice_at(contract)


async def reminder_schedule(deps: Deps, user_id: str, enterprise_id: str) -> ReminderSchedule:
    async with deps.db.transaction() as tx:
        await roles.actor_for(tx, user_id, enterprise_id)
        ent = await roles.load_enterprise(tx, enterprise_id)
        return schedule_of(ent)


async def set_reminder_schedule(
    deps: Deps, user_id: str, enterprise_id: str, *, enabled: bool, first_days: int | None,
    every_days: int | None, max_times: int | None, meta: RequestMeta,
) -> ReminderSchedule:
    """A member who may send contracts sets the schedule; contracts in progress follow
    it from now on (their next reminder is recomputed, the count so far is kept)."""
    if enabled:
        first = _bounded(first_days, FIRST_DAYS, "first_days", "首次提醒天数")
        every = _bounded(every_days, EVERY_DAYS, "every_days", "提醒间隔天数")
        most = _bounded(max_times, MAX_TIMES, "max_times", "最多提醒次数")
    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_SEND)
        ent = await roles.load_enterprise(tx, enterprise_id, lock=True)
        if enabled:
            ent.reminder_first_days, ent.reminder_every_days, ent.reminder_max = (
                first, every, most)
        else:
            ent.reminder_first_days = None
        schedule = schedule_of(ent)
        live = (await tx.session.execute(
            select(Contract).where(Contract.enterprise_id == enterprise_id,
                                   Contract.state == ContractState.IN_PROGRESS)
            .with_for_update())).scalars()
        for contract in live:
            contract.next_reminder_at = reminder_due(contract, schedule)
        await audit.record(
            tx, at=deps.clock.now(), action="contracts.reminders_set", actor_id=user_id,
            tenant_id=enterprise_id, subject_type="enterprise", subject_id=enterprise_id,
            data={"schedule": schedule.summary}, meta=meta)
        return schedule


async def send_due_reminders(deps: Deps, limit: int = BATCH) -> tuple[int, int]:
    """One batch of contracts whose reminder is due: (rows looked at, reminded)."""
    now = deps.clock.now()
    reminded = 0
    async with deps.db.transaction() as tx:
        rows = list((await tx.session.execute(
            select(Contract).where(Contract.state == ContractState.IN_PROGRESS,
                                   Contract.next_reminder_at <= now)
            .order_by(Contract.next_reminder_at).limit(limit)
            .with_for_update(skip_locked=True))).scalars())
        for contract in rows:
            ent = await tx.session.get(Enterprise, contract.enterprise_id)
            schedule = schedule_of(ent) if ent is not None else SUGGESTED
            due = reminder_due(contract, schedule)
            if due is None or common.is_overdue(contract, now):
                contract.next_reminder_at = None
                continue
            if due > now:  # the schedule changed since it was stored
                contract.next_reminder_at = due
                continue
            number = contract.reminders_sent + 1
            signers = await common.signers_of(tx, contract.id)
            recipients = await common.pending_recipients(tx, signers)
            name = ent.name if ent else ""
            told = await common.tell(
                tx, deps, contract, recipients, event="urged", title="合同签署提醒",
                text=f"{name}的《{contract.title}》还在等您签署"
                     f"{_deadline_words(contract)}，请点击链接查看并签署：",
                seal_text=f"《{contract.title}》还在等待{name}盖章"
                          f"{_deadline_words(contract)}，请点击链接处理：",
                key=f"contract-remind:{contract.id}:{number}")
            contract.reminders_sent = number
            following = reminder_due(contract, schedule)
            if following is not None and following <= now:
                # The sweep was away for a while: one reminder now, the next a period on.
                following = now + timedelta(days=schedule.every_days)
                if contract.deadline is not None and following >= contract.deadline:
                    following = None
            contract.next_reminder_at = following
            await common.log(tx, deps, "contract.reminded", contract, actor_id=None,
                             data={"number": number, "recipients": told})
            reminded += 1
    return len(rows), reminded


def _deadline_words(contract: Contract) -> str:
    if contract.deadline is None:
        return ""
    return f"（截止 {contract.deadline.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}）"


async def send_due_notices(deps: Deps, limit: int = BATCH) -> tuple[int, int]:
    """One batch of "due tomorrow" notices to the sender and the pending signers:
    (rows looked at, notices sent)."""
    now = deps.clock.now()
    sent = 0
    async with deps.db.transaction() as tx:
        rows = list((await tx.session.execute(
            select(Contract).where(Contract.state == ContractState.IN_PROGRESS,
                                   Contract.due_notice_at <= now)
            .order_by(Contract.due_notice_at).limit(limit)
            .with_for_update(skip_locked=True))).scalars())
        for contract in rows:
            contract.due_notice_at = None
            if not common.is_live(contract, now):
                continue
            signers = await common.signers_of(tx, contract.id)
            pending = await common.pending_recipients(tx, signers)
            ent = await tx.session.get(Enterprise, contract.enterprise_id)
            name = ent.name if ent else ""
            when = _deadline_words(contract)
            await common.tell(
                tx, deps, contract, pending, event="urged", title="合同即将截止",
                text=f"{name}的《{contract.title}》即将截止签署{when}，请尽快签署：",
                seal_text=f"《{contract.title}》即将截止{when}，仍待{name}盖章，请尽快处理：",
                key=f"contract-due:{contract.id}")
            initiator = await tx.session.get(User, contract.initiator_id)
            if initiator is not None:
                waiting = "、".join(dict.fromkeys(
                    s.name for s in signers if s.state in ("pending", "waiting")))
                await common.tell(
                    tx, deps, contract,
                    [common.Recipient("initiator", initiator.phone, initiator.id, False)],
                    event="review_result", title="合同即将截止",
                    text=f"您发起的《{contract.title}》即将截止{when}，尚未签署：{waiting}。",
                    key=f"contract-due-sender:{contract.id}")
            await common.log(tx, deps, "contract.due_notice", contract, actor_id=None)
            sent += 1
    return len(rows), sent


async def run(deps: Deps) -> dict[str, int]:
    """The periodic task: every due reminder and notice, in batches."""
    out = {"reminders": 0, "due_notices": 0}
    for key, batch in (("reminders", send_due_reminders), ("due_notices", send_due_notices)):
        while True:
            seen, done = await batch(deps, BATCH)
            out[key] += done
            if seen < BATCH:
                break
    return out
