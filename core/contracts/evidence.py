"""Evidence of a contract (PRODUCT C5, E3): the platform-signed evidence report, the
evidence package (.zip: the signed PDF, the report, the timestamp tokens, the certificate
chain and a README with the offline check), the package the worker is sent on
completion, and batch exports of many contracts built by a job.

The report is built from the trail (core/contracts/trail.py) and cached per contract by
the trail's fingerprint: while nothing changes, every download is the same file, so its
hash stays the one first handed out. Building it is PDF work in the process pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import outbox
from core.context import Deps
from core.contracts import common, engine, trail
from core.contracts.evidence_report import (
    SIGNATURE_FIELD,
    ReportInput,
    layout_report,
)
from core.contracts.states import ContractState
from core.cpu import run_cpu
from core.crypto import sha256_hex
from core.enterprise import roles
from core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from core.files import read_verified
from core.outbox import PermanentFailure
from core.signing import service
from core.signing.pdf import FieldSpec
from core.signing.seals import round_seal
from core.signing.tokens import SignatureToken, signature_tokens
from core.wechat.notify import notify_person
from storage.models import (
    Contract,
    ContractDocument,
    EvidenceExport,
    EvidenceReport,
    OutboxMessage,
    User,
    new_id,
)
from storage.uow import Tx

log = logging.getLogger(__name__)

REPORT_AREA = "evidence"
EXPORT_AREA = "exports"
PACKAGE_JOB_KIND = "evidence.package"
EXPORT_JOB_KIND = "evidence.export"
# A batch export: at most this many contracts and this many bytes in the .zip.
MAX_EXPORT_CONTRACTS = 50
MAX_EXPORT_BYTES = 200 * 1024 * 1024
EXPORTS_LISTED = 20
# A batch export is a convenience copy of evidence kept elsewhere: its file goes after a
# week (the row stays, marked expired).
EXPORT_KEEP = timedelta(days=7)
PRUNE_BATCH = 100


class NoEvidenceYet(Conflict):
    code = "contract_not_sent"
    message = "合同尚未发出，还没有签署证据"


@dataclass(frozen=True)
class Download:
    filename: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class _Built:
    report: bytes
    report_sha256: str
    report_id: str
    contract_pdf: bytes
    trail: trail.Trail
    tokens: tuple[SignatureToken, ...]


def _stem(filename: str) -> str:
    stem = filename[:-4] if filename.lower().endswith(".pdf") else filename
    return "".join(c for c in stem if c not in '/\\:*?"<>|\r\n\t')[:80] or "contract"


@lru_cache(maxsize=2)
def _platform_seal(font_path: str, font_index: int) -> bytes:
    # The same image on every report: drawn once per worker process.
    return round_seal("LaborSign电子签约平台", font_path=font_path, font_index=font_index,
                      label="出证专用章")


@dataclass(frozen=True)
class _ReportJob:
    """A new report's whole CPU part, in one trip to a worker process (each trip pickles
    the contract PDF and costs the event loop a hand-over)."""

    contract_pdf: bytes
    max_bytes: int
    report_id: str
    generated_at: datetime
    trail: trail.Trail
    verify_url: str
    platform_subject: str
    sign: engine.SignJob  # its stamp is drawn in the worker


def _tokens(pdf: bytes, max_bytes: int) -> list[SignatureToken]:
    return signature_tokens(pdf, max_bytes=max_bytes)


def _make_report(job: _ReportJob, font_path: str, font_index: int
                 ) -> tuple[tuple[SignatureToken, ...], bytes]:
    """(the contract's signature tokens, the signed report); runs in the process pool."""
    tokens = tuple(_tokens(job.contract_pdf, job.max_bytes))
    layout = layout_report(
        ReportInput(job.report_id, job.generated_at, job.trail, tokens, job.verify_url,
                    job.platform_subject), font_path, font_index)
    sign = replace(job.sign, stamp_png=_platform_seal(font_path, font_index))
    prepared = engine.prepare(layout.pdf, [FieldSpec(SIGNATURE_FIELD, layout.page,
                                                     layout.rect)], sign.max_bytes)
    return tokens, engine.sign_fields(prepared, sign)


async def _load_checked(deps: Deps, user_id: str, contract_id: str) -> trail.Trail:
    t = await trail.load_trail(deps, user_id, contract_id)
    if t.state == ContractState.DRAFT:
        raise NoEvidenceYet()
    if t.state == ContractState.ARCHIVED:
        # A scanned paper contract (core/contracts/archive.py): nobody signed it here, so
        # there is no electronic evidence to report; the PDF itself is downloadable.
        raise Conflict("纸质归档合同没有电子签署证据，可直接下载扫描件",
                       code="archived_no_evidence")
    return t


async def _build(deps: Deps, t: trail.Trail, file_key: str) -> _Built:
    """The cached report for this trail, or a new one signed by the platform."""
    store = common.store(deps)
    pdf = await asyncio.to_thread(read_verified, store, file_key, t.document_sha256)
    max_bytes = deps.config.signing.max_upload_bytes + engine.GROWTH_ALLOWANCE
    fingerprint = t.fingerprint()
    async with deps.db.sessions() as session:
        cached = (await session.execute(
            select(EvidenceReport).where(EvidenceReport.contract_id == t.contract_id,
                                         EvidenceReport.fingerprint == fingerprint)
        )).scalar_one_or_none()
    if cached is not None:
        tokens = tuple(await run_cpu(_tokens, pdf, max_bytes))
        data = await asyncio.to_thread(read_verified, store, cached.file_key, cached.sha256)
        return _Built(data, cached.sha256, cached.id, pdf, t, tokens)
    report_id = new_id()
    material = await engine.platform_material(deps)
    cfg = deps.config.signing
    subject = x509.load_der_x509_certificate(material.certificate_der).subject.rfc4514_string()
    job = _ReportJob(
        pdf, max_bytes, report_id, deps.clock.now(), t,
        f"{deps.config.server.base_url.rstrip('/')}/verify", subject,
        engine.SignJob(
            field_names=(SIGNATURE_FIELD,), material=material, stamp_png=b"",
            timestamper=engine.timestamper(deps), validation=await engine.validation(deps),
            certify_first=False, signer_name="LaborSign 电子签约平台",
            reason=f"出具《{t.title}》的出证报告", max_bytes=max_bytes,
        ),
    )
    tokens, signed = await run_cpu(_make_report, job, cfg.font_path, cfg.font_index)
    digest = await asyncio.to_thread(sha256_hex, signed)
    key = await asyncio.to_thread(store.put, REPORT_AREA, signed, "pdf")
    try:
        async with deps.db.transaction() as tx:
            tx.session.add(EvidenceReport(
                id=report_id, contract_id=t.contract_id, fingerprint=fingerprint,
                file_key=key, sha256=digest, size=len(signed), created_at=deps.clock.now()))
    except IntegrityError:
        # Built twice at once: keep the one stored first, so every copy is the same.
        await asyncio.to_thread(store.delete, key)
        return await _build(deps, t, file_key)
    return _Built(signed, digest, report_id, pdf, t, tokens)


async def _document_key(deps: Deps, contract_id: str) -> str:
    async with deps.db.sessions() as session:
        key = (await session.execute(
            select(ContractDocument.file_key).where(ContractDocument.contract_id == contract_id)
        )).scalar_one_or_none()
    if key is None:
        raise NotFound("合同不存在", code="contract_not_found")
    return key


async def report(deps: Deps, user_id: str, contract_id: str) -> Download:
    """The evidence report (PDF) for a party of the contract or its enterprise."""
    t = await _load_checked(deps, user_id, contract_id)
    built = await _build(deps, t, await _document_key(deps, contract_id))
    return Download(f"出证报告-{_stem(t.filename)}.pdf", built.report, built.report_sha256)


# -- the package --------------------------------------------------------------------------


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def _readme(built: _Built, verify_url: str) -> str:
    t = built.trail
    contract_sha = hashlib.sha256(built.contract_pdf).hexdigest()
    lines = [
        "LaborSign 电子合同证据包 / Evidence package",
        "",
        f"合同：{t.title}",
        f"合同编号：{t.number or t.contract_id}",
        f"合同 ID：{t.contract_id}",
        f"状态：{t.state_label}",
        f"出证报告编号：{built.report_id}",
        f"出证报告 SHA-256：{built.report_sha256}",
        "",
        "文件 / Files",
        "  contract.pdf            合同 PDF（含各方数字签名与时间戳）",
        "  evidence-report.pdf     出证报告（平台数字签名）",
        "  timestamps/N.tst        第 N 个签名的 RFC 3161 时间戳令牌（DER）",
        "  timestamps/N.sig        第 N 个签名的签名值（时间戳所证明的数据）",
        "  certs/root.pem          平台根证书",
        "  certs/issuing-ca.pem    中级 CA 证书",
        "  certs/chain.pem         中级 CA 证书与根证书（核对时间戳用）",
        "  certs/tsa.pem           时间戳服务证书",
        "  certs/signer-N.pem      第 N 个签名的签名人证书",
        "  certs/platform.pem      出证报告的签名证书",
        "  SHA256SUMS              以上每个文件的 SHA-256",
        "",
        "离线核对 / Offline check (无需信任平台服务器)",
        "",
        "1. 合同文件的摘要应为 / contract.pdf must hash to:",
        f"   {contract_sha}",
        "   sha256sum contract.pdf",
        "   出证报告“当前文件 SHA-256”与最后一次签署后的文档摘要都应是这个值。",
        "",
        "2. 核对所有文件 / check every file:",
        "   sha256sum -c SHA256SUMS",
        "",
        "3. 核对每个时间戳令牌 / check each timestamp token (OpenSSL):",
    ]
    for tok in built.tokens:
        if tok.token_der is None:
            continue
        lines.append(f"   openssl ts -verify -token_in -in timestamps/{tok.index}.tst "
                     f"-data timestamps/{tok.index}.sig -CAfile certs/chain.pem "
                     f"-untrusted certs/tsa.pem")
    lines += [
        "   输出 “Verification: OK” 表示令牌由时间戳服务签发、未被改动，",
        "   且证明该签名值在令牌所载时间之前已经存在。令牌中的时间可用",
        "   openssl ts -reply -token_in -in timestamps/1.tst -text 查看，",
        "   应与出证报告第三部分的“可信时间戳”一致（openssl 显示 UTC，报告为北京时间，",
        "   相差 8 小时）。",
        "",
        "4. 核对 PDF 中的签名 / check the PDF signatures (poppler):",
        "   mkdir nss && certutil -N --empty-password -d sql:nss",
        "   certutil -A -t CT,C,C -n laborsign -i certs/root.pem -d sql:nss",
        "   pdfsig -nssdir sql:nss contract.pdf",
        "   pdfsig -nssdir sql:nss evidence-report.pdf",
        "",
        f"5. 在线验证 / online: {verify_url}",
        "",
    ]
    return "\n".join(lines)


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return out.getvalue()


async def _package_files(deps: Deps, built: _Built) -> list[tuple[str, bytes]]:
    verify_url = f"{deps.config.server.base_url.rstrip('/')}/verify"
    ca = service.engine(deps).ca
    root = ca.root_certificate().public_bytes(Encoding.PEM)
    issuing = ca.issuing_certificate().public_bytes(Encoding.PEM)
    platform = await service.platform_material(deps)
    files: list[tuple[str, bytes]] = [
        ("contract.pdf", built.contract_pdf),
        ("evidence-report.pdf", built.report),
        ("certs/root.pem", root),
        ("certs/issuing-ca.pem", issuing),
        ("certs/chain.pem", issuing + root),
        ("certs/tsa.pem", _pem(service.tsa_certificate_der(deps))),
        ("certs/platform.pem", _pem(platform.certificate_der)),
    ]
    for tok in built.tokens:
        files.append((f"certs/signer-{tok.index}.pem", _pem(tok.signer_certificate_der)))
        files.append((f"timestamps/{tok.index}.sig", tok.signature_value))
        if tok.token_der is not None:
            files.append((f"timestamps/{tok.index}.tst", tok.token_der))
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files)
    files.append(("SHA256SUMS", sums.encode()))
    files.append(("README.txt", _readme(built, verify_url).encode()))
    return files


