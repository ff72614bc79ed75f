"""Platform operators: created from the command line, checked by every operator service."""

from __future__ import annotations

from sqlalchemy import select

from core import outbox
from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import NotFound
from core.validators import normalize_phone
from storage.models import PlatformOperator, User
from storage.uow import Tx


async def create_operator(deps: Deps, phone: str) -> str:
    """Make the registered user with this phone an operator; returns the user id."""
    phone = normalize_phone(phone)
    async with deps.db.transaction() as tx:
        user = (
            await tx.session.execute(select(User).where(User.phone == phone))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("该手机号尚未注册，请先注册账号", code="user_not_found")
        if await tx.session.get(PlatformOperator, user.id) is None:
            tx.session.add(PlatformOperator(user_id=user.id, created_at=deps.clock.now()))
            await log(tx, deps, "operator.created", actor_id=None, enterprise_id=None,
                      subject_type="user", subject_id=user.id, meta=RequestMeta(ip="cli"))
        return user.id


async def is_operator(deps: Deps, user_id: str) -> bool:
    async with deps.db.transaction() as tx:
        return await R.is_operator(tx, user_id)


# -- jobs: queue depths and dead letters ---------------------------------------------


async def _require_operator(tx: Tx, user_id: str) -> None:
    if not await R.is_operator(tx, user_id):
        raise NotFound()  # the operator console's existence is not advertised


async def job_overview(deps: Deps, user_id: str
                       ) -> tuple[list[outbox.QueueStats], list[outbox.DeadLetter]]:
    async with deps.db.transaction() as tx:
        await _require_operator(tx, user_id)
    return await outbox.queue_stats(deps), await outbox.dead_letters(deps)


async def retry_job(deps: Deps, user_id: str, job_id: str, meta: RequestMeta) -> None:
    """Queue a dead letter again with a fresh set of tries."""
    async with deps.db.transaction() as tx:
        await _require_operator(tx, user_id)
        job = await outbox.retry_dead_letter(tx, job_id, deps.clock.now())
        await log(tx, deps, "job.retried", actor_id=user_id, enterprise_id=None,
                  subject_type="job", subject_id=job.id, data={"kind": job.kind}, meta=meta)
    if deps.outbox_wakeup is not None:
        deps.outbox_wakeup.wake(job.queue)


async def discard_job(deps: Deps, user_id: str, job_id: str, meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await _require_operator(tx, user_id)
        job = await outbox.discard_dead_letter(tx, job_id)
        await log(tx, deps, "job.discarded", actor_id=user_id, enterprise_id=None,
                  subject_type="job", subject_id=job.id, data={"kind": job.kind}, meta=meta)
