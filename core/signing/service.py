"""Signing services over the database: certificates, revocation, CRLs, signing grants.

A signer's key is reachable only through `unlock_signer`, which needs a SigningAuthorization
from `grant_signing`; the flow calls `grant_signing` right after the owner confirmed the
signing with an SMS code. The authorization carries a random token whose hash is stored,
is bound to one certificate and one document hash, expires within minutes and is
consumed on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.config import Config, resolve_path
from core.context import Deps, RequestMeta
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.outbox import PermanentFailure
from core.signing.keys import DbKeyStore, kek_from_config
from core.signing.local_ca import LocalCertificateAuthority
from core.signing.pdf import ValidationMaterial
from core.signing.ports import (
    OWNER_TYPES,
    KeyStore,
    RevokedEntry,
    SignerMaterial,
    SubjectSpec,
    iter_der,
)
from core.signing.timestamping import LocalTimeStamperSpec
from core.signing.tsa import LocalTimeStamper, respond
from core.signing.verify import TrustAnchors
from storage.models import Certificate, OutboxMessage, SigningGrant, User, new_id
from storage.uow import Tx

REVOCATION_REASONS = (
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
)


@dataclass
class SigningEngine:
    """What the composition root wires: the CA and where new keys go."""

    ca: LocalCertificateAuthority
    key_store: KeyStore
    kek: bytes
    _tsa_spec: LocalTimeStamperSpec | None = field(default=None, repr=False)
    _tsa: LocalTimeStamper | None = field(default=None, repr=False)

    def tsa_spec(self) -> LocalTimeStamperSpec:
        """The built-in TSA as a description a worker process builds its signer from."""
        if self._tsa_spec is None:
            cert, key = self.ca.tsa_material()
            self._tsa_spec = LocalTimeStamperSpec(
                cert.public_bytes(Encoding.DER), key, tuple(iter_der(self.ca.chain())))
        return self._tsa_spec

    def tsa(self) -> LocalTimeStamper:
        """The built-in TSA that answers POST /tsa."""
        if self._tsa is None:
            spec = self.tsa_spec()
            self._tsa = LocalTimeStamper(spec.tsa_cert_der, spec.tsa_key_pkcs8, spec.chain_der)
        return self._tsa


def build_engine(config: Config, key_store: KeyStore | None = None) -> SigningEngine:
    kek = kek_from_config(config)
    ca = LocalCertificateAuthority(
        resolve_path(config.signing.ca_dir),
        kek,
        key_algorithm=config.signing.key_algorithm,
        base_url=config.server.base_url,
    )
    return SigningEngine(ca=ca, key_store=key_store or DbKeyStore(kek), kek=kek)


def engine(deps: Deps) -> SigningEngine:
    return deps.signing


@dataclass(frozen=True)
class CertificateInfo:
    id: str
    owner_type: str
    owner_id: str
    serial: str
    subject: str
    status: str
    not_before: datetime
    not_after: datetime
    cert_pem: str

    @classmethod
    def of(cls, row: Certificate) -> CertificateInfo:
        return cls(
            id=row.id,
            owner_type=row.owner_type,
            owner_id=row.owner_id,
            serial=row.serial,
            subject=row.subject,
            status=row.status,
            not_before=row.not_before,
            not_after=row.not_after,
            cert_pem=row.cert_pem,
        )


@dataclass(frozen=True)
class SigningAuthorization:
    """Proof that the owner just confirmed one signing. Only grant_signing makes a usable one:
    the token is random and only its hash is stored."""

    grant_id: str
    certificate_id: str
    document_sha256: str
    expires_at: datetime
    token: str = field(repr=False)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _active(deps: Deps, owner_type: str, owner_id: str) -> Certificate | None:
    # A read: no write turn needed (callers that then write open their own transaction).
    async with deps.db.sessions() as session:
        return await _active_in(session, owner_type, owner_id)


async def _active_in(
    session: AsyncSession, owner_type: str, owner_id: str
) -> Certificate | None:
    rows = await session.execute(
        select(Certificate)
        .where(
            Certificate.owner_type == owner_type,
            Certificate.owner_id == owner_id,
            Certificate.status == "active",
        )
        .order_by(Certificate.created_at.desc())
    )
    return rows.scalars().first()


async def active_certificate(deps: Deps, owner_type: str, owner_id: str) -> CertificateInfo | None:
    row = await _active(deps, owner_type, owner_id)
    return CertificateInfo.of(row) if row else None


async def active_certificate_row_in(
    tx: Tx, owner_type: str, owner_id: str
) -> Certificate | None:
    """The active certificate's row, in the caller's transaction."""
    return await _active_in(tx.session, owner_type, owner_id)


async def active_certificate_in(
    tx: Tx, owner_type: str, owner_id: str
) -> CertificateInfo | None:
    """active_certificate inside the caller's transaction."""
    row = await _active_in(tx.session, owner_type, owner_id)
    return CertificateInfo.of(row) if row else None


