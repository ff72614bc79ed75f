"""Reaching the FileStore port, and upload checks (size first, then the real content type).

Uploads are identified by their bytes, not by their name or the browser's claimed type:
Pillow must open the image and report JPEG or PNG.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image

from core.context import Deps
from core.crypto import sha256_hex
from core.errors import PayloadTooLarge, ProviderUnavailable, UnsupportedMedia
from core.ports import FileStore

log = logging.getLogger(__name__)

MB = 1024 * 1024


def file_store(deps: Deps) -> FileStore:
    """The store the composition root built (handlers/app.py build_files)."""
    return deps.files


def read_verified(store: FileStore, key: str, sha256: str) -> bytes:
    """Read and check the bytes against the digest recorded when they were written.

    Run in a worker thread: hashing a 10 MB file takes tens of milliseconds. An object
    changed or truncated behind our back is refused rather than served or signed.
    """
    try:
        data = store.get(key)
    except FileNotFoundError:
        # Lost behind our back (a restore without the files): an answer, not a crash.
        log.error("stored file is missing", extra={"key": key, "store": store.name})
        raise ProviderUnavailable("文件暂时无法读取，请联系客服", code="file_missing") from None
    if sha256_hex(data) != sha256:
        log.error("stored file fails its hash check", extra={"key": key, "store": store.name})
        raise ProviderUnavailable("文件校验未通过，请联系客服", code="file_integrity")
    return data


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    ext: str  # jpg | png
    content_type: str
    width: int
    height: int


IMAGE_FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png")}


def _inspect(data: bytes) -> tuple[str, int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                img.verify()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise UnsupportedMedia("图片尺寸过大", code="image_too_large") from None
        except Exception:
            raise UnsupportedMedia("无法识别的图片，请上传 JPG 或 PNG 格式",
                                   code="unsupported_image") from None
    return fmt, width, height


def check_image_sync(data: bytes, max_bytes: int, what: str = "图片") -> CheckedImage:
    if not data:
        raise UnsupportedMedia(f"请选择要上传的{what}", code="empty_upload")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{what}不能超过 {max_bytes // MB} MB", code="upload_too_large")
    fmt, width, height = _inspect(data)
    if fmt not in IMAGE_FORMATS:
        raise UnsupportedMedia("仅支持 JPG 或 PNG 格式的图片", code="unsupported_image")
    ext, content_type = IMAGE_FORMATS[fmt]
    return CheckedImage(data, ext, content_type, width, height)


async def check_image(data: bytes, max_bytes: int, what: str = "图片") -> CheckedImage:
    """Size and content check; decoding runs in a thread so the event loop stays free."""
    if len(data) > max_bytes:  # cheap refusal before any decoding
        raise PayloadTooLarge(f"{what}不能超过 {max_bytes // MB} MB", code="upload_too_large")
    return await asyncio.to_thread(check_image_sync, data, max_bytes, what)


CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
