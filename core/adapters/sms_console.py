"""Development SMS sender: 'sends' by writing the message where the dev inbox reads it.

A real code path behind the SmsSender port: the message goes through the outbox and
the worker exactly as with a production provider.
"""

from __future__ import annotations

import logging

from core.clock import Clock
from core.crypto import mask_phone
from core.devtools import SmsArrivals
from core.ports import SmsMessage
from storage.models import ConsoleSms
from storage.uow import Database

log = logging.getLogger("laborsign.sms.console")


class ConsoleSmsSender:
    name = "console"

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # The dev inbox's long poll waits on these (core.devtools.wait_for_sms).
        self.arrivals = SmsArrivals()

    async def send(self, message: SmsMessage) -> str:
        row = ConsoleSms(
            phone=message.phone,
            template=message.template,
            text=message.text,
            params=message.params,
            sent_at=self.clock.now(),
        )
        async with self.db.transaction() as tx:
            tx.session.add(row)
            tx.after_commit(lambda: self.arrivals.arrived(message.phone))
        log.info("console sms", extra={"phone": mask_phone(message.phone), "sms_id": row.id})
        return row.id