async def _issue(
    deps: Deps,
    owner_type: str,
    owner_id: str,
    subject: SubjectSpec,
    *,
    actor_id: str | None,
    tenant_id: str | None,
    meta: RequestMeta | None,
    check_person: bool = False,
) -> CertificateInfo:
    """Issue once per owner: an owner with an active certificate gets it back unchanged."""
    if owner_type not in OWNER_TYPES:
        raise InvalidInput("证书持有者类型无效")
    existing = await _active(deps, owner_type, owner_id)
    if existing is not None:
        return CertificateInfo.of(existing)
    eng = engine(deps)
    cert_id = new_id()
    label = f"ls-{cert_id}"

    def make() -> tuple[x509.Certificate, bytes | None]:
        public_key, wrapped = eng.key_store.generate(deps.config.signing.key_algorithm, label)
        issued = eng.ca.issue(
            subject, public_key, validity_days=deps.config.signing.cert_validity_days
        )
        return issued, wrapped

    # Key generation (RSA especially) and signing are CPU work: keep them off the loop.
    cert, wrapped = await asyncio.to_thread(make)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        if check_person:
            user = (
                await tx.session.execute(select(User).where(User.id == owner_id).with_for_update())
            ).scalar_one_or_none()
            if user is None or user.identity_state != "verified":
                raise Conflict("完成实名认证后才能签发个人证书", code="identity_not_verified")
        again = await _active_in(tx.session, owner_type, owner_id)
        if again is not None:  # a concurrent call won; the fresh key is simply dropped
            return CertificateInfo.of(again)
        row = Certificate(
            id=cert_id,
            owner_type=owner_type,
            owner_id=owner_id,
            serial=format(cert.serial_number, "x"),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            key_algorithm=deps.config.signing.key_algorithm,
            cert_der=cert.public_bytes(Encoding.DER),
            cert_pem=cert.public_bytes(Encoding.PEM).decode(),
            key_store=eng.key_store.name,
            key_cipher=wrapped,
            key_label=label,
            status="active",
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            created_at=now,
        )
        tx.session.add(row)
        await tx.session.flush()
        await audit.record(
            tx,
            at=now,
            action="certificate.issued",
            actor_id=actor_id,
            tenant_id=tenant_id,
            subject_type="certificate",
            subject_id=row.id,
            data={
                "owner_type": owner_type,
                "owner_id": owner_id,
                "serial": row.serial,
                "subject": row.subject,
                "key_store": row.key_store,
            },
            meta=meta,
        )
        return CertificateInfo.of(row)


async def issue_person_certificate(
    deps: Deps, user_id: str, *, meta: RequestMeta | None = None
) -> CertificateInfo:
    """A certificate in the person's verified real name (call when real-name passes)."""
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None:
            raise NotFound("用户不存在")
        if user.identity_state != "verified" or not user.real_name:
            raise Conflict("完成实名认证后才能签发个人证书", code="identity_not_verified")
        name = user.real_name
    subject = SubjectSpec(common_name=name, owner_type="person", serial_number=f"P{user_id}")
    return await _issue(
        deps, "person", user_id, subject, actor_id=user_id, tenant_id=None, meta=meta,
        check_person=True,
    )


