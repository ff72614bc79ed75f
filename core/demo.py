"""`laborsign demo`: seed demo users so anyone can click through the product at once."""

from __future__ import annotations

from typing import Any

from core.context import Deps

# Printed by the command and shown in the README: a demo, not a secret.
DEMO_PASSWORD = "Demo@2026"  # noqa: S105


async def seed_demo(deps: Deps, deliverers: dict[str, Any] | None = None) -> list[str]:
    from core.accounts import ensure_demo_user

    lines = [f"demo accounts (password {DEMO_PASSWORD}):"]
    ids = []
    for phone, name in (("13800000001", "张三（员工）"), ("13800000002", "李四（HR）")):
        ids.append(await ensure_demo_user(deps, phone=phone, password=DEMO_PASSWORD))
        lines.append(f"  {phone}  {name}")
    # Signing: a certified enterprise and a fully signed two-party sample contract.
    from core.contracts.demo import seed_signed_sample

    lines += await seed_signed_sample(deps, employee_id=ids[0], hr_id=ids[1],
                                      out_dir=deps.config.var_dir / "demo",
                                      deliverers=deliverers)
    return lines
