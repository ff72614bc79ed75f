"""FileStore on S3-compatible object storage (Aliyun OSS, Tencent COS, MinIO, AWS S3).

Objects are written without any ACL, so they stay as private as the bucket (which must
not be public); nobody reads them without our keys or a short-lived signed URL. Keys are
the same random, unguessable `area/<32 hex>.<ext>` as on local disk, under key_prefix.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore.store import S3Store

if TYPE_CHECKING:  # a TypedDict the library declares for type checkers only
    from obstore.store import ClientConfig

from core.config import ConfigError, StorageConfig
from core.files import content_type_for
from storage.files import check_key, new_key

ADDRESSING = {"path": False, "virtual": True}


class S3FileStore:
    name = "s3"

    def __init__(self, cfg: StorageConfig) -> None:
        if not cfg.bucket:
            raise ConfigError("[storage] bucket must be set when backend = \"s3\"")
        if not (cfg.s3_access_key_id and cfg.s3_secret_access_key):
            raise ConfigError("LABORSIGN_STORAGE_S3_ACCESS_KEY_ID and "
                              "LABORSIGN_STORAGE_S3_SECRET_ACCESS_KEY must be set")
        if cfg.addressing_style not in ADDRESSING:
            raise ConfigError("[storage] addressing_style: path | virtual")
        if not 1 <= cfg.url_ttl_seconds <= 3600:
            raise ConfigError("[storage] url_ttl_seconds: between 1 and 3600")
        self.url_ttl = timedelta(seconds=cfg.url_ttl_seconds)
        options: ClientConfig = {"allow_http": cfg.endpoint_url.startswith("http://"),
                         "connect_timeout": timedelta(seconds=5),
                         "timeout": timedelta(seconds=60)}
        extra: dict = {"endpoint": cfg.endpoint_url} if cfg.endpoint_url else {}
        self._store = S3Store(
            cfg.bucket,
            prefix=cfg.key_prefix.strip("/") or None,
            region=cfg.region or "us-east-1",
            access_key_id=cfg.s3_access_key_id,
            secret_access_key=cfg.s3_secret_access_key,
            virtual_hosted_style_request=ADDRESSING[cfg.addressing_style],
            client_options=options,
            retry_config={"max_retries": 3, "backoff": {"init_backoff": timedelta(milliseconds=100),
                                                        "max_backoff": timedelta(seconds=2),
                                                        "base": 2},
                          "retry_timeout": timedelta(seconds=30)},
            **extra,
        )

    def put(self, area: str, data: bytes, ext: str) -> str:
        key = new_key(area, ext)
        obstore.put(self._store, key, data, attributes={"Content-Type": content_type_for(key)})
        return key

    def get(self, key: str) -> bytes:
        # obstore's NotFoundError is a FileNotFoundError, as the port promises
        return bytes(obstore.get(self._store, check_key(key)).bytes())

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self._store, check_key(key))
        except (KeyError, FileNotFoundError):
            return False
        return True

    def delete(self, key: str) -> None:
        obstore.delete(self._store, check_key(key))

    def signed_url(self, key: str, ttl: timedelta | None = None) -> str:
        """A GET URL that works for url_ttl_seconds (or ttl, never longer), then expires."""
        ttl = min(ttl or self.url_ttl, self.url_ttl)
        return obstore.sign(self._store, "GET", check_key(key), ttl)