PERSON_CERT_KIND = "pki.issue_person"


async def queue_person_certificate(tx: Tx, deps: Deps, user_id: str) -> None:
    """Queue the certificate of a person just verified (key generation stays out of the
    verifying transaction; the job runs right after commit and is idempotent)."""
    await outbox.enqueue(tx, PERSON_CERT_KIND, {"user_id": user_id}, now=deps.clock.now(),
                         dedupe_key=f"{PERSON_CERT_KIND}:{user_id}",
                         wakeup=deps.outbox_wakeup)


async def deliver_person_certificate(deps: Deps, msg: OutboxMessage) -> None:
    try:
        await issue_person_certificate(deps, msg.payload["user_id"])
    except (NotFound, Conflict) as exc:  # account gone or no longer verified
        raise PermanentFailure(str(exc)) from exc


async def issue_enterprise_certificate(
    deps: Deps,
    enterprise_id: str,
    *,
    name: str,
    credit_code: str,
    actor_id: str | None = None,
    meta: RequestMeta | None = None,
) -> CertificateInfo:
    """The enterprise's certificate (call when enterprise certification passes)."""
    subject = SubjectSpec(
        common_name=name, owner_type="enterprise", organization=name, serial_number=credit_code
    )
    return await _issue(
        deps, "enterprise", enterprise_id, subject, actor_id=actor_id, tenant_id=enterprise_id,
        meta=meta,
    )


async def issue_seal_certificate(
    deps: Deps,
    seal_id: str,
    *,
    enterprise_id: str,
    enterprise_name: str,
    seal_name: str,
    credit_code: str,
    actor_id: str | None = None,
    meta: RequestMeta | None = None,
) -> CertificateInfo:
    """A certificate for one seal (voiding the seal revokes it)."""
    subject = SubjectSpec(
        common_name=enterprise_name,
        unit=seal_name,
        owner_type="seal",
        organization=enterprise_name,
        serial_number=credit_code,
    )
    return await _issue(
        deps, "seal", seal_id, subject, actor_id=actor_id, tenant_id=enterprise_id, meta=meta
    )


PLATFORM_OWNER = "platform"
# Who signs the platform's own documents (evidence reports): the operator of this
# installation, under our CA.
PLATFORM_SUBJECT = "LaborSign 电子签约平台出证"


async def platform_material(deps: Deps) -> SignerMaterial:
    """The platform's own signing key, for documents the platform itself issues and
    vouches for (evidence reports). Issued once, lazily, like any certificate (audited
    as `certificate.issued`); it is not a person's or an enterprise's key, so no grant
    stands between the platform and its own key, as with the built-in TSA's."""
    info = await _issue(
        deps, PLATFORM_OWNER, PLATFORM_OWNER,
        SubjectSpec(common_name=PLATFORM_SUBJECT, owner_type=PLATFORM_OWNER,
                    organization="LaborSign", unit="出证"),
        actor_id=None, tenant_id=None, meta=None,
    )
    async with deps.db.sessions() as session:
        cert = await session.get(Certificate, info.id)
    assert cert is not None
    eng = engine(deps)
    store = DbKeyStore(eng.kek) if cert.key_store == "db" else eng.key_store
    if store.name != cert.key_store:
        raise Conflict("签名密钥所在的设备未配置", code="key_store_unavailable")
    return SignerMaterial(
        certificate_der=cert.cert_der,
        chain_der=tuple(iter_der(eng.ca.chain())),
        key=store.key_ref(cert.key_label or f"ls-{cert.id}", cert.key_cipher),
    )


def tsa_certificate_der(deps: Deps) -> bytes:
    """The built-in TSA's certificate (for offline checks of its tokens)."""
    cert, _ = engine(deps).ca.tsa_material()
    return cert.public_bytes(Encoding.DER)


