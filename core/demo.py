"""`laborsign demo`: seed demo users so anyone can click through the product at once."""

from __future__ import annotations

from typing import Any

from core.context import Deps

# Printed by the command and shown in the README: a demo, not a secret.
DEMO_PASSWORD = "Demo@2026"  # noqa: S105


async def seed_demo(deps: Deps, deliverers: dict[str, Any] | None = None) -> list[str]:
    from core.accounts import ensure_demo_user
    from core.contracts.demo import ENTERPRISE_NAME, seed_signed_sample

    base = deps.config.server.base_url.rstrip("/")
    ids = [await ensure_demo_user(deps, phone=phone, password=DEMO_PASSWORD)
           for phone in ("13800000001", "13800000002")]
    lines = [
        "Demo data ready.",
        f"Open {base}/ (the server: scripts/run.sh) and log in with password {DEMO_PASSWORD}:",
        "  13800000001  张三, employee: 我的合同 holds the signed contract",
        f"  13800000002  李四, HR and main admin of {ENTERPRISE_NAME}",
        f"               (certified, holds the contract seal): {base}/console",
    ]
    # Signing: a certified enterprise and a fully signed two-party sample contract.
    lines += await seed_signed_sample(deps, employee_id=ids[0], hr_id=ids[1],
                                      out_dir=deps.config.var_dir / "demo",
                                      deliverers=deliverers)
    return lines
