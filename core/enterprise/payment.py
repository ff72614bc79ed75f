"""The PaymentGateway port: pays a small amount into an enterprise's corporate account.

Used by micro-deposit certification. The dev adapter (core/adapters/payment_dev.py)
records the transfer in a table shown on /dev/payments; a production adapter calls the
bank's or payment provider's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from core.context import Deps
from core.errors import ProviderUnavailable
from storage.models import DevBankTransfer


@dataclass(frozen=True)
class Transfer:
    account_name: str
    account_number: str
    bank_name: str
    amount_cents: int
    # Our reference (the certification attempt id), shown on the bank statement.
    reference: str


class PaymentGateway(Protocol):
    name: str

    async def transfer(self, transfer: Transfer) -> str:
        """Send the money or raise; returns the provider's transfer id."""
        ...


def payment_gateway(deps: Deps) -> PaymentGateway:
    gateway = deps.payment
    if gateway is None:
        raise ProviderUnavailable("对公打款服务未配置", code="payment_unavailable")
    return gateway


@dataclass(frozen=True)
class DevTransferView:
    id: str
    account_name: str
    account_masked: str
    bank_name: str
    amount: str
    reference: str
    created_at: datetime


async def dev_transfers(deps: Deps, limit: int = 50) -> list[DevTransferView]:
    """What the dev gateway paid (dev mode page /dev/payments): the 'bank statement'."""
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(DevBankTransfer).order_by(DevBankTransfer.created_at.desc(),
                                                 DevBankTransfer.id).limit(limit)
            )
        ).scalars().all()
    return [DevTransferView(r.id, r.account_name, r.account_masked, r.bank_name,
                            f"{r.amount_cents / 100:.2f}", r.reference, r.created_at)
            for r in rows]
