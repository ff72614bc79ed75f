"""Composition root: config → engine → adapters → services → routes → workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from bot.webhook import install as install_wechat
from core import housekeeping, periodic
from core.adapters.webhook_http import HttpWebhookSender
from core.clock import Clock, SystemClock
from core.config import Config, ensure_secrets, resolve_path
from core.context import Deps
from core.contracts import evidence
from core.contracts import handover as contract_handover
from core.contracts.signing import SIGN_JOB_KIND, deliver_sign_job
from core.crypto import FieldCipher
from core.enterprise import pki
from core.enterprise.payment import PaymentGateway
from core.integration import webhooks
from core.integration.events import DELIVER_KIND as WEBHOOK_KIND
from core.integration.webhooks import deliver_webhook
from core.outbox import Deliverer, OutboxWorker
from core.periodic import PeriodicTask
from core.ports import DocumentConverter, FileStore, IdentityVerifier, SmsSender, WechatApi
from core.signing.service import (
    PERSON_CERT_KIND,
    SigningEngine,
    build_engine,
    deliver_person_certificate,
)
from core.sms import SMS_KIND, deliver_sms
from core.templates import batch as template_batch
from core.templates import onboarding as template_onboarding
from core.wechat.notify import (
    CUSTOM_KIND,
    NOTIFY_KIND,
    deliver_custom_text,
    deliver_notification,
)
from handlers import ca as ca_routes
from handlers import (
    console,
    dev,
    dev_identity,
    dev_wechat,
    favicon,
    h5,
    health,
)
from handlers import operator as operator_routes
from handlers import tsa as tsa_routes
from handlers import wechat as wechat_pages
from handlers.api import install_api
from handlers.keys import DEPS, OUTBOX, TEMPLATES
from handlers.middleware import browser_middleware, error_middleware
from handlers.render import H5_DIR, build_environment
from storage.db import create_engine
from storage.files import LocalFileStore
from storage.uow import Database


def build_sms(config: Config, db: Database, clock: Clock) -> SmsSender:
    if config.sms.provider == "console":
        from core.adapters.sms_console import ConsoleSmsSender

        return ConsoleSmsSender(db, clock)
    if config.sms.provider == "tencent":
        from core.adapters.sms_tencent import TencentSmsSender

        return TencentSmsSender(config.sms)
    raise ValueError(f"unknown sms provider {config.sms.provider!r}")


def build_identity(config: Config) -> IdentityVerifier:
    if config.identity.provider == "dev":
        from core.adapters.identity_dev import DevIdentityVerifier

        return DevIdentityVerifier(config.identity.dev_url or config.server.base_url)
    if config.identity.provider == "tencent":
        from core.adapters.identity_tencent import TencentFaceIdVerifier

        return TencentFaceIdVerifier(config.identity)
    raise ValueError(f"unknown identity provider {config.identity.provider!r}")


def build_wechat_api(config: Config, db: Database, clock: Clock) -> WechatApi:
    if config.wechat.client == "console":
        from core.adapters.wechat_api import ConsoleWechatApi

        return ConsoleWechatApi(config, db, clock)
    if config.wechat.client == "http":
        from core.adapters.wechat_api import HttpWechatApi

        return HttpWechatApi(config)
    raise ValueError(f"unknown wechat client {config.wechat.client!r}")


def build_signing(config: Config) -> SigningEngine:
    """The local CA with signer keys in the database (KEK-wrapped) or a PKCS#11 token."""
    if config.signing.key_store == "db":
        return build_engine(config)
    if config.signing.key_store == "pkcs11":
        from core.adapters.pkcs11_keys import Pkcs11KeyStore

        store = Pkcs11KeyStore(
            config.signing.pkcs11_lib,
            config.signing.pkcs11_token_label,
            config.signing.pkcs11_pin,
        )
        return build_engine(config, key_store=store)
    raise ValueError(f"unknown key store {config.signing.key_store!r}")


def build_files(config: Config) -> FileStore:
    """The one place a file store is made: local disk, or an S3-compatible bucket."""
    if config.storage.backend == "local":
        return LocalFileStore(resolve_path(config.storage.file_dir))
    if config.storage.backend == "s3":
        from core.adapters.files_s3 import S3FileStore

        return S3FileStore(config.storage)
    raise ValueError(f"unknown storage backend {config.storage.backend!r}")


def build_payment(config: Config, db: Database, clock: Clock) -> PaymentGateway:
    """Micro-deposit payments: the dev gateway records transfers for /dev/payments."""
    from core.adapters.payment_dev import DevPaymentGateway

    return DevPaymentGateway(db, clock)


