"""Periodic work (run once across all processes by core/periodic.py): contracts past
their deadline expire (and the parties are told); pending signers get the reminders
their enterprise scheduled, and a notice the day before the deadline; short-lived rows
(rate-limit events, captchas, old SMS codes) and batch drafts nobody confirmed within a
week are removed.

Evidence is not touched: intent confirmations, audit rows and verification records
are kept (the law asks for at least two years after a contract ends).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete

from core import ratelimit
from core.context import Deps
from core.contracts import reminders
from core.contracts.ending import expire_due
from core.contracts.evidence import prune_exports
from core.enterprise.certification import cancel_attempts_on_expiry
from core.periodic import PeriodicTask
from core.templates.batch_drafts import discard_abandoned
from storage.models import CaptchaChallenge, SmsCode

log = logging.getLogger(__name__)

RATE_EVENTS_KEEP = timedelta(days=2)  # the longest window is one day
CAPTCHA_KEEP = timedelta(days=1)
SMS_CODES_KEEP = timedelta(days=30)


async def prune(deps: Deps) -> dict[str, int]:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        return {
            "rate_events": await ratelimit.prune(tx, now - RATE_EVENTS_KEEP),
            "captchas": await tx.changed(
                delete(CaptchaChallenge).where(CaptchaChallenge.expires_at < now - CAPTCHA_KEEP)),
            "sms_codes": await tx.changed(
                delete(SmsCode).where(SmsCode.expires_at < now - SMS_CODES_KEEP)),
        }


async def expire_contracts(deps: Deps) -> int:
    # In batches so one sweep never holds the write lock for long.
    expired = 0
    while (batch := await expire_due(deps)) > 0:
        expired += batch
    return expired


async def sweep(deps: Deps) -> dict[str, int]:
    """Everything at once (the demo command and tests)."""
    return {**await prune(deps), "contracts_expired": await expire_contracts(deps),
            **{f"contracts_{k}": v for k, v in (await reminders.run(deps)).items()}}


TASKS = (
    PeriodicTask("contracts.expire", timedelta(minutes=1), expire_contracts),
    # Automatic reminders and "due tomorrow" notices (core/contracts/reminders.py).
    PeriodicTask("contracts.remind", timedelta(minutes=5), reminders.run),
    PeriodicTask("housekeeping.prune", timedelta(minutes=5), prune),
    # Attempts also expire when next touched; this closes the ones nobody comes back to.
    PeriodicTask("certification.expire_attempts", timedelta(minutes=5),
                 cancel_attempts_on_expiry),
    # Batch evidence exports (.zip) are kept a week (core/contracts/evidence.py).
    PeriodicTask("evidence.prune_exports", timedelta(hours=1), prune_exports),
    # Batch drafts never confirmed are discarded after a week (core/templates/batch_drafts.py).
    PeriodicTask("batches.discard_drafts", timedelta(hours=1), discard_abandoned),
)
