"""Development payment gateway: 'pays' by recording the transfer for /dev/payments."""

from __future__ import annotations

import logging

from core.clock import Clock
from core.crypto import mask_bank_card
from core.enterprise.payment import Transfer
from storage.models import DevBankTransfer
from storage.uow import Database

log = logging.getLogger("laborsign.payment.dev")


class DevPaymentGateway:
    name = "dev"

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def transfer(self, transfer: Transfer) -> str:
        row = DevBankTransfer(
            account_name=transfer.account_name,
            account_masked=mask_bank_card(transfer.account_number),
            bank_name=transfer.bank_name,
            amount_cents=transfer.amount_cents,
            reference=transfer.reference,
            created_at=self.clock.now(),
        )
        async with self.db.transaction() as tx:
            tx.session.add(row)
        log.info("dev transfer", extra={"transfer_id": row.id, "reference": transfer.reference})
        return row.id