async def package(deps: Deps, user_id: str, contract_id: str) -> Download:
    """The evidence package (.zip) for a party of the contract or its enterprise."""
    t = await _load_checked(deps, user_id, contract_id)
    built = await _build(deps, t, await _document_key(deps, contract_id))
    data = await run_cpu(_zip, await _package_files(deps, built))
    return Download(f"证据包-{_stem(t.filename)}.zip", data, sha256_hex(data))


# -- the worker's package on completion (E3) ---------------------------------------------


async def queue_package_notice(tx: Tx, deps: Deps, contract: Contract) -> None:
    """Called in the completing transaction: build the report, then tell the workers."""
    await outbox.enqueue(tx, PACKAGE_JOB_KIND, {"contract_id": contract.id},
                         now=deps.clock.now(), dedupe_key=f"evidence-package:{contract.id}",
                         wakeup=deps.outbox_wakeup)


async def deliver_package_notice(deps: Deps, msg: OutboxMessage) -> None:
    contract_id = str(msg.payload["contract_id"])
    async with deps.db.reading() as tx:
        contract = await tx.session.get(Contract, contract_id)
        if contract is None or contract.state != ContractState.COMPLETED:
            raise PermanentFailure("contract gone or not completed")
        t = await trail.load_trail_in(tx, contract)
        doc = await common.load_document(tx, contract.id)
        file_key = doc.file_key
    try:
        await _build(deps, t, file_key)  # the report exists before anyone follows the link
    except Exception:  # the page builds it on demand; the worker must be told regardless
        log.warning("evidence report not built at completion", exc_info=True,
                    extra={"contract_id": contract_id})
    link = common.contract_link(deps, contract_id, "/trail#evidence")
    text = (f"《{t.title}》已签署完成。证据包（合同PDF、出证报告、时间戳、证书）"
            "可在此下载并自行保存。"
            f"离线核对：合同PDF的SHA-256应以 {t.document_sha256[:16]} 开头，"
            "包内 README.txt 说明如何用 openssl 核对时间戳：")
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, contract_id)
        for s in await common.signers_of(tx, contract_id):
            if s.party != "person" or not s.phone:
                continue
            await notify_person(
                tx, deps, phone=s.phone, user_id=s.user_id, event="completed",
                title="合同证据包", text=text, link=link,
                dedupe_key=f"evidence-package:{contract_id}:{s.phone}",
            )


