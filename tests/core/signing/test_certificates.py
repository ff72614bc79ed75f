"""The local CA, key wrapping and certificate issuance."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from sqlalchemy import select

from core.errors import Conflict
from core.signing import keys, service
from core.signing.local_ca import LocalCertificateAuthority
from storage.models import AuditEntry, Certificate
from tests.core.signing.factories import verified_person


def test_ca_is_created_once_and_reloaded_from_disk(tmp_path) -> None:
    kek = b"k" * 32
    first = LocalCertificateAuthority(tmp_path, kek, key_algorithm="ecdsa-p256",
                                      base_url="http://x")
    second = LocalCertificateAuthority(tmp_path, kek, key_algorithm="ecdsa-p256",
                                       base_url="http://x")
    assert first.root_certificate() == second.root_certificate()
    assert first.issuing_certificate().issuer == first.root_certificate().subject


def test_ca_keys_on_disk_are_wrapped_and_need_the_kek(tmp_path) -> None:
    ca = LocalCertificateAuthority(tmp_path, b"k" * 32, key_algorithm="ecdsa-p256",
                                   base_url="http://x")
    ca.ensure()
    for name in ("root.key.enc", "ca.key.enc", "tsa.key.enc"):
        data = (tmp_path / name).read_bytes()
        assert b"PRIVATE KEY" not in data
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    other = LocalCertificateAuthority(tmp_path, b"x" * 32, key_algorithm="ecdsa-p256",
                                      base_url="http://x")
    with pytest.raises(keys.KeyUnwrapError):
        other.ensure()


def test_wrapped_key_only_opens_under_its_own_label() -> None:
    kek = b"k" * 32
    wrapped = keys.wrap(kek, "ls-a", b"secret key bytes")
    assert keys.unwrap(kek, "ls-a", wrapped) == b"secret key bytes"
    with pytest.raises(keys.KeyUnwrapError):
        keys.unwrap(kek, "ls-b", wrapped)


def test_tsa_certificate_is_for_time_stamping_only(tmp_path) -> None:
    ca = LocalCertificateAuthority(tmp_path, b"k" * 32, key_algorithm="ecdsa-p256",
                                   base_url="http://x")
    cert, _ = ca.tsa_material()
    eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku.critical
    assert list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


async def test_person_certificate_names_the_verified_person(deps) -> None:
    user_id = await verified_person(deps, "李四")
    info = await service.issue_person_certificate(deps, user_id)
    cert = x509.load_pem_x509_certificate(info.cert_pem.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "李四"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"P{user_id}"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://127.0.0.1:8080/ca/crl"
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "http://127.0.0.1:8080/ca/ca.crt"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


async def test_person_private_key_is_stored_wrapped(deps) -> None:
    user_id = await verified_person(deps)
    info = await service.issue_person_certificate(deps, user_id)
    async with deps.db.transaction() as tx:
        row = await tx.session.get(Certificate, info.id)
        assert row is not None and row.key_cipher is not None
        assert row.key_store == "db"
        assert b"PRIVATE" not in row.key_cipher
        actions = (await tx.session.execute(select(AuditEntry.action))).scalars().all()
    assert "certificate.issued" in actions


async def test_unverified_person_gets_no_certificate(deps) -> None:
    user_id = await verified_person(deps)
    async with deps.db.transaction() as tx:
        from storage.models import User

        user = await tx.session.get(User, user_id)
        assert user is not None
        user.identity_state = "unverified"
    with pytest.raises(Conflict) as caught:
        await service.issue_person_certificate(deps, user_id)
    assert caught.value.code == "identity_not_verified"


async def test_issuing_twice_returns_the_same_certificate(deps) -> None:
    user_id = await verified_person(deps)
    first = await service.issue_person_certificate(deps, user_id)
    second = await service.issue_person_certificate(deps, user_id)
    assert first.id == second.id


async def test_enterprise_certificate_carries_name_and_credit_code(deps) -> None:
    info = await service.issue_enterprise_certificate(
        deps, "ent-9", name="示例科技有限公司", credit_code="91330100MA2CXXXX0X"
    )
    cert = x509.load_pem_x509_certificate(info.cert_pem.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "示例科技有限公司"
    )
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        "91330100MA2CXXXX0X"
    )


async def test_rsa_mode_issues_rsa_keys(config, clock) -> None:
    from handlers.app import build_deps

    deps = build_deps(config.replace(signing={"key_algorithm": "rsa-2048"}), clock=clock)
    try:
        user_id = await verified_person(deps)
        info = await service.issue_person_certificate(deps, user_id)
        cert = x509.load_pem_x509_certificate(info.cert_pem.encode())
        assert isinstance(cert.public_key(), rsa.RSAPublicKey)
        assert cert.public_key().key_size == 2048
        root = service.engine(deps).ca.root_certificate()
        assert isinstance(root.public_key(), rsa.RSAPublicKey)
    finally:
        await deps.db.dispose()


async def test_revoked_certificate_is_listed_in_the_crl(deps) -> None:
    user_id = await verified_person(deps)
    info = await service.issue_person_certificate(deps, user_id)
    before = x509.load_der_x509_crl(await service.crl_der(deps))
    assert before.get_revoked_certificate_by_serial_number(int(info.serial, 16)) is None
    await service.revoke_certificate(deps, info.id, reason="key_compromise", actor_id="admin")
    crl = x509.load_der_x509_crl(await service.crl_der(deps))
    entry = crl.get_revoked_certificate_by_serial_number(int(info.serial, 16))
    assert entry is not None
    issuer = service.engine(deps).ca.issuing_certificate()
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert await service.active_certificate(deps, "person", user_id) is None
