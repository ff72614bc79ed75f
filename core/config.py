"""Configuration: config.toml defaults, overridden by LABORSIGN_<TABLE>_<KEY> variables.

The result is a tree of frozen dataclasses, so nothing can change settings at run time.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "LABORSIGN_"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "config.toml"


class ConfigError(Exception):
    """The configuration cannot be used (bad value, missing production secret)."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Public URL in SMS links, QR codes, redirects and the built-in TSA's address. Empty:
    # where the server listens (load_config fills it in, see listen_url).
    base_url: str = ""
    dev_mode: bool = False
    secret_key: str = ""
    max_body_bytes: int = 20 * 1024 * 1024
    workers: int = 1
    trusted_proxies: str = ""
    # Dev mode on a non-loopback host: refused by `laborsign serve` unless this is set.
    allow_dev_on_network: bool = False
    var_dir: str = "var"
    # "uvloop" (falls back to asyncio where it is not installed) or "asyncio"
    event_loop: str = "uvloop"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///var/laborsign.db"
    echo: bool = False
    pool_size: int = 10
    # SQLite files: run each statement on the event loop at once (storage/sqlite_inline.py)
    # instead of a hop to aiosqlite's thread and back per call: twice the signing
    # throughput at 40 % less CPU on an unloaded machine (docs/benchmarks.md).
    sqlite_inline: bool = True


@dataclass(frozen=True)
class SecurityConfig:
    session_ttl_hours: int = 168
    login_max_failures: int = 5
    login_failure_window_minutes: int = 15
    lockout_minutes: int = 15
    captcha_ttl_seconds: int = 300
    # Captcha images rendered per IP per hour (each costs CPU and a row).
    captcha_per_ip_hourly: int = 300
    # Failed password logins per IP in the failure window before the IP is slowed down.
    login_max_failures_per_ip: int = 30
    data_key: str = ""


@dataclass(frozen=True)
class SmsConfig:
    provider: str = "console"
    code_ttl_seconds: int = 300
    code_max_attempts: int = 5
    per_phone_interval_seconds: int = 60
    per_phone_hourly: int = 5
    per_phone_daily: int = 10
    per_ip_hourly: int = 30
    secret_id: str = ""
    secret_key: str = ""
    sdk_app_id: str = ""
    sign_name: str = "LaborSign"
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"
    template_code: str = ""
    template_notice: str = ""


@dataclass(frozen=True)
class IdentityConfig:
    provider: str = "dev"
    secret_id: str = ""
    secret_key: str = ""
    region: str = "ap-guangzhou"
    endpoint: str = "https://faceid.tencentcloudapi.com"
    face_rule_id: str = ""
    # Where the dev provider's liveness page is served (provider "dev"); empty: base_url.
    dev_url: str = ""


@dataclass(frozen=True)
class AgreementsConfig:
    service_version: str = "2026-11"
    privacy_version: str = "2026-11"
    certificate_version: str = "2026-11"
    personal_info_notice_version: str = "2026-11"
    biometric_notice_version: str = "2026-11"


@dataclass(frozen=True)
class OutboxConfig:
    poll_interval_seconds: float = 1.0
    max_attempts: int = 8
    # Web processes run jobs and periodic tasks too (the embedded default). Off when
    # `laborsign worker` processes do that work.
    run_in_web: bool = True


@dataclass(frozen=True)
class CpuConfig:
    # Processes of the pool for CPU-bound work (core/cpu.py); 0: one per core, at most 4.
    pool_workers: int = 0
    # How much lower their CPU priority is than the server's (os.nice); 0: the same.
    pool_nice: int = 10


@dataclass(frozen=True)
class VerifyConfig:
    """Bounds on the public verification of uploaded PDFs (docs/security.md)."""

    # Largest file, in bytes (the request body limit [server] max_body_bytes applies too).
    max_bytes: int = 20 * 1024 * 1024
    # Revisions (%%EOF markers / xref sections) and signatures per file.
    max_revisions: int = 32
    max_signatures: int = 20
    # Work on one file stops after this long; a worker still busy a little later is killed.
    time_budget_seconds: float = 15.0
    # Processes of the verification pool, apart from the pool that signs and renders.
    workers: int = 1
    # How long a verification may wait for a free worker before "busy" is answered.
    queue_wait_seconds: float = 10.0
    # Verifications per client IP (per user once logged in).
    per_ip_per_minute: int = 6
    per_ip_hourly: int = 60


@dataclass(frozen=True)
class StorageConfig:
    # local: files under file_dir | s3: an S3-compatible bucket (Aliyun OSS, Tencent COS,
    # MinIO, AWS S3), private, reached with the keys below.
    backend: str = "local"
    file_dir: str = "var/files"
    endpoint_url: str = ""
    region: str = ""
    bucket: str = ""
    # Objects live under this prefix, so one bucket can serve several installations.
    key_prefix: str = "laborsign"
    # path: endpoint/bucket/key (MinIO) | virtual: bucket.endpoint/key (OSS, COS, AWS)
    addressing_style: str = "virtual"
    # Lifetime of a signed GET URL minted by the S3 store.
    url_ttl_seconds: int = 300
    # Only from the environment (LABORSIGN_STORAGE_S3_ACCESS_KEY_ID and
    # LABORSIGN_STORAGE_S3_SECRET_ACCESS_KEY).
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""