# -- batch exports -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportView:
    id: str
    state: str
    state_label: str
    count: int
    size: int | None
    error: str | None
    created_at: object
    finished_at: object
    url: str | None


EXPORT_STATES = {"queued": "生成中", "ready": "可下载", "failed": "失败", "expired": "已过期"}


def _export_view(row: EvidenceExport) -> ExportView:
    return ExportView(
        row.id, row.state, EXPORT_STATES.get(row.state, row.state), len(row.contract_ids),
        row.size, row.error, row.created_at, row.finished_at,
        f"/console/exports/{row.id}/download" if row.state == "ready" else None)


async def request_export(
    deps: Deps, user_id: str, enterprise_id: str, contract_ids: list[str]
) -> ExportView:
    """Queue one .zip of many contracts' evidence packages (a member with contracts.view)."""
    ids = list(dict.fromkeys(c.strip() for c in contract_ids if c and c.strip()))
    if not ids:
        raise InvalidInput("请先勾选要下载的合同", code="no_contracts", field="contract_ids")
    if len(ids) > MAX_EXPORT_CONTRACTS:
        raise InvalidInput(f"一次最多打包 {MAX_EXPORT_CONTRACTS} 份合同",
                           code="too_many_contracts", field="contract_ids")
    if any(len(c) > 32 for c in ids):
        raise InvalidInput("合同编号无效", code="invalid_contract_id", field="contract_ids")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_VIEW)
        rows = list((await tx.session.execute(
            select(Contract.id, Contract.state).where(Contract.id.in_(ids),
                                                      Contract.enterprise_id == enterprise_id)
        )).all())
        found = {cid for cid, state in rows
                 if state not in (ContractState.DRAFT, ContractState.ARCHIVED)}
        missing = [c for c in ids if c not in found]
        if missing:
            raise InvalidInput("所选合同不存在或尚未发出", code="contract_not_found",
                               field="contract_ids")
        row = EvidenceExport(enterprise_id=enterprise_id, user_id=user_id, contract_ids=ids,
                             state="queued", created_at=now)
        tx.session.add(row)
        await tx.session.flush()
        await outbox.enqueue(tx, EXPORT_JOB_KIND, {"export_id": row.id}, now=now,
                             dedupe_key=f"evidence-export:{row.id}",
                             wakeup=deps.outbox_wakeup)
        return _export_view(row)


