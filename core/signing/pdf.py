"""Preparing and signing PDFs with pyHanko: pure functions from bytes to bytes.

`prepare_document` adds every signature field before anyone signs, so no later signature
changes the form structure under an earlier one. `sign_document` applies one PAdES
signature into an existing empty field: B-T with a timestamp, B-LT when the CA's
revocation data is supplied (embedded in the same revision, so the signature still covers
the whole file). The visible appearance is a prepared PNG (seal or handwriting) drawn as an
image XObject: no font subsetting, so a visible signature costs little more than an
invisible one.
"""

from __future__ import annotations

import io
import logging
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aiohttp
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from PIL import Image
from pyhanko.pdf_utils import generic, images, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps.api import TimeStamper as PyHankoTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathValidationError, RevokedError

from core.errors import Conflict, InvalidInput, NotFound, ProviderUnavailable
from core.images import IMAGE_ERRORS
from core.signing.page_marks import add_seal_slices
from core.signing.pdfinput import (
    DEFAULT_MAX_BYTES,
    PARSE_ERRORS,
    PdfInvalid,
    ensure_off_loop,
    media_box,
    open_for_update,
    open_pdf,
    page_count,
)
from core.signing.ports import SignerMaterial, TimeStamperSpec
from core.signing.seals import signing_date_only, with_signing_date


