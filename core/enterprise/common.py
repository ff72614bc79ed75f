"""Helpers shared by the enterprise services: audit shortcut and the field cipher."""

from __future__ import annotations

from typing import Any

from core import audit
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher
from storage.uow import Tx


def cipher(deps: Deps) -> FieldCipher:
    cached = deps.extra.get("_field_cipher")
    if cached is None:
        cached = FieldCipher.from_config(deps.config)
        deps.extra["_field_cipher"] = cached
    return cached


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