async def list_exports(deps: Deps, user_id: str, enterprise_id: str) -> list[ExportView]:
    async with deps.db.transaction() as tx:
        await roles.require_permission(tx, user_id, enterprise_id, roles.CONTRACTS_VIEW)
        rows = (await tx.session.execute(
            select(EvidenceExport).where(EvidenceExport.enterprise_id == enterprise_id,
                                         EvidenceExport.user_id == user_id)
            .order_by(EvidenceExport.created_at.desc()).limit(EXPORTS_LISTED)
        )).scalars()
        return [_export_view(r) for r in rows]


async def export_download(deps: Deps, user_id: str, export_id: str) -> Download:
    """The ready .zip, for the member who asked for it (still allowed to view contracts)."""
    if not export_id or len(export_id) > 32:
        raise NotFound("下载不存在", code="export_not_found")
    async with deps.db.transaction() as tx:
        row = await tx.session.get(EvidenceExport, export_id)
        if row is None or row.user_id != user_id:
            raise NotFound("下载不存在", code="export_not_found")
        await roles.require_permission(tx, user_id, row.enterprise_id, roles.CONTRACTS_VIEW)
        if row.state != "ready" or not row.file_key:
            raise Conflict("压缩包还在生成中，请稍后刷新", code="export_not_ready")
        key, created = row.file_key, row.created_at
    data = await asyncio.to_thread(common.store(deps).get, key)
    stamp = (created + timedelta(hours=8)).strftime("%Y%m%d-%H%M")
    return Download(f"合同证据包-{stamp}.zip", data, sha256_hex(data))


