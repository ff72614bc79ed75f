"""Read-only views for the dev pages (dev mode only): the console SMS inbox."""

from __future__ import annotations

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


async def sms_inbox(deps: Deps, phone: str | None = None, limit: int = 50) -> list[InboxMessage]:
    query = select(ConsoleSms).order_by(ConsoleSms.sent_at.desc(), ConsoleSms.id).limit(limit)
    if phone:
        query = query.where(ConsoleSms.phone == phone)
    async with deps.db.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        InboxMessage(
            r.id, r.phone, r.template, r.text, r.params.get("code") if r.params else None,
            r.sent_at,
        )
        for r in rows
    ]




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