class _ExpectedNoFetching(logging.Filter):
    """Drops pyHanko's warning that validation data is embedded while fetching is off.

    That is deliberate here: ValidationMaterial carries our own CA's chain and current
    CRLs, everything the B-LT data needs, so nothing must be fetched from the network. The
    warning came once per signature, on the server's log and in `laborsign demo`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            "Validation/revocation info will be embedded, but fetching is not allowed"
        )


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_ExpectedNoFetching())

MAX_STAMP_BYTES = 2 * 1024 * 1024
MAX_STAMP_SIDE = 2000
MAX_FIELDS = 50


class FieldError(InvalidInput):
    code = "signature_field_invalid"
    message = "签署位置设置有误"


class FieldNotFound(NotFound):
    code = "signature_field_not_found"
    message = "文档中没有这个签署位置"


class FieldAlreadySigned(Conflict):
    code = "signature_field_signed"
    message = "这个签署位置已经签过了"


class AlreadySigned(Conflict):
    code = "document_already_signed"
    message = "文档已有签名，不能再添加签署位置"


class CertificateRevoked(Conflict):
    code = "certificate_revoked"
    message = "签名证书已被吊销，不能用于签署"


class SigningFailed(ProviderUnavailable):
    code = "signing_failed"
    message = "签署未能完成，请稍后重试"


@dataclass(frozen=True)
class FieldSpec:
    """A signature box: name, 0-based page index and rectangle (x1, y1, x2, y2) in points."""

    name: str
    page: int
    rect: tuple[float, float, float, float]


@dataclass(frozen=True)
class ValidationMaterial:
    """Trust anchors and revocation data to embed (PAdES B-LT): all DER, no fetching."""

    trust_roots_der: tuple[bytes, ...]
    other_certs_der: tuple[bytes, ...] = ()
    crls_der: tuple[bytes, ...] = ()

    def context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(c) for c in self.trust_roots_der],
            other_certs=[asn1_x509.Certificate.load(c) for c in self.other_certs_der],
            crls=[asn1_crl.CertificateList.load(c) for c in self.crls_der],
            allow_fetching=False,
            revocation_mode="hard-fail",
        )


@dataclass(frozen=True)
class SignOptions:
    certify: bool = False
    reason: str | None = None
    location: str | None = None
    signer_name: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    # The signing date (Beijing time, seals.signing_date_text) written on the bottom line
    # of each visible stamp, in this CJK font. None: the stamp alone.
    date_text: str | None = None
    font_path: str = ""
    font_index: int = 2
    # The box shows the signing date alone, no stamp (a template's 签署日期 field).
    date_only: bool = False
    # 骑缝章: the stamp is also split across the right edge of every page, in this
    # signature's own revision (page_marks.add_seal_slices).
    seal_slices: bool = False


def _check_field(spec: FieldSpec, pages: int, box: tuple[float, ...] | None) -> None:
    name = spec.name
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise FieldError("签署位置名称只能包含字母、数字、- 和 _", field="name")
    if not 0 <= spec.page < pages:
        raise FieldError(f"签署位置的页码超出范围（共 {pages} 页）", field="page")
    x1, y1, x2, y2 = spec.rect
    if not (x2 - x1 >= 10 and y2 - y1 >= 10):
        raise FieldError("签署位置太小", field="rect")
    if box is not None:
        bx1, by1, bx2, by2 = box
        if x1 < bx1 - 0.5 or y1 < by1 - 0.5 or x2 > bx2 + 0.5 or y2 > by2 + 0.5:
            raise FieldError("签署位置超出了页面范围", field="rect")


def prepare_document(
    pdf_bytes: bytes, field_specs: list[FieldSpec], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> bytes:
    """Add all signature fields in one incremental update; refuse an already signed PDF."""
    reader = open_pdf(pdf_bytes, max_bytes=max_bytes)
    if not field_specs or len(field_specs) > MAX_FIELDS:
        raise FieldError(f"签署位置数量必须在 1 到 {MAX_FIELDS} 之间")
    names = [f.name for f in field_specs]
    if len(set(names)) != len(names):
        raise FieldError("签署位置名称重复", field="name")
    try:
        if reader.embedded_signatures:
            raise AlreadySigned()
        existing = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
        pages = page_count(reader)
        for spec in field_specs:
            _check_field(spec, pages, media_box(reader, spec.page))
            if spec.name in existing:
                raise FieldError(f"签署位置 {spec.name} 已存在", field="name")
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(pdf_bytes)), strict=True)
        for spec in field_specs:
            fields.append_signature_field(
                writer,
                fields.SigFieldSpec(
                    sig_field_name=spec.name,
                    on_page=spec.page,
                    box=tuple(round(v) for v in spec.rect),  # type: ignore[arg-type]
                ),
            )
        out = io.BytesIO()
        writer.write(out)
    except (FieldError, AlreadySigned):
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return out.getvalue()


def load_stamp_image(png: bytes) -> Image.Image:
    """A prepared RGBA stamp image, bounded in bytes and pixels."""
    if len(png) > MAX_STAMP_BYTES:
        raise InvalidInput("签名图片过大", code="stamp_too_large")
    Image.MAX_IMAGE_PIXELS = 40_000_000
    try:
        img = Image.open(io.BytesIO(png))
        if img.format != "PNG":
            raise InvalidInput("签名图片必须是 PNG", code="stamp_invalid")
        if max(img.size) > MAX_STAMP_SIDE:
            raise InvalidInput("签名图片尺寸过大", code="stamp_too_large")
        img.load()
    except IMAGE_ERRORS as exc:
        raise InvalidInput("签名图片无法读取", code="stamp_invalid") from exc
    return img.convert("RGBA")


@dataclass(frozen=True)
class PreparedStamp:
    """A stamp image decoded and Flate-compressed once: colour plane and alpha mask."""

    width: int
    height: int
    rgb_flate: bytes
    alpha_flate: bytes


@lru_cache(maxsize=32)
def prepare_stamp(png: bytes) -> PreparedStamp:
    """Decode and compress a stamp once per worker: a seal or a person's handwriting is
    applied to many boxes and documents, and compressing the pixels dominated the cost of
    a visible signature."""
    img = load_stamp_image(png)
    alpha = img.getchannel("A")
    rgb = img.convert("RGB")
    return PreparedStamp(
        img.width, img.height, zlib.compress(rgb.tobytes()), zlib.compress(alpha.tobytes())
    )


class PreparedImage(images.PdfImage):
    """pyHanko's image content, writing the pre-compressed XObjects of a PreparedStamp."""

    _PLACEHOLDER = Image.new("RGBA", (1, 1))

    def __init__(self, stamp: PreparedStamp) -> None:
        super().__init__(
            self._PLACEHOLDER, box=layout.BoxConstraints(stamp.width, stamp.height)
        )
        self.stamp = stamp

    def _xobject(self, colour_space: str, data: bytes, smask: Any = None) -> Any:
        assert self.writer is not None
        entries = {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Image"),
            generic.pdf_name("/Width"): generic.NumberObject(self.stamp.width),
            generic.pdf_name("/Height"): generic.NumberObject(self.stamp.height),
            generic.pdf_name("/ColorSpace"): generic.pdf_name(colour_space),
            generic.pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode"),
        }
        if smask is not None:
            entries[generic.pdf_name("/SMask")] = smask
        stream = generic.StreamObject(generic.DictionaryObject(entries), encoded_data=data)
        return self.writer.add_object(stream)

    @property
    def image_ref(self) -> Any:
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not self.writer:
            smask = self._xobject("/DeviceGray", self.stamp.alpha_flate)
            ref = self._image_ref = self._xobject("/DeviceRGB", self.stamp.rgb_flate, smask)
        return ref


def stamp_style(png: bytes) -> StaticStampStyle:
    return StaticStampStyle(
        background=PreparedImage(prepare_stamp(png)),
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(1),
        ),
        background_opacity=1.0,
        border_width=0,
    )


# A field's /Rect may be missing, malformed or of the wrong type in a hostile file.
BOX_ERRORS: tuple[type[BaseException], ...] = (*PARSE_ERRORS, TypeError, ValueError, IndexError)