async def deliver_export(deps: Deps, msg: OutboxMessage) -> None:
    export_id = str(msg.payload["export_id"])
    async with deps.db.sessions() as session:
        row = await session.get(EvidenceExport, export_id)
        if row is None or row.state != "queued":
            return
        user_id, ids, enterprise_id = row.user_id, list(row.contract_ids), row.enterprise_id
    files: list[tuple[str, bytes]] = []
    total = 0
    error = None
    try:
        for n, cid in enumerate(ids, start=1):
            t = await _load_checked(deps, user_id, cid)  # access checked again, now
            built = await _build(deps, t, await _document_key(deps, cid))
            folder = f"{n:03d}-{_stem(t.title)}-{cid[:8]}"
            for name, data in await _package_files(deps, built):
                total += len(data)
                if total > MAX_EXPORT_BYTES:
                    raise PayloadTooLarge("合同文件总大小超过上限，请分批下载",
                                          code="export_too_large")
                files.append((f"{folder}/{name}", data))
    except (NotFound, Conflict, PayloadTooLarge, InvalidInput) as exc:
        error = exc.message if hasattr(exc, "message") else str(exc)
    key = size = None
    if error is None:
        data = await run_cpu(_zip, files)
        key = await asyncio.to_thread(common.store(deps).put, EXPORT_AREA, data, "zip")
        size = len(data)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await tx.session.get(EvidenceExport, export_id)
        if row is None:
            return
        row.state = "ready" if error is None else "failed"
        row.file_key, row.size, row.error, row.finished_at = key, size, error, now
        user = await tx.session.get(User, user_id)
        if user is not None and error is None:
            await notify_person(
                tx, deps, phone=user.phone, user_id=user.id, event="completed",
                title="合同证据包已生成",
                text=f"您申请打包的 {len(ids)} 份合同证据包已生成，可点击链接下载：",
                link=f"{deps.config.server.base_url.rstrip('/')}/console/e/{enterprise_id}"
                     "/exports",
                dedupe_key=f"evidence-export-ready:{export_id}",
            )


async def prune_exports(deps: Deps) -> int:
    """Delete the files of batch exports older than EXPORT_KEEP (periodic task)."""
    cutoff = deps.clock.now() - EXPORT_KEEP
    async with deps.db.transaction() as tx:
        rows = list((await tx.session.execute(
            select(EvidenceExport).where(EvidenceExport.state == "ready",
                                         EvidenceExport.created_at < cutoff)
            .limit(PRUNE_BATCH).with_for_update()
        )).scalars())
        keys = [r.file_key for r in rows if r.file_key]
        for r in rows:
            r.state, r.file_key = "expired", None
    store = common.store(deps)
    for key in keys:
        try:
            await asyncio.to_thread(store.delete, key)
        except (KeyError, OSError):
            log.warning("export file already gone", extra={"key": key})
    return len(rows)