@dataclass(frozen=True)
class SigningConfig:
    ca_dir: str = "var/ca"
    key_algorithm: str = "ecdsa-p256"
    kek: str = ""
    tsa_url: str = ""
    font_path: str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    max_upload_bytes: int = 10 * 1024 * 1024
    # The font collection index of the Simplified Chinese face (Noto CJK: 2 = SC).
    font_index: int = 2
    # The pre-made personal name seal (预制人名章): an engraved-looking Song face (same
    # collection index); font_path is used when this file is missing.
    name_seal_font_path: str = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
    cert_validity_days: int = 1095
    grant_ttl_seconds: int = 300
    # Where new signer keys live: db (wrapped with the KEK) | pkcs11 (token below).
    key_store: str = "db"
    pkcs11_lib: str = ""
    pkcs11_token_label: str = ""
    pkcs11_pin: str = ""


@dataclass(frozen=True)
class TemplatesConfig:
    """Word (.docx) templates, converted to PDF by LibreOffice (docs/templates.md)."""

    # The LibreOffice program (a name on PATH or a path); when it cannot be found, only
    # PDF templates are accepted.
    soffice: str = "soffice"
    # One conversion is killed (with everything it started) after this long.
    convert_timeout_seconds: float = 60.0
    # Conversions at once per process; more wait (up to the timeout) for a free slot.
    convert_concurrency: int = 1
    # How much lower the converter's CPU priority is than the server's (nice); 0: the same.
    convert_nice: int = 10


@dataclass(frozen=True)
class WechatConfig:
    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    encoding_aes_key: str = ""
    previous_encoding_aes_key: str = ""
    # console (dev: outgoing messages recorded for the simulator) | http (the real API)
    client: str = "console"
    api_base_url: str = "https://api.weixin.qq.com"
    oauth_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    api_timeout_seconds: float = 5.0
    # Replies that take longer are sent later as a customer-service message.
    reply_budget_seconds: float = 4.0
    max_body_bytes: int = 65536
    scene_ttl_seconds: int = 600
    onboarding_scene_ttl_days: int = 30
    template_to_sign: str = ""
    template_urged: str = ""
    template_completed: str = ""
    template_review_result: str = ""
    # The custom menu (JSON as the menu/create API takes it); EventKeys are in docs/wechat.md.
    menu_json: str = ""


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    agreements: AgreementsConfig = field(default_factory=AgreementsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    cpu: CpuConfig = field(default_factory=CpuConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    wechat: WechatConfig = field(default_factory=WechatConfig)

    @property
    def var_dir(self) -> Path:
        return resolve_path(self.server.var_dir)

    def replace(self, **tables: Mapping[str, Any]) -> Config:
        """A copy with some keys changed: `cfg.replace(server={"port": 0})`."""
        changed = {
            name: dataclasses.replace(getattr(self, name), **values)
            for name, values in tables.items()
        }
        return dataclasses.replace(self, **changed)


def resolve_path(value: str) -> Path:
    """Relative paths in the config are relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


def _coerce(raw: str, kind: type, name: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from exc


# Credentials that must never sit in a file that may be committed or copied around.
ENV_ONLY = {"storage": {"s3_access_key_id", "s3_secret_access_key"}}


def _build_table(cls: type, values: Mapping[str, Any], table: str, env: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"[{table}] unknown keys: {', '.join(sorted(unknown))}")
    in_file = set(values) & ENV_ONLY.get(table, set())
    if in_file:
        names = ", ".join(f"{ENV_PREFIX}{table.upper()}_{n.upper()}" for n in sorted(in_file))
        raise ConfigError(f"[{table}] {', '.join(sorted(in_file))}: set {names} "
                          "in the environment instead")
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        env_name = f"{ENV_PREFIX}{table.upper()}_{f.name.upper()}"
        if env_name in env:
            kwargs[f.name] = _coerce(env[env_name], kind, env_name)
        elif f.name in values:
            value = values[f.name]
            if kind is float and isinstance(value, int):
                value = float(value)
            if not isinstance(value, kind):
                raise ConfigError(f"[{table}] {f.name}: expected {kind.__name__}")
            kwargs[f.name] = value
    return cls(**kwargs)


def listen_url(host: str, port: int) -> str:
    """The URL of the address the server listens on, as a browser on this machine reaches
    it: a wildcard host (all interfaces) is reached through the loopback address."""
    if host in {"", "0.0.0.0", "::", "[::]"}:  # noqa: S104 - a comparison, not a bind
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """The file, then LABORSIGN_* variables, then `overrides` (command-line options such as
    `serve --port`), each winning over the one before.

    An empty [server] base_url follows the host and port finally in force: the links,
    redirects and the built-in TSA must point where the server really listens.
    """
    env = os.environ if env is None else env
    path = Path(path or env.get(f"{ENV_PREFIX}CONFIG") or DEFAULT_CONFIG_PATH)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    hints = get_type_hints(Config)
    unknown = set(data) - set(hints)
    if unknown:
        raise ConfigError(f"unknown config tables: {', '.join(sorted(unknown))}")
    tables = {name: _build_table(hints[name], data.get(name, {}), name, env) for name in hints}
    config = Config(**tables).replace(**(overrides or {}))
    if not config.server.base_url:
        config = config.replace(
            server={"base_url": listen_url(config.server.host, config.server.port)}
        )
    return config


def ensure_secrets(config: Config) -> Config:
    """Fill empty secrets in dev mode (kept under var/); refuse to run without in production."""
    if config.server.secret_key:
        return config
    if not config.server.dev_mode:
        raise ConfigError("LABORSIGN_SERVER_SECRET_KEY must be set when dev_mode is off")
    key_file = config.var_dir / "secret_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return config.replace(server={"secret_key": key_file.read_text().strip()})
