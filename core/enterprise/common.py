"""Helpers shared by the enterprise services: audit shortcut, field cipher, hook lookup.

Hooks are looked up by name in `deps.extra`, so the signing engine can plug in later
without this package importing it:

- ``deps.extra["issue_enterprise_certificate"]``: ``async (tx, deps, enterprise) -> str | None``
  issues the enterprise certificate, returns its Certificate id. Absent: the enterprise is
  certified without a certificate yet (``certificate_id`` stays None).
- ``deps.extra["revoke_certificate"]``: ``async (tx, deps, certificate_id, reason) -> None``.
  Absent: voiding a seal only marks it voided.
- ``deps.extra["seal_images"]``: ``async (enterprise_name, kind, seal_name, credit_code)
  -> bytes`` returns a PNG. Absent: generated seals keep ``image_state = "pending"``
  (shown as 待生成图片) until `seals.render_pending_seal_images` runs with the hook.
- ``deps.extra["contract_monthly_counts"]``: ``async (deps, enterprise_id, months) ->
  list[tuple[str, int, int]]`` for the dashboard chart. Absent: zeros.
"""

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


def hook(deps: Deps, name: str) -> Any:
    return deps.extra.get(name)


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