@lru_cache(maxsize=8)
def timestamper_for(
    spec: TimeStamperSpec, validation: ValidationMaterial | None
) -> PyHankoTimeStamper:
    """One pyHanko client per TSA and CA material, reused by a worker process.

    To embed validation data for the TSA's own certificates, a client first fetches a
    throw-away token to learn them; a fresh client per signature made that a second TSA
    request for every signature. The CA material is part of the key (the server renews
    its CRLs once they are a minute old), so a client never outlives the trust it was
    checked against.
    """
    return spec.build()


@lru_cache(maxsize=4)
def context_for(validation: ValidationMaterial) -> ValidationContext:
    """One validation context per CA material, reused by a worker process, like the
    timestamp client above: each new one parsed the CA certificates and CRLs again and
    checked every CRL's signature and issuer for each signature (about a third of the
    pre-signing validation). Nothing is fetched (`allow_fetching=False`), so what it knows
    is exactly the material, which the server renews with its CRLs every minute; a new
    material is a new context."""
    return validation.context()


def reserve_for(signer: SignerMaterial, timestamper: TimeStamperSpec | None) -> int:
    """Bytes to reserve for /Contents so pyHanko builds the CMS once (no dry run).

    Twice the DER size (hex), from the certificates actually embedded plus fixed room for
    the signature, the signed attributes and the timestamp token.
    """
    der = len(signer.certificate_der) + sum(len(c) for c in signer.chain_der) + 2048
    if timestamper is not None:
        der += timestamper.token_reserve
    return 2 * der


def _field_size(field_ref: Any) -> tuple[float, float] | None:
    """(width, height) in points of a signature field's widget."""
    try:
        field = field_ref.get_object()
        rect = field.get("/Rect")
        if rect is None and "/Kids" in field:
            rect = field["/Kids"][0].get_object().get("/Rect")
        if rect is None:
            return None
        x1, y1, x2, y2 = (float(v) for v in rect)
    except BOX_ERRORS:
        return None
    return abs(x2 - x1), abs(y2 - y1)


def sign_document(
    pdf_bytes: bytes,
    field_name: str,
    signer: SignerMaterial,
    *,
    stamp_png: bytes | None = None,
    timestamper: TimeStamperSpec | None = None,
    validation: ValidationMaterial | None = None,
    options: SignOptions | None = None,
) -> bytes:
    """Sign into the existing empty field `field_name`; returns the new PDF bytes.

    certify=True makes a certification signature allowing form filling (the first
    enterprise signature), so later approval signatures keep it valid.
    """
    ensure_off_loop("sign_document")
    options = options or SignOptions()
    # One parse serves both the checks and the signing (the writer's reader is `.prev`).
    writer = open_for_update(pdf_bytes, max_bytes=options.max_bytes)
    reader = writer.prev
    try:
        matches = list(fields.enumerate_sig_fields(reader, with_name=field_name))
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    if not matches:
        raise FieldNotFound()
    if matches[0][1] is not None:
        raise FieldAlreadySigned()
    if options.certify and reader.embedded_signatures:
        raise Conflict("只有第一个签名可以是认证签名", code="certify_not_first")

    if options.seal_slices and stamp_png is not None:
        add_seal_slices(writer, stamp_png)
    size = _field_size(matches[0][2])
    if options.date_only and options.date_text and options.font_path and size:
        stamp_png = signing_date_only(options.date_text, size, font_path=options.font_path,
                                      font_index=options.font_index)
    elif stamp_png is not None and options.date_text and options.font_path and size:
        stamp_png = with_signing_date(stamp_png, options.date_text, size,
                                      font_path=options.font_path, font_index=options.font_index)
    style = stamp_style(stamp_png) if stamp_png is not None else None
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=options.certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        reason=options.reason,
        location=options.location,
        name=options.signer_name,
        embed_validation_info=validation is not None,
        validation_context=context_for(validation) if validation is not None else None,
        dss_settings=DSSContentSettings(
            include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE
        ),
    )
    try:
        with signer.signer() as pyhanko_signer:
            pdf_signer = signers.PdfSigner(
                meta,
                pyhanko_signer,
                timestamper=(
                    timestamper_for(timestamper, validation) if timestamper is not None
                    else None
                ),
                stamp_style=style,
            )
            out = pdf_signer.sign_pdf(writer, bytes_reserved=reserve_for(signer, timestamper))
            return out.getvalue()
    except RevokedError as exc:
        raise CertificateRevoked() from exc
    except (TimestampRequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SigningFailed("时间戳服务暂时不可用，请稍后重试", code="tsa_unavailable") from exc
    except PathValidationError as exc:
        raise SigningFailed("签名证书校验失败", code="certificate_invalid") from exc
    except SigningError as exc:
        if isinstance(exc.__cause__, RevokedError):
            raise CertificateRevoked() from exc
        if isinstance(exc.__cause__, PathValidationError):
            raise SigningFailed("签名证书校验失败", code="certificate_invalid") from exc
        raise SigningFailed() from exc
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
