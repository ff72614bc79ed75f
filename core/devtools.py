"""Read-only views for the dev pages (dev mode only): the console SMS inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.context import Deps
from storage.models import CaptchaChallenge, ConsoleSms


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
