"""What every service receives: the database, the clock, the config and the ports.

Built once by the composition root (handlers/app.py) and by the test fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.clock import Clock
from core.config import Config
from core.ports import (
    DocumentConverter,
    FileStore,
    IdentityVerifier,
    Notifier,
    SmsSender,
    WechatApi,
)
from storage.uow import Database

if TYPE_CHECKING:  # types only: these modules themselves take Deps
    from core.crypto import FieldCipher
    from core.enterprise.members import HandoverProvider
    from core.enterprise.payment import PaymentGateway
    from core.integration.ports import WebhookSender
    from core.outbox import Wakeups
    from core.signing.ports import TimeStamperSpec
    from core.signing.service import SigningEngine


@dataclass(frozen=True)
class RequestMeta:
    """Who asked and from where: recorded in audit rows and evidence."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Deps:
    """Every port, typed, built in one place: handlers/app.py `build_deps` (the web
    server, the CLI and the tests all go through it)."""

    config: Config
    db: Database
    clock: Clock
    sms: SmsSender
    identity: IdentityVerifier
    signing: SigningEngine
    wechat_api: WechatApi
    # Uploaded and generated files: local disk or S3-compatible object storage.
    files: FileStore
    field_cipher: FieldCipher
    # None: WeChat template messages (core/wechat/notify.py), with SMS as the fallback.
    notifier: Notifier | None = None
    # None: micro-deposit certification is not offered.
    payment: PaymentGateway | None = None
    # None: the TSA named by the config ([signing] tsa_url, or this server's /tsa).
    timestamper: TimeStamperSpec | None = None
    # What members hold besides seal grants, offered for hand-over before removal.
    handover: tuple[HandoverProvider, ...] = ()
    # Outbound webhook deliveries (core/integration/webhooks.py); None: none are sent.
    webhook_sender: WebhookSender | None = None
    # Word (.docx) templates to PDF; None: not installed here, only PDF templates.
    converter: DocumentConverter | None = None
    # Set by the job runner so services can wake it after commit.
    outbox_wakeup: Wakeups | None = None
    caches: ProcessCaches = field(default_factory=lambda: ProcessCaches())


@dataclass
class ProcessCaches:
    """What a process keeps between requests."""

    # Our CA chain and CRLs to embed in signatures ("validation") and the platform's
    # signing material for evidence reports ("platform"), each with when it was built
    # (time.monotonic()); core/contracts/engine.py builds them again once a minute.
    minute: dict[str, tuple[float, object]] = field(default_factory=dict)
