"""Ports: what the core needs from the outside world. Adapters live in core/adapters/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    # Template name known to every sender: code | notice
    template: str
    params: dict[str, str]
    # The text as the user would read it (console sender and logs of the dev inbox).
    text: str


class SmsSender(Protocol):
    name: str

    async def send(self, message: SmsMessage) -> str:
        """Deliver or raise; returns the provider's message id."""
        ...


@dataclass(frozen=True)
class IdentityResult:
    # verified | failed | pending
    state: str
    provider_ref: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class FaceSession:
    provider_ref: str
    redirect_url: str


class IdentityVerifier(Protocol):
    name: str

    async def carrier3(self, name: str, id_number: str, phone: str) -> IdentityResult: ...

    async def bank4(
        self, name: str, id_number: str, phone: str, bank_card: str
    ) -> IdentityResult: ...

    async def start_face(self, name: str, id_number: str, return_url: str) -> FaceSession: ...

    async def face_result(self, provider_ref: str) -> IdentityResult: ...
