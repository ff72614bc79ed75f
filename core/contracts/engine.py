"""The contract flow's use of the signing engine.

The functions at the top are pure (bytes in, bytes out) and run in the process pool
(core.cpu.run_cpu). The async helpers below pick certificates (issuing them lazily through
core.signing.service), the timestamper and the revocation data to embed.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar, cast

from core.context import Deps, RequestMeta
from core.enterprise import pki
from core.errors import Conflict
from core.signing import service
from core.signing.pdf import (
    AlreadySigned,
    FieldSpec,
    SignOptions,
    TimeStamperSpec,
    ValidationMaterial,
    prepare_document,
    sign_document,
)
from core.signing.pdfinput import (
    PARSE_ERRORS,
    PdfInvalid,
    live_form_fields,
    media_box,
    open_pdf,
    page_count,
)
from core.signing.ports import SignerMaterial
from core.signing.timestamping import HttpTimeStamperSpec
from core.signing.verify import DocumentReport, TrustAnchors, VerifyLimits, verify_pdf
from core.templates.fields import format_date

# A signature field whose name holds this shows the signing date alone; the format's key
# follows it (core.templates.fields.DATE_FORMATS).
DATE_MARK = "__date_"

# The signed file grows with every signature (stamp image, certificates, timestamp, CRLs).
GROWTH_ALLOWANCE = 8 * 1024 * 1024


class LiveFormFields(PdfInvalid):
    code = "pdf_has_form_fields"
    message = "PDF 中含有可填写的表单，签署后仍能被改写"


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    # [(width, height)] in points, per page.
    page_sizes: tuple[tuple[float, float], ...]

    def sizes_json(self) -> str:
        return json.dumps([[round(w, 2), round(h, 2)] for w, h in self.page_sizes])


def inspect_pdf(data: bytes, max_bytes: int) -> PdfInfo:
    """Check an upload the way the engine will read it; refuse already signed PDFs and
    PDFs with fields that could still be filled in after signing."""
    reader = open_pdf(data, max_bytes=max_bytes)
    try:
        if reader.embedded_signatures:
            raise AlreadySigned("文件已包含数字签名，请上传未签名的 PDF")
        fillable = live_form_fields(reader)
        if fillable:
            names = "、".join(fillable[:5]) + ("等" if len(fillable) > 5 else "")
            raise LiveFormFields(
                f"PDF 中含有可填写的表单（{names}），签署后仍能被改写。"
                "请先把填好的内容固定下来（例如用“打印为 PDF”另存一份）后再上传"
            )
        count = page_count(reader)
        sizes = []
        for ix in range(count):
            box = media_box(reader, ix)
            if box is None:
                raise PdfInvalid("无法读取 PDF 页面尺寸")
            sizes.append((box[2] - box[0], box[3] - box[1]))
    except (AlreadySigned, PdfInvalid):
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return PdfInfo(count, tuple(sizes))


def prepare(data: bytes, specs: list[FieldSpec], max_bytes: int) -> bytes:
    return prepare_document(data, specs, max_bytes=max_bytes)


@dataclass(frozen=True)
class SignJob:
    """Everything one party's signing needs inside a worker process (picklable)."""

    field_names: tuple[str, ...]
    material: SignerMaterial
    stamp_png: bytes | None
    timestamper: TimeStamperSpec | None
    validation: ValidationMaterial | None
    certify_first: bool
    signer_name: str
    reason: str
    max_bytes: int
    # Written under each stamp (seals.signing_date_text), in the [signing] font.
    date_text: str | None = None
    font_path: str = ""
    font_index: int = 2
    # The signing day (ISO, Beijing time) for boxes that show the date alone.
    sign_day: str = ""
    # 骑缝章: the first field's revision also splits the stamp across every page's edge.
    seal_slices: bool = False


def sign_fields(data: bytes, job: SignJob) -> bytes:
    """Sign each of the party's fields in turn (one revision per field). A field named
    with DATE_MARK (send.plan_fields) shows the signing day alone, in its own format."""
    out = data
    for ix, name in enumerate(job.field_names):
        date_text, date_only = job.date_text, False
        if DATE_MARK in name and job.sign_day:
            date_text = format_date(date.fromisoformat(job.sign_day),
                                    name.split(DATE_MARK, 1)[1])
            date_only = True
        out = sign_document(
            out,
            name,
            job.material,
            stamp_png=job.stamp_png,
            timestamper=job.timestamper,
            validation=job.validation,
            options=SignOptions(
                certify=job.certify_first and ix == 0,
                reason=job.reason,
                location="LaborSign",
                signer_name=job.signer_name,
                max_bytes=job.max_bytes,
                date_text=date_text,
                font_path=job.font_path,
                font_index=job.font_index,
                date_only=date_only,
                seal_slices=job.seal_slices and ix == 0,
            ),
        )
    return out


