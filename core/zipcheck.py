"""Bounded opening of an uploaded zip container (.xlsx, .docx): what the zip declares is
checked before any member is read, so a small upload cannot unpack to gigabytes.

Checks: the local-file signature, that the central directory reads, the number of
members, the total declared uncompressed size, and each large member's compression ratio
(hostile padding deflates ~700x; real XML 5-20x). `ZipExtFile` never returns more than a
member's declared `file_size`, so these sizes bound what is read even when they lie.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from core.files import MB

MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ZipLimits:
    max_members: int
    max_uncompressed: int
    # A member larger than ratio_floor may not compress better than max_ratio.
    max_ratio: int = 100
    ratio_floor: int = 1 * MB


class NotAZip(Exception):
    """Not a zip, or one whose directory cannot be read."""


class ZipTooLarge(Exception):
    """Over a bound; `what` says which (members, uncompressed, ratio)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def open_bounded(data: bytes, limits: ZipLimits) -> tuple[zipfile.ZipFile,
                                                          dict[str, zipfile.ZipInfo]]:
    """The opened zip and its members by name, or NotAZip / ZipTooLarge."""
    if not data.startswith(MAGIC):
        raise NotAZip()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise NotAZip() from None
    if len(infos) > limits.max_members:
        raise ZipTooLarge("members")
    if sum(i.file_size for i in infos) > limits.max_uncompressed:
        raise ZipTooLarge("uncompressed")
    for i in infos:
        if (i.file_size > limits.ratio_floor
                and i.file_size > limits.max_ratio * max(1, i.compress_size)):
            raise ZipTooLarge("ratio")
    return zf, {i.filename: i for i in infos}
