"""Verifying an uploaded PDF (C6): what the engine finds in each signature, plus whether the
file is one we produced and the status of its contract. No login needed.

Anyone may upload, so the work is bounded (docs/security.md): a rate limit per IP (per user
when logged in), size, revisions and signatures counted before anything is parsed, and the
validation itself in the verification pool (core/cpu.py) under a time budget, never in the
pool that signs contracts and renders pages.
"""

from __future__ import annotations

import asyncio
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core import ratelimit
from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts.engine import verify
from core.contracts.states import CONTRACT_LABELS
from core.cpu import Busy, run_verification
from core.crypto import sha256_hex
from core.errors import InvalidInput, PayloadTooLarge, ProviderUnavailable
from core.ratelimit import Limit
from core.signing import service
from core.signing.verify import DocumentReport, VerifyLimits, VerifyTimeout, precheck
from storage.models import Contract, DocumentHash

RATE_BUCKET = "verify"
# The worker checks its budget between signatures; past this much more it is killed.
KILL_GRACE_SECONDS = 5.0


class VerifyBusy(ProviderUnavailable):
    code = "verify_busy"
    message = "验证服务繁忙，请稍后再试"


class VerifyFailed(InvalidInput):
    code = "verify_failed"
    message = "文件无法验证，可能已损坏"


@dataclass(frozen=True)
class Registered:
    """The uploaded file is byte for byte a version we produced."""

    contract_title: str
    contract_state: str
    contract_state_label: str
    version: int
    kind: str
    latest: bool


@dataclass(frozen=True)
class VerificationResult:
    report: DocumentReport
    registered: Registered | None

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        data["registered"] = None
        if self.registered is not None:
            r = self.registered
            data["registered"] = {
                "contract_title": r.contract_title, "contract_state": r.contract_state,
                "contract_state_label": r.contract_state_label, "version": r.version,
                "kind": r.kind, "latest": r.latest,
            }
        return data


def max_bytes(deps: Deps) -> int:
    return deps.config.verify.max_bytes


def limits(deps: Deps) -> VerifyLimits:
    cfg = deps.config.verify
    return VerifyLimits(max_bytes=cfg.max_bytes, max_revisions=cfg.max_revisions,
                        max_signatures=cfg.max_signatures,
                        time_budget_seconds=cfg.time_budget_seconds)


async def _count_request(deps: Deps, meta: RequestMeta | None, user_id: str | None) -> None:
    """One verification per request against the caller's limits (the user's once logged in,
    else the IP's); internal callers without a request are not counted."""
    key = f"user:{user_id}" if user_id else f"ip:{meta.ip}" if meta and meta.ip else None
    if key is None:
        return
    cfg = deps.config.verify
    message = "验证过于频繁，请稍后再试"
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, RATE_BUCKET, key, [
            Limit(cfg.per_ip_per_minute, 60, message), Limit(cfg.per_ip_hourly, 3600, message),
        ], deps.clock.now())


async def verify_upload(
    deps: Deps, data: bytes, *, meta: RequestMeta | None = None, user_id: str | None = None
) -> VerificationResult:
    limit = max_bytes(deps)
    if not data:
        raise InvalidInput("请选择要验证的 PDF 文件", code="empty_upload", field="file")
    if len(data) > limit:
        raise PayloadTooLarge(f"文件不能超过 {limit // (1024 * 1024)} MB", code="pdf_too_large")
    await _count_request(deps, meta, user_id)
    bounds = limits(deps)
    await asyncio.to_thread(precheck, bytes(data), bounds)  # milliseconds, before any parse
    anchors = await service.trust_anchors(deps)
    cfg = deps.config.verify
    try:
        report = await run_verification(
            verify, bytes(data), anchors, bounds, workers=cfg.workers,
            budget=cfg.time_budget_seconds + KILL_GRACE_SECONDS,
            queue_wait=cfg.queue_wait_seconds,
        )
    except Busy:
        raise VerifyBusy() from None
    except TimeoutError:
        raise VerifyTimeout() from None
    except BrokenProcessPool:
        raise VerifyFailed() from None
    digest = await asyncio.to_thread(sha256_hex, data)  # up to the upload limit: off the loop
    async with deps.db.transaction() as tx:
        row = (await tx.session.execute(
            select(DocumentHash, Contract).join(Contract, Contract.id == DocumentHash.contract_id)
            .where(DocumentHash.sha256 == digest)
            .order_by(DocumentHash.version.desc()).limit(1)
        )).first()
        registered = None
        if row is not None:
            entry, contract = row
            newest = (await tx.session.execute(
                select(DocumentHash.version).where(DocumentHash.contract_id == contract.id)
                .order_by(DocumentHash.version.desc()).limit(1)
            )).scalar_one()
            state = common.effective_state(contract, deps.clock.now())
            registered = Registered(
                contract.title, state, CONTRACT_LABELS[state],
                entry.version, entry.kind, entry.version == newest,
            )
    return VerificationResult(report, registered)
