"""What every service receives: the database, the clock, the config and the ports.

Built once by the composition root (handlers/app.py) and by the test fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock
from core.config import Config
from core.ports import FileStore, IdentityVerifier, SmsSender
from storage.uow import Database


@dataclass(frozen=True)
class RequestMeta:
    """Who asked and from where: recorded in audit rows and evidence."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Deps:
    config: Config
    db: Database
    clock: Clock
    sms: SmsSender
    identity: IdentityVerifier
    # Uploaded and generated files: local disk or S3-compatible object storage.
    files: FileStore
    # Adapters added by later features (CA, TSA, notifier, payment...) by name.
    extra: dict[str, Any] = field(default_factory=dict)
    # Set by the outbox worker so services can wake it after commit.
    outbox_wakeup: Any = None
