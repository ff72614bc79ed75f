"""Read-only views for the dev pages (dev mode only): the console SMS inbox."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.context import Deps

if TYPE_CHECKING:
    from core.enterprise.onboarding_qr import Poster
from storage.models import CaptchaChallenge, ConsoleSms, Enterprise


@dataclass(frozen=True)
class InboxMessage:
    id: str
    phone: str
    template: str
    text: str
    code: str | None
    sent_at: datetime


async def sms_inbox(deps: Deps, phone: str | None = None, limit: int = 50,
                    template: str | None = None) -> list[InboxMessage]:
    query = select(ConsoleSms).order_by(ConsoleSms.sent_at.desc(), ConsoleSms.id).limit(limit)
    if phone:
        query = query.where(ConsoleSms.phone == phone)
    if template:
        query = query.where(ConsoleSms.template == template)
    async with deps.db.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        InboxMessage(
            r.id, r.phone, r.template, r.text, r.params.get("code") if r.params else None,
            r.sent_at,
        )
        for r in rows
    ]



class SmsArrivals:
    """Wakes whoever waits for a phone's next console SMS (`wait_for_sms`) in this
    process; the console sender calls `arrived` after its row is committed."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}

    def arrived(self, phone: str) -> None:
        for waiter in self._waiting.pop(phone, ()):
            if not waiter.done():
                waiter.set_result(None)

    def waiter(self, phone: str) -> asyncio.Future[None]:
        """A future set by the phone's next message. Made before looking at the inbox, so
        a message that lands between the look and the wait is not missed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(phone, []).append(waiter)
        return waiter

    def forget(self, phone: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiting.get(phone)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiting[phone]


MAX_WAIT_SECONDS = 10.0
# Look again this often even without a wake-up: on PostgreSQL another process (a job
# worker) may have written the message; in one process the sender's wake-up comes first.
RECHECK_SECONDS = {"sqlite": 1.0}
DEFAULT_RECHECK_SECONDS = 0.25


async def wait_for_sms(
    deps: Deps, arrivals: SmsArrivals | None, phone: str, after: str | None, wait: float,
    template: str | None = None,
) -> list[InboxMessage]:
    """The phone's newest message (of `template`, if given) once it is not `after` (an
    earlier message's id), waiting up to `wait` seconds for it (the dev inbox's long poll:
    a load test or a script reads its code with one request instead of polling). [] when
    none arrived in time."""
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
    recheck = RECHECK_SECONDS.get(deps.db.dialect, DEFAULT_RECHECK_SECONDS)
    while True:
        waiter = arrivals.waiter(phone) if arrivals is not None else None
        try:
            newest = await sms_inbox(deps, phone, limit=1, template=template)
            if newest and newest[0].id != after:
                return newest
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            if waiter is None:
                await asyncio.sleep(min(left, recheck))
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, recheck)):
                        await waiter
        finally:
            if waiter is not None and arrivals is not None:
                arrivals.forget(phone, waiter)


async def captcha_answer(deps: Deps, challenge_id: str) -> str | None:
    """The answer of a captcha made in dev mode (None for production-made ones)."""
    async with deps.db.sessions() as session:
        row = await session.get(CaptchaChallenge, challenge_id[:40])
    return row.dev_answer if row is not None else None


async def dev_onboarding_poster(deps: Deps) -> Poster | None:
    """For the WeChat simulator: the onboarding poster of the most recently certified
    enterprise, as its main admin would get it (None when no enterprise is certified)."""
    from core.enterprise.onboarding_qr import onboarding_poster

    async with deps.db.sessions() as session:
        ent = (
            await session.execute(
                select(Enterprise)
                .where(Enterprise.state == "certified", Enterprise.main_admin_id.is_not(None))
                .order_by(Enterprise.certified_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if ent is None or ent.main_admin_id is None:
        return None
    return await onboarding_poster(deps, ent.main_admin_id, ent.id)
