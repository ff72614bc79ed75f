"""Contract pages as images for the phone: rendered in the process pool, cached on disk by
document hash (a version's bytes never change, so its images never go stale)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from core.context import Deps
from core.contracts import access, common
from core.contracts.engine import render_page
from core.cpu import run_cpu
from core.errors import InvalidInput
from core.files import read_verified

WIDTHS = (480, 800, 1200)
DEFAULT_WIDTH = 800


def _cache_dir(deps: Deps) -> Path:
    return deps.config.var_dir / "cache" / "pages"


def _cached(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def page_png(deps: Deps, key: str, sha256: str, page: int, width: int) -> bytes:
    if width not in WIDTHS:
        width = DEFAULT_WIDTH
    path = _cache_dir(deps) / sha256[:2] / f"{sha256}-{page}-{width}.png"
    found = await asyncio.to_thread(_cached, path)
    if found is not None:
        return found
    pdf = await asyncio.to_thread(read_verified, common.store(deps), key, sha256)
    png = await run_cpu(render_page, pdf, page, width)
    await asyncio.to_thread(_write, path, png)
    return png


async def contract_page(
    deps: Deps, user_id: str, contract_id: str, page: int, width: int = DEFAULT_WIDTH
) -> bytes:
    """Page `page` (0-based) of the contract's current version, for a party."""
    key, sha256, count = await access.document_for_pages(deps, user_id, contract_id)
    if not 0 <= page < count:
        raise InvalidInput("页码超出范围", code="page_out_of_range", field="page")
    return await page_png(deps, key, sha256, page, width)