def render_page(data: bytes, page: int, width: int) -> bytes:
    """One page as a PNG `width` pixels wide (pypdfium2, forms and stamps drawn)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise PdfInvalid() from exc
    try:
        if not 0 <= page < len(pdf):
            raise PdfInvalid("页码超出范围", code="page_out_of_range")
        # Before the page is loaded, or pdfium leaves the form's widgets out: the
        # signatures' and seals' appearances (and their dates) would not show.
        pdf.init_forms()
        pg = pdf[page]
        scale = width / pg.get_width()
        bitmap = pg.render(scale=scale, may_draw_forms=True)
        img = bitmap.to_pil()
        out = io.BytesIO()
        img.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        pdf.close()


# -- certificates, timestamps, revocation data -------------------------------------------


def timestamper(deps: Deps) -> TimeStamperSpec:
    """The wired TSA (tests), else an outside TSA the config names (over HTTP), else the
    built-in TSA, signing its tokens in the worker process that asks for one.

    The built-in TSA's key is the app's own either way; asking it over HTTP made the server
    parse, sign and answer one more request for every signature and every evidence report
    (docs/benchmarks.md, "Fourth round"). `POST /tsa` still serves outside clients."""
    if deps.timestamper is not None:
        return deps.timestamper
    if deps.config.signing.tsa_url:
        return HttpTimeStamperSpec(deps.config.signing.tsa_url)
    return deps.signing.tsa_spec()


VALIDATION_CACHE_SECONDS = 60.0
T = TypeVar("T")


async def _for_a_minute(deps: Deps, key: str, build: Callable[[Deps], Awaitable[T]]) -> T:
    cached = deps.caches.minute.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < VALIDATION_CACHE_SECONDS:
        return cast(T, cached[1])
    value = await build(deps)
    deps.caches.minute[key] = (now, value)
    return value


async def validation(deps: Deps) -> ValidationMaterial:
    """Our chain and CRLs to embed (B-LT), rebuilt at most once a minute per process.

    Building the CRLs signs them each time; a minute-old CRL is still current (they live a
    day), and a certificate revoked meanwhile is refused earlier, when the grant is made.
    """
    return await _for_a_minute(deps, "validation", service.validation_material)


async def platform_material(deps: Deps) -> SignerMaterial:
    """The platform's signing material (evidence reports), looked up at most once a
    minute per process: each report read its certificate and the CA chain again."""
    return await _for_a_minute(deps, "platform", service.platform_material)


async def person_certificate(deps: Deps, user_id: str, meta: RequestMeta) -> str:
    found = await service.active_certificate(deps, "person", user_id)
    if found is None:
        found = await service.issue_person_certificate(deps, user_id, meta=meta)
    return found.id


async def enterprise_certificate(
    deps: Deps,
    *,
    enterprise_id: str,
    enterprise_name: str,
    credit_code: str,
    seal_id: str | None,
    actor_id: str,
    meta: RequestMeta,
) -> str:
    """The live seal's own certificate (issued on first use), else the enterprise's."""
    if seal_id is not None:
        seal_cert = await pki.seal_certificate(deps, seal_id)
        if seal_cert is not None:
            return seal_cert
    found = await service.active_certificate(deps, "enterprise", enterprise_id)
    if found is None:
        found = await service.issue_enterprise_certificate(
            deps, enterprise_id, name=enterprise_name, credit_code=credit_code,
            actor_id=actor_id, meta=meta,
        )
    return found.id


async def unlock(
    deps: Deps,
    *,
    certificate_id: str,
    actor_id: str,
    purpose: str,
    document_sha256: str,
    confirmation_ref: str,
    tenant_id: str | None,
    meta: RequestMeta,
) -> tuple[str, SignerMaterial]:
    """Grant (the owner has just confirmed) and unlock the key once: (grant id, material)."""
    grant = await service.grant_signing(
        deps, certificate_id=certificate_id, actor_id=actor_id, purpose=purpose,
        document_sha256=document_sha256, confirmation_ref=confirmation_ref, meta=meta,
        tenant_id=tenant_id,
    )
    material = await service.unlock_signer(
        deps, grant, document_sha256=document_sha256, meta=meta
    )
    return grant.grant_id, material


class NotSignable(Conflict):
    code = "contract_not_signable"
    message = "当前合同不能签署"


def verify(data: bytes, anchors: TrustAnchors, limits: VerifyLimits) -> DocumentReport:
    return verify_pdf(data, anchors, limits=limits)