def build_converter(config: Config) -> DocumentConverter | None:
    """LibreOffice for Word templates, or None when it is not installed here."""
    from core.adapters.docx_libreoffice import LibreOfficeConverter

    if LibreOfficeConverter.find(config.templates.soffice) is None:
        return None
    return LibreOfficeConverter(
        config.templates.soffice, timeout_seconds=config.templates.convert_timeout_seconds,
        concurrency=config.templates.convert_concurrency, nice=config.templates.convert_nice,
        max_output_bytes=config.signing.max_upload_bytes)


def build_deps(config: Config, clock: Clock | None = None) -> Deps:
    """Every port, built here and nowhere else (the web server, the CLI, the tests)."""
    config = ensure_secrets(config)
    clock = clock or SystemClock()
    db = Database(
        create_engine(
            config.database.url, echo=config.database.echo, pool_size=config.database.pool_size,
            sqlite_inline=config.database.sqlite_inline,
        )
    )
    return Deps(
        config=config,
        db=db,
        clock=clock,
        sms=build_sms(config, db, clock),
        identity=build_identity(config),
        signing=build_signing(config),
        wechat_api=build_wechat_api(config, db, clock),
        files=build_files(config),
        field_cipher=FieldCipher.from_config(config),
        payment=build_payment(config, db, clock),
        # What members hold besides seal grants, for the hand-over before removal.
        handover=(contract_handover.PROVIDER,),
        webhook_sender=HttpWebhookSender(),
        converter=build_converter(config),
    )


def deliverers() -> dict[str, Deliverer]:
    return {
        CUSTOM_KIND: deliver_custom_text,
        NOTIFY_KIND: deliver_notification,
        SMS_KIND: deliver_sms,
        SIGN_JOB_KIND: deliver_sign_job,
        evidence.PACKAGE_JOB_KIND: evidence.deliver_package_notice,
        evidence.EXPORT_JOB_KIND: evidence.deliver_export,
        PERSON_CERT_KIND: deliver_person_certificate,
        pki.ISSUE_KIND: pki.deliver_issue,
        pki.REVOKE_KIND: pki.deliver_revoke,
        pki.IMAGES_KIND: pki.deliver_seal_images,
        WEBHOOK_KIND: deliver_webhook,
        template_batch.ROW_KIND: template_batch.deliver_row,
        template_batch.CHUNK_KIND: template_batch.deliver_chunk,
        template_onboarding.ONBOARDING_CONTRACT_KIND: template_onboarding.deliver,
    }


# Work that runs once across all processes, in whichever process runs jobs.
PERIODIC_TASKS: tuple[PeriodicTask, ...] = (*housekeeping.TASKS, webhooks.PRUNE_TASK)


@contextlib.asynccontextmanager
async def running_jobs(deps: Deps, worker: OutboxWorker) -> AsyncIterator[None]:
    """The job runners and the periodic scheduler, for a web process or `laborsign
    worker`."""
    jobs = asyncio.create_task(worker.run_forever(), name="jobs")
    scheduler = asyncio.create_task(periodic.run_forever(deps, PERIODIC_TASKS),
                                    name="periodic")
    try:
        yield
    finally:
        worker.stop()
        scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(jobs, timeout=5)
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler


async def _jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    async with running_jobs(app[DEPS], app[OUTBOX]):
        yield


async def _checkpoint_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[DEPS].db.run_checkpoints(), name="wal-checkpoints")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _dispose_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[DEPS].db.dispose()


def init_app(
    config: Config, *, deps: Deps | None = None, run_workers: bool = True
) -> web.Application:
    deps = deps or build_deps(config)
    app = web.Application(
        middlewares=[error_middleware, browser_middleware],
        client_max_size=deps.config.server.max_body_bytes,
    )
    app[DEPS] = deps
    app[TEMPLATES] = build_environment()
    worker = OutboxWorker(deps, deliverers())
    deps.outbox_wakeup = worker.wakeups
    app[OUTBOX] = worker

    app.add_routes(health.routes)
    app.add_routes(favicon.routes)
    h5.install(app)
    app.add_routes(ca_routes.routes)
    app.add_routes(tsa_routes.routes)
    install_api(app)
    install_wechat(app, deps)
    app.add_routes(wechat_pages.routes)
    console.install(app)
    app.add_routes(operator_routes.routes)
    if deps.config.server.dev_mode:
        app.add_routes(operator_routes.dev_routes)
        app.add_routes(dev.routes)
        app.add_routes(dev_wechat.routes)
        app.add_routes(dev_identity.routes)
    app.router.add_static("/static", H5_DIR / "static", name="static", append_version=True)

    if run_workers:
        if deps.config.outbox.run_in_web:
            app.cleanup_ctx.append(_jobs_ctx)
        app.cleanup_ctx.append(_checkpoint_ctx)
    app.cleanup_ctx.append(_dispose_ctx)
    return app
