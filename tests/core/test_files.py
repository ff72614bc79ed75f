"""The FileStore port on both backends: local disk and a real S3-compatible server.

The S3 store is checked against moto's server over HTTP (tests/s3_support.py): private
objects, unguessable keys, the port's not-found error, hash checks on read, and signed
GET URLs that a plain HTTP client can use and that expire.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from core.config import ConfigError, load_config
from core.errors import ProviderUnavailable
from core.files import read_verified
from core.ports import FileStore
from handlers.app import build_files
from storage.files import KEY_RE
from tests.s3_support import S3Server

BACKENDS = pytest.mark.parametrize("storage_backend", ["local", "s3"])
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


@pytest.fixture
def store(config) -> FileStore:
    return build_files(config)


@BACKENDS
def test_round_trip(store: FileStore, storage_backend: str) -> None:
    assert store.name == storage_backend
    key = store.put("contract", PDF, "pdf")
    assert store.exists(key)
    assert store.get(key) == PDF
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(FileNotFoundError):
        store.get(key)
    store.delete(key)  # deleting what is gone is not an error


@BACKENDS
def test_missing_and_malformed_keys(store: FileStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.get("contract/" + "0" * 32 + ".pdf")
    assert not store.exists("contract/" + "0" * 32 + ".pdf")
    for bad in ("../etc/passwd", "contract/x.pdf", "/contract/" + "0" * 32 + ".pdf"):
        with pytest.raises(KeyError):
            store.get(bad)
        assert not store.exists(bad)


@BACKENDS
def test_keys_are_random_and_never_reused(store: FileStore) -> None:
    keys = {store.put("seal", b"png", "png") for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert KEY_RE.match(key) and re.fullmatch(r"seal/[0-9a-f]{32}\.png", key)


@BACKENDS
def test_a_changed_or_missing_object_is_refused_with_its_code(
    store: FileStore, storage_backend: str, config, request: pytest.FixtureRequest
) -> None:
    from core.crypto import sha256_hex

    key = store.put("contract", PDF, "pdf")
    assert read_verified(store, key, sha256_hex(PDF)) == PDF
    tampered = PDF.replace(b"1.7", b"1.4")
    if storage_backend == "local":
        (Path(config.storage.file_dir) / key).write_bytes(tampered)
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        server.client().put_object(Bucket=config.storage.bucket,
                                   Key=f"{config.storage.key_prefix}/{key}", Body=tampered)
    assert store.get(key) == tampered
    with pytest.raises(ProviderUnavailable) as caught:
        read_verified(store, key, sha256_hex(PDF))
    assert caught.value.code == "file_integrity"
    store.delete(key)
    with pytest.raises(ProviderUnavailable) as caught:
        read_verified(store, key, sha256_hex(PDF))
    assert caught.value.code == "file_missing"  # lost: an answer with a code, not a crash


# S3 only: what a browser or another system sees of the bucket.

S3 = pytest.mark.parametrize("storage_backend", ["s3"])


async def _http_get(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), response.content_type


@S3
async def test_objects_are_private(store, config, s3_server: S3Server) -> None:
    key = await asyncio.to_thread(store.put, "licence", b"\x89PNG licence", "png")
    plain = f"{s3_server.endpoint_url}/{config.storage.bucket}/{config.storage.key_prefix}/{key}"
    status, body, _ = await _http_get(plain)
    assert status == 403 and b"licence" not in body


@S3
async def test_signed_url_works_over_plain_http_and_is_short_lived(store) -> None:
    key = await asyncio.to_thread(store.put, "contract", PDF, "pdf")
    url = store.signed_url(key)
    status, body, ctype = await _http_get(url)
    assert (status, body, ctype) == (200, PDF, "application/pdf")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"]  # url_ttl_seconds
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(signed_at - datetime.now(UTC)) < timedelta(minutes=1)
    # A caller may ask for less time, never for more.
    assert parse_qs(urlsplit(store.signed_url(key, timedelta(seconds=5))).query)[
        "X-Amz-Expires"] == ["5"]
    assert parse_qs(urlsplit(store.signed_url(key, timedelta(days=7))).query)[
        "X-Amz-Expires"] == ["300"]
    # SigV4 query signing (moto accepts any signature, so its shape is what we check here;
    # real OSS/COS/MinIO verify it): our key id, only the host header signed.
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("AKIATESTLABORSIGN0001/")
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"][0])


@S3
def test_s3_settings_are_checked(config) -> None:
    with pytest.raises(ConfigError, match="S3_ACCESS_KEY_ID"):
        build_files(config.replace(storage={"s3_secret_access_key": ""}))
    with pytest.raises(ConfigError, match="bucket"):
        build_files(config.replace(storage={"bucket": ""}))
    with pytest.raises(ConfigError, match="addressing_style"):
        build_files(config.replace(storage={"addressing_style": "dns"}))


def test_s3_keys_come_only_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[storage]\nbackend = "s3"\ns3_secret_access_key = "oops"\n')
    with pytest.raises(ConfigError, match="LABORSIGN_STORAGE_S3_SECRET_ACCESS_KEY"):
        load_config(path, env={})
    path.write_text('[storage]\nbackend = "s3"\nbucket = "b"\n')
    cfg = load_config(path, env={"LABORSIGN_STORAGE_S3_ACCESS_KEY_ID": "id",
                                 "LABORSIGN_STORAGE_S3_SECRET_ACCESS_KEY": "secret"})
    assert (cfg.storage.s3_access_key_id, cfg.storage.s3_secret_access_key) == ("id", "secret")
