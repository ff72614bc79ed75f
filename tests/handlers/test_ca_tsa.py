"""The CA's public endpoints and the built-in RFC 3161 TSA over HTTP."""

from __future__ import annotations

import hashlib

from asn1crypto import tsp
from cryptography import x509

from core.signing import service
from core.signing.tsa import StatusOnlyResponse
from tests.core.signing.factories import verified_person


def _query(digest: bytes, algorithm: str = "sha256") -> bytes:
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": algorithm},
                "hashed_message": digest,
            },
            "nonce": 12345,
            "cert_req": True,
        }
    ).dump()


async def test_crl_is_served_as_der_and_signed_by_the_issuing_ca(client, deps) -> None:
    resp = await client.get("/ca/crl")
    assert resp.status == 200 and resp.content_type == "application/pkix-crl"
    crl = x509.load_der_x509_crl(await resp.read())
    issuer = service.engine(deps).ca.issuing_certificate()
    assert crl.issuer == issuer.subject
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]


async def test_crl_lists_a_revoked_certificate(client, deps) -> None:
    info = await service.issue_person_certificate(deps, await verified_person(deps))
    await service.revoke_certificate(deps, info.id, reason="key_compromise", actor_id="admin")
    crl = x509.load_der_x509_crl(await (await client.get("/ca/crl")).read())
    assert crl.get_revoked_certificate_by_serial_number(int(info.serial, 16)) is not None


async def test_root_certificate_is_downloadable(client, deps) -> None:
    resp = await client.get("/ca/root.crt")
    assert resp.status == 200
    root = x509.load_der_x509_certificate(await resp.read())
    assert root == service.engine(deps).ca.root_certificate()
    root_crl = await client.get("/ca/root.crl")
    assert root_crl.status == 200
    crl = x509.load_der_x509_crl(await root_crl.read())
    assert crl.issuer == root.subject
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    ca_resp = await client.get("/ca/ca.crt")
    assert ca_resp.status == 200
    issuing = x509.load_der_x509_certificate(await ca_resp.read())
    assert issuing == service.engine(deps).ca.issuing_certificate()
    assert issuing.issuer == root.subject


async def test_tsa_grants_a_token_over_the_imprint(client) -> None:
    digest = hashlib.sha256(b"document").digest()
    resp = await client.post(
        "/tsa", data=_query(digest), headers={"Content-Type": "application/timestamp-query"}
    )
    assert resp.status == 200 and resp.content_type == "application/timestamp-reply"
    reply = tsp.TimeStampResp.load(await resp.read())
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 12345


async def test_tsa_rejects_a_wrong_length_imprint(client) -> None:
    resp = await client.post(
        "/tsa", data=_query(b"short"), headers={"Content-Type": "application/timestamp-query"}
    )
    reply = StatusOnlyResponse.load(await resp.read())
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {"bad_data_format"}


async def test_tsa_answers_garbage_with_a_rejection(client) -> None:
    resp = await client.post(
        "/tsa", data=b"\x30\x03garbage", headers={"Content-Type": "application/timestamp-query"}
    )
    assert resp.status == 200
    reply = StatusOnlyResponse.load(await resp.read())
    assert reply["status"]["status"].native == "rejection"


async def test_tsa_needs_the_timestamp_content_type(client) -> None:
    resp = await client.post("/tsa", data=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415


async def test_tsa_refuses_oversized_requests(client) -> None:
    resp = await client.post(
        "/tsa", data=b"0" * 20000, headers={"Content-Type": "application/timestamp-query"}
    )
    assert resp.status == 413
