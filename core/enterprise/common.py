"""Helpers shared by the enterprise services: audit shortcut, field cipher, upload clean-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core import audit
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher
from core.files import file_store
from storage.uow import Tx

_log = logging.getLogger(__name__)


def cipher(deps: Deps) -> FieldCipher:
    return deps.field_cipher


async def log(
    tx: Tx,
    deps: Deps,
    action: str,
    *,
    actor_id: str | None,
    enterprise_id: str | None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    data: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
) -> None:
    await audit.record(
        tx, at=deps.clock.now(), action=action, actor_id=actor_id, tenant_id=enterprise_id,
        subject_type=subject_type, subject_id=subject_id, data=data, meta=meta,
    )


@asynccontextmanager
async def discard_on_error(deps: Deps, key: str | None) -> AsyncIterator[None]:
    """Delete a file stored ahead of its transaction if that transaction fails.

    Uploads are written before the transaction (no file I/O while holding the write
    lock); a refused request must not leave an unreferenced file behind.
    """
    try:
        yield
    except BaseException:
        if key:
            try:
                await asyncio.to_thread(file_store(deps).delete, key)
            except Exception:  # the original error matters more than the clean-up
                _log.warning("could not delete orphaned upload", extra={"key": key})
        raise
