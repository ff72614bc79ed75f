"""`laborsign demo`: seed demo users so anyone can click through the product at once."""

from __future__ import annotations

from core.context import Deps

# Printed by the command and shown in the README: a demo, not a secret.
DEMO_PASSWORD = "Demo@2026"  # noqa: S105


async def seed_demo(deps: Deps) -> list[str]:
    from core.accounts import ensure_demo_user

    lines = [f"demo accounts (password {DEMO_PASSWORD}):"]
    for phone, name in (("13800000001", "张三（员工）"), ("13800000002", "李四（HR）")):
        await ensure_demo_user(deps, phone=phone, password=DEMO_PASSWORD)
        lines.append(f"  {phone}  {name}")
    return lines
