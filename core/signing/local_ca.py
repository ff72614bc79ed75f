"""The built-in certificate authority: a root and an issuing CA kept under [signing] ca_dir.

Created on first use (guarded by a file lock so parallel workers agree on one CA). The CA
private keys are wrapped with the KEK like signer keys. The issuing CA also certifies the
built-in TSA (extended key usage timeStamping).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.signing.keys import generate_private_key, pkcs8_der, unwrap, wrap
from core.signing.ports import RevokedEntry, SubjectSpec

ROOT_NAME = "LaborSign Root CA"
ISSUING_NAME = "LaborSign Issuing CA"
TSA_NAME = "LaborSign Time Stamping Authority"
ORG = "LaborSign"
# Backdating absorbs small clock differences between this host and a validator's.
BACKDATE = timedelta(minutes=10)
CRL_LIFETIME = timedelta(days=1)

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
}


def _now() -> datetime:
    # Certificates, CRLs and timestamps are judged by outside validators against real time,
    # so the CA uses the wall clock, not the (possibly frozen) service clock.
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Pair:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes


UB_NAME = 64  # RFC 5280 upper bound for commonName and organizationName


def _bytes(text: str) -> int:
    return len(text.encode())


def fit_name(text: str, *, limit: int = UB_NAME) -> str:
    """`text` within `limit` UTF-8 bytes (how `cryptography` measures the commonName bound:
    about 21 CJK characters), shortened with an ellipsis. The full name stays in
    organizationName."""
    if _bytes(text) <= limit:
        return text
    room = limit - _bytes("…")
    while text and _bytes(text) > room:
        text = text[:-1]
    return text + "…"


def _name(common_name: str, *, org: str | None = ORG, serial: str | None = None,
          unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:UB_NAME]))
    if unit:  # a seal's certificate: which seal of the organisation
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit[:UB_NAME]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, fit_name(common_name)))
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


class LocalCertificateAuthority:
    """File-backed two-level CA. Thread/process safe for creation; reads are cached."""

    def __init__(self, ca_dir: Path, kek: bytes, *, key_algorithm: str, base_url: str) -> None:
        self.ca_dir = Path(ca_dir)
        self._kek = kek
        self.key_algorithm = key_algorithm
        self.base_url = base_url.rstrip("/")
        self._root: _Pair | None = None
        self._issuing: _Pair | None = None
        self._tsa: tuple[x509.Certificate, bytes] | None = None

    # -- URLs published inside certificates ---------------------------------------------

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/ca/crl"

    @property
    def root_crl_url(self) -> str:
        return f"{self.base_url}/ca/root.crl"

    @property
    def issuing_cert_url(self) -> str:
        return f"{self.base_url}/ca/ca.crt"

    @property
    def root_cert_url(self) -> str:
        return f"{self.base_url}/ca/root.crt"

    # -- creation and loading -----------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.ca_dir.mkdir(parents=True, exist_ok=True)
        with (self.ca_dir / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write(self, name: str, data: bytes, *, secret: bool = False) -> None:
        path = self.ca_dir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        if secret:
            tmp.chmod(0o600)
        os.replace(tmp, path)

    def _store_pair(self, stem: str, cert: x509.Certificate, key: PrivateKeyTypes) -> None:
        self._write(f"{stem}.key.enc", wrap(self._kek, f"ca:{stem}", pkcs8_der(key)), secret=True)
        self._write(f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM))

    def _load_pair(self, stem: str) -> _Pair:
        cert = x509.load_pem_x509_certificate((self.ca_dir / f"{stem}.crt").read_bytes())
        plain = unwrap(self._kek, f"ca:{stem}", (self.ca_dir / f"{stem}.key.enc").read_bytes())
        key = serialization.load_der_private_key(plain, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        return _Pair(cert, key)

    def ensure(self) -> None:
        """Create the root, issuing CA and TSA certificate if they do not exist yet."""
        if self._root and self._issuing:
            return
        if not (self.ca_dir / "tsa.crt").exists():
            with self._lock():
                if not (self.ca_dir / "tsa.crt").exists():
                    self._create()
        self._root = self._load_pair("root")
        self._issuing = self._load_pair("ca")

    def _create(self) -> None:
        now = _now() - BACKDATE
        root_key = generate_private_key(self.key_algorithm)
        root_name = _name(ROOT_NAME)
        ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=365 * 20))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(ski, critical=False)
            .sign(root_key, hashes.SHA256())
        )
        self._store_pair("root", root, root_key)
        root_pair = _Pair(root, root_key)

        ca_key = generate_private_key(self.key_algorithm)
        issuing = (
            self._builder(root_pair, _name(ISSUING_NAME), ca_key.public_key(), now, days=365 * 10)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_cdp(self.root_crl_url), critical=False)
            .add_extension(_aia(self.root_cert_url), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        self._store_pair("ca", issuing, ca_key)
        issuing_pair = _Pair(issuing, ca_key)

        tsa_key = generate_private_key(self.key_algorithm)
        tsa = (
            self._builder(issuing_pair, _name(TSA_NAME), tsa_key.public_key(), now, days=365 * 5)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_ee_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(_cdp(self.crl_url), critical=False)
            .add_extension(_aia(self.issuing_cert_url), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        # The TSA pair is written last: its presence marks a complete CA.
        self._store_pair("tsa", tsa, tsa_key)

    @staticmethod
    def _builder(
        issuer: _Pair, subject: x509.Name, public_key: PublicKeyTypes, now: datetime, days: int
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(min(now + timedelta(days=days), issuer.cert.not_valid_after_utc))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer.key.public_key()
                ),
                critical=False,
            )
        )

    # -- the port -----------------------------------------------------------------------

    def root_certificate(self) -> x509.Certificate:
        self.ensure()
        assert self._root
        return self._root.cert

    def issuing_certificate(self) -> x509.Certificate:
        self.ensure()
        assert self._issuing
        return self._issuing.cert

    def chain(self) -> list[x509.Certificate]:
        return [self.issuing_certificate(), self.root_certificate()]

    def issue(
        self, subject: SubjectSpec, public_key: PublicKeyTypes, *, validity_days: int
    ) -> x509.Certificate:
        self.ensure()
        assert self._issuing
        org = subject.organization
        name = _name(subject.common_name, org=org, serial=subject.serial_number,
                     unit=subject.unit)
        return (
            self._builder(self._issuing, name, public_key, _now() - BACKDATE, days=validity_days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_ee_key_usage(), critical=True)
            .add_extension(_cdp(self.crl_url), critical=False)
            .add_extension(_aia(self.issuing_cert_url), critical=False)
            .sign(self._issuing.key, hashes.SHA256())
        )

    def crl(self, revoked: list[RevokedEntry]) -> bytes:
        self.ensure()
        assert self._issuing
        return _build_crl(self._issuing, revoked)

    def root_crl(self) -> bytes:
        self.ensure()
        assert self._root
        return _build_crl(self._root, [])

    def tsa_material(self) -> tuple[x509.Certificate, bytes]:
        """The TSA certificate and its unwrapped PKCS#8 key (used by the built-in TSA)."""
        if self._tsa is None:
            self.ensure()
            pair = self._load_pair("tsa")
            self._tsa = (pair.cert, pkcs8_der(pair.key))
        return self._tsa


def _build_crl(issuer: _Pair, revoked: list[RevokedEntry]) -> bytes:
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + CRL_LIFETIME)
        # A CRL number that only grows: seconds since the epoch.
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()
            ),
            critical=False,
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(min(entry.revoked_at, now))
        )
        if entry.reason and entry.reason in REASONS and entry.reason != "unspecified":
            item = item.add_extension(x509.CRLReason(REASONS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    crl = builder.sign(issuer.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _ee_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _cdp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(url),
            )
        ]
    )
