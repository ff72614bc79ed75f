"""Verifying an uploaded PDF (C6): what the engine finds in each signature, plus whether the
file is one we produced and the status of its contract. No login; CPU work in the pool."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.context import Deps
from core.contracts.engine import verify
from core.contracts.states import CONTRACT_LABELS, ContractState
from core.cpu import run_cpu
from core.crypto import sha256_hex
from core.errors import InvalidInput, PayloadTooLarge
from core.signing import service
from core.signing.verify import DocumentReport
from storage.models import Contract, DocumentHash


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
    # Signed files are larger than uploads to sign: leave room for the signatures.
    return deps.config.signing.max_upload_bytes + 16 * 1024 * 1024


async def verify_upload(deps: Deps, data: bytes) -> VerificationResult:
    limit = max_bytes(deps)
    if not data:
        raise InvalidInput("请选择要验证的 PDF 文件", code="empty_upload", field="file")
    if len(data) > limit:
        raise PayloadTooLarge(f"文件不能超过 {limit // (1024 * 1024)} MB", code="pdf_too_large")
    anchors = await service.trust_anchors(deps)
    report = await run_cpu(verify, bytes(data), anchors, limit)
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
            registered = Registered(
                contract.title, contract.state, CONTRACT_LABELS[ContractState(contract.state)],
                entry.version, entry.kind, entry.version == newest,
            )
    return VerificationResult(report, registered)
