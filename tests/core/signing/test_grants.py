"""A key is usable only through a fresh, single-use, document-bound authorization."""

from __future__ import annotations

import dataclasses

import pytest

from core.crypto import sha256_hex
from core.errors import Conflict, PermissionDenied
from core.signing import service
from tests.core.signing.factories import verified_person

DOC = b"%PDF-1.7 the contract the person saw"


async def _grant(deps, user_id: str, cert_id: str, document: bytes = DOC):
    return await service.grant_signing(
        deps,
        certificate_id=cert_id,
        actor_id=user_id,
        purpose="contract c-1",
        document_sha256=sha256_hex(document),
        confirmation_ref="sms-1",
    )


async def _person(deps):
    user_id = await verified_person(deps)
    cert = await service.issue_person_certificate(deps, user_id)
    return user_id, cert


async def test_confirmed_grant_unlocks_the_key_once(deps) -> None:
    user_id, cert = await _person(deps)
    grant = await _grant(deps, user_id, cert.id)
    material = await service.unlock_signer(deps, grant, document_sha256=sha256_hex(DOC))
    assert material.certificate_der
    assert "wrapped" not in repr(material)  # key bytes never show up in logs
    with pytest.raises(Conflict) as caught:
        await service.unlock_signer(deps, grant, document_sha256=sha256_hex(DOC))
    assert caught.value.code == "grant_used"


async def test_forged_authorization_is_refused(deps) -> None:
    user_id, cert = await _person(deps)
    grant = await _grant(deps, user_id, cert.id)
    forged = dataclasses.replace(grant, token="guessed-token")
    with pytest.raises(PermissionDenied):
        await service.unlock_signer(deps, forged, document_sha256=sha256_hex(DOC))


async def test_unlock_without_an_authorization_object_is_refused(deps) -> None:
    with pytest.raises(PermissionDenied):
        await service.unlock_signer(deps, "grant-id", document_sha256=sha256_hex(DOC))  # type: ignore[arg-type]


async def test_grant_expires(deps, clock) -> None:
    user_id, cert = await _person(deps)
    grant = await _grant(deps, user_id, cert.id)
    clock.advance(seconds=deps.config.signing.grant_ttl_seconds + 1)
    with pytest.raises(Conflict) as caught:
        await service.unlock_signer(deps, grant, document_sha256=sha256_hex(DOC))
    assert caught.value.code == "grant_expired"


async def test_grant_is_bound_to_the_confirmed_document(deps) -> None:
    user_id, cert = await _person(deps)
    grant = await _grant(deps, user_id, cert.id)
    with pytest.raises(PermissionDenied):
        await service.unlock_signer(deps, grant, document_sha256=sha256_hex(b"another"))


async def test_person_cannot_use_another_persons_certificate(deps) -> None:
    _, cert = await _person(deps)
    other = await verified_person(deps, "王五", phone="13800000002")
    with pytest.raises(PermissionDenied):
        await _grant(deps, other, cert.id)


async def test_grant_needs_a_confirmation(deps) -> None:
    user_id, cert = await _person(deps)
    with pytest.raises(PermissionDenied):
        await service.grant_signing(
            deps, certificate_id=cert.id, actor_id=user_id, purpose="x",
            document_sha256=sha256_hex(DOC), confirmation_ref="",
        )


async def test_revoked_certificate_cannot_be_unlocked(deps) -> None:
    user_id, cert = await _person(deps)
    grant = await _grant(deps, user_id, cert.id)
    await service.revoke_certificate(deps, cert.id, reason="key_compromise", actor_id="admin")
    with pytest.raises(Conflict) as caught:
        await service.unlock_signer(deps, grant, document_sha256=sha256_hex(DOC))
    assert caught.value.code == "certificate_revoked"