async def revoke_certificate(
    deps: Deps,
    certificate_id: str,
    *,
    reason: str,
    actor_id: str | None,
    tenant_id: str | None = None,
    meta: RequestMeta | None = None,
) -> CertificateInfo:
    """Revoke: the next CRL lists it and validation reports it revoked."""
    if reason not in REVOCATION_REASONS:
        raise InvalidInput("吊销原因无效", field="reason")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = (
            await tx.session.execute(
                select(Certificate).where(Certificate.id == certificate_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("证书不存在")
        if row.status == "revoked":
            return CertificateInfo.of(row)
        row.status, row.revoked_at, row.revocation_reason = "revoked", now, reason
        await audit.record(
            tx,
            at=now,
            action="certificate.revoked",
            actor_id=actor_id,
            tenant_id=tenant_id,
            subject_type="certificate",
            subject_id=row.id,
            data={"serial": row.serial, "reason": reason},
            meta=meta,
        )
        return CertificateInfo.of(row)


# -- publication: CRLs, root, trust anchors ---------------------------------------------


async def crl_der(deps: Deps) -> bytes:
    async with deps.db.sessions() as session:  # a read: no write turn
        rows = (
            await session.execute(
                select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason)
                .where(Certificate.status == "revoked")
            )
        ).all()
    revoked = [RevokedEntry(int(s, 16), at, reason) for s, at, reason in rows if at is not None]
    return await asyncio.to_thread(engine(deps).ca.crl, revoked)


async def root_crl_der(deps: Deps) -> bytes:
    return await asyncio.to_thread(engine(deps).ca.root_crl)


def root_certificate_der(deps: Deps) -> bytes:
    return engine(deps).ca.root_certificate().public_bytes(Encoding.DER)


def issuing_certificate_der(deps: Deps) -> bytes:
    return engine(deps).ca.issuing_certificate().public_bytes(Encoding.DER)


async def trust_anchors(deps: Deps) -> TrustAnchors:
    """Our root and issuing CA with current CRLs: input for verify_pdf."""
    return TrustAnchors(
        roots_der=(root_certificate_der(deps),),
        intermediates_der=(issuing_certificate_der(deps),),
        crls_der=(await crl_der(deps), await root_crl_der(deps)),
    )


async def validation_material(deps: Deps) -> ValidationMaterial:
    """Revocation data to embed when signing (PAdES B-LT); it is always reachable locally."""
    anchors = await trust_anchors(deps)
    return ValidationMaterial(
        trust_roots_der=anchors.roots_der,
        other_certs_der=anchors.intermediates_der,
        crls_der=anchors.crls_der,
    )


async def timestamp_response(deps: Deps, request_der: bytes) -> bytes:
    """The built-in TSA: one RFC 3161 request in, one response out."""
    stamper = engine(deps).tsa()
    return await asyncio.to_thread(respond, stamper, request_der)


# -- using a key: grant after confirmation, unlock once ---------------------------------


async def grant_signing(
    deps: Deps,
    *,
    certificate_id: str,
    actor_id: str,
    purpose: str,
    document_sha256: str,
    confirmation_ref: str,
    meta: RequestMeta | None = None,
    tenant_id: str | None = None,
) -> SigningAuthorization:
    """Record the owner's confirmed intent and return the one-time authorization.

    For a person's certificate the actor must be its owner (Electronic Signature Law
    Art. 13: the key is under the signer's sole control). For enterprise and seal
    certificates the calling flow has already checked the actor's seal authority.
    """
    async with deps.db.transaction() as tx:
        return await grant_signing_in(
            tx, deps, certificate_id=certificate_id, actor_id=actor_id, purpose=purpose,
            document_sha256=document_sha256, confirmation_ref=confirmation_ref, meta=meta,
            tenant_id=tenant_id,
        )


async def grant_signing_in(
    tx: Tx,
    deps: Deps,
    *,
    certificate_id: str,
    actor_id: str,
    purpose: str,
    document_sha256: str,
    confirmation_ref: str,
    meta: RequestMeta | None = None,
    tenant_id: str | None = None,
) -> SigningAuthorization:
    """grant_signing inside the caller's transaction (the one that records the confirmed
    intent), so that the grant exists exactly when the confirmation does."""
    if len(document_sha256) != 64 or any(c not in "0123456789abcdef" for c in document_sha256):
        raise InvalidInput("文档摘要无效")
    if not confirmation_ref:
        raise PermissionDenied("签署前需要短信验证码确认")
    now = deps.clock.now()
    token = secrets.token_urlsafe(32)
    cert = await tx.session.get(Certificate, certificate_id)
    if cert is None:
        raise NotFound("证书不存在")
    if cert.status != "active":
        raise Conflict("签名证书已被吊销，不能用于签署", code="certificate_revoked")
    if cert.owner_type == "person" and cert.owner_id != actor_id:
        raise PermissionDenied("只能使用本人的证书签署")
    grant = SigningGrant(
        certificate_id=cert.id,
        actor_id=actor_id,
        purpose=purpose[:200],
        document_sha256=document_sha256,
        confirmation_ref=confirmation_ref,
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=deps.config.signing.grant_ttl_seconds),
    )
    tx.session.add(grant)
    await tx.session.flush()
    await audit.record(
        tx,
        at=now,
        action="signing.granted",
        actor_id=actor_id,
        tenant_id=tenant_id,
        subject_type="certificate",
        subject_id=cert.id,
        data={
            "grant_id": grant.id,
            "purpose": grant.purpose,
            "document_sha256": document_sha256,
            "confirmation_ref": confirmation_ref,
        },
        meta=meta,
    )
    return SigningAuthorization(
        grant_id=grant.id,
        certificate_id=cert.id,
        document_sha256=document_sha256,
        expires_at=grant.expires_at,
        token=token,
    )


async def unlock_signer(
    deps: Deps,
    authorization: SigningAuthorization,
    *,
    document_sha256: str,
    meta: RequestMeta | None = None,
) -> SignerMaterial:
    """Consume the authorization and return what the signing worker needs.

    The key stays wrapped in the returned material; it is unwrapped inside the signing
    call itself (keys.DbKeyRef.open_signer) or never leaves the token (PKCS#11).
    """
    async with deps.db.transaction() as tx:
        return await unlock_signer_in(tx, deps, authorization,
                                      document_sha256=document_sha256, meta=meta)


async def unlock_signer_in(
    tx: Tx,
    deps: Deps,
    authorization: SigningAuthorization,
    *,
    document_sha256: str,
    meta: RequestMeta | None = None,
) -> SignerMaterial:
    """unlock_signer inside the caller's transaction."""
    if not isinstance(authorization, SigningAuthorization):
        raise PermissionDenied("缺少签署授权")
    now = deps.clock.now()
    eng = engine(deps)
    grant = (
        await tx.session.execute(
            select(SigningGrant).where(SigningGrant.id == authorization.grant_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if grant is None or not hmac.compare_digest(
        grant.token_hash, _token_hash(authorization.token)
    ):
        raise PermissionDenied("签署授权无效")
    if grant.used_at is not None:
        raise Conflict("签署授权已使用，请重新确认", code="grant_used")
    if grant.expires_at <= now:
        raise Conflict("签署确认已过期，请重新获取验证码", code="grant_expired")
    if grant.document_sha256 != document_sha256:
        raise PermissionDenied("文档已变化，请重新确认后签署")
    cert = await tx.session.get(Certificate, grant.certificate_id)
    if cert is None or cert.status != "active":
        raise Conflict("签名证书已被吊销，不能用于签署", code="certificate_revoked")
    grant.used_at = now
    await audit.record(
        tx,
        at=now,
        action="signing.key_unlocked",
        actor_id=grant.actor_id,
        subject_type="certificate",
        subject_id=cert.id,
        data={"grant_id": grant.id, "document_sha256": document_sha256},
        meta=meta,
    )
    label = cert.key_label or f"ls-{cert.id}"
    store = DbKeyStore(eng.kek) if cert.key_store == "db" else eng.key_store
    if store.name != cert.key_store:
        raise Conflict("签名密钥所在的设备未配置", code="key_store_unavailable")
    key_ref = store.key_ref(label, cert.key_cipher)
    return SignerMaterial(
        certificate_der=cert.cert_der,
        chain_der=tuple(iter_der(eng.ca.chain())),
        key=key_ref,
    )

