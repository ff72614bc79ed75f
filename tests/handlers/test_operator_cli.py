"""`laborsign operator create PHONE` makes a registered user a platform operator."""

from __future__ import annotations

from core.enterprise.operators import is_operator
from handlers.cli import main
from tests.enterprise_factories import make_user, new_phone


def _config_file(tmp_path, db_url: str, var: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[server]\nsecret_key = "test-secret-key-not-for-production"\nvar_dir = "{var}"\n'
        f'[database]\nurl = "{db_url}"\n'
    )
    return str(path)


async def test_operator_create(deps, db_url, tmp_path) -> None:
    import asyncio

    phone = new_phone()
    user = await make_user(deps, phone)
    cfg = _config_file(tmp_path, db_url, str(tmp_path / "var"))
    assert await asyncio.to_thread(main, ["--config", cfg, "operator", "create", phone]) == 0
    assert await is_operator(deps, user)
    unknown = await asyncio.to_thread(main, ["--config", cfg, "operator", "create", new_phone()])
    assert unknown == 1
