from pathlib import Path

import pytest

from core.config import ConfigError, ensure_secrets, load_config


def test_defaults_load_from_the_shipped_file() -> None:
    config = load_config(env={})
    assert config.database.url.startswith("sqlite+aiosqlite:///")
    assert config.server.dev_mode is True


def test_environment_overrides_any_key_with_its_type() -> None:
    config = load_config(
        env={
            "LABORSIGN_SERVER_PORT": "9090",
            "LABORSIGN_SERVER_DEV_MODE": "false",
            "LABORSIGN_DATABASE_URL": "postgresql+asyncpg://x/y",
            "LABORSIGN_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
        }
    )
    assert (config.server.port, config.server.dev_mode) == (9090, False)
    assert config.database.url == "postgresql+asyncpg://x/y"
    assert config.outbox.poll_interval_seconds == 0.5


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="LABORSIGN_SERVER_PORT"):
        load_config(env={"LABORSIGN_SERVER_PORT": "eighty"})


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nprot = 1\n')
    with pytest.raises(ConfigError, match="prot"):
        load_config(path, env={})


def test_production_refuses_to_start_without_secret(tmp_path: Path) -> None:
    config = load_config(env={}).replace(
        server={"dev_mode": False, "secret_key": "", "var_dir": str(tmp_path)}
    )
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        ensure_secrets(config)


def test_dev_mode_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    config = load_config(env={}).replace(server={"secret_key": "", "var_dir": str(tmp_path)})
    first = ensure_secrets(config).server.secret_key
    assert len(first) > 40
    assert ensure_secrets(config).server.secret_key == first


def test_domain_errors_survive_pickling_across_the_process_pool() -> None:
    import pickle

    from core.errors import InvalidInput, RateLimited

    err = pickle.loads(pickle.dumps(InvalidInput("签名图片过大", code="too_big", field="f")))
    assert (err.code, err.message, err.field, err.status) == ("too_big", "签名图片过大", "f", 400)
    limited = pickle.loads(pickle.dumps(RateLimited(retry_after=7)))
    assert limited.retry_after == 7 and limited.status == 429


def test_unset_base_url_follows_the_port_and_host_in_force(tmp_path: Path) -> None:
    assert load_config(env={}).server.base_url == "http://127.0.0.1:8080"
    moved = load_config(env={"LABORSIGN_SERVER_PORT": "8611"})
    assert moved.server.base_url == "http://127.0.0.1:8611"
    # `serve --port` / `--host` come last; all interfaces are reached through loopback.
    served = load_config(env={"LABORSIGN_SERVER_PORT": "8611"},
                         overrides={"server": {"port": 8612, "host": "0.0.0.0"}})  # noqa: S104
    assert served.server.base_url == "http://127.0.0.1:8612"
    assert load_config(env={"LABORSIGN_SERVER_HOST": "::1"}).server.base_url == \
        "http://[::1]:8080"
    # A config file without the key at all behaves the same.
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9001\n')
    assert load_config(path, env={}).server.base_url == "http://127.0.0.1:9001"


def test_a_set_base_url_is_kept_whatever_the_port(tmp_path: Path) -> None:
    env = {"LABORSIGN_SERVER_BASE_URL": "https://sign.example.com"}
    config = load_config(env=env, overrides={"server": {"port": 8611}})
    assert (config.server.port, config.server.base_url) == (8611, "https://sign.example.com")
    path = tmp_path / "c.toml"
    path.write_text('[server]\nbase_url = "http://10.0.0.5:8080"\nport = 9001\n')
    assert load_config(path, env={}).server.base_url == "http://10.0.0.5:8080"
