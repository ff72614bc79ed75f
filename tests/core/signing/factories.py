"""Fixtures for the signing engine: verified people, certificates, unlocked signers."""

from __future__ import annotations

from core.context import Deps
from core.crypto import sha256_hex
from core.signing import service
from core.signing.ports import SignerMaterial
from storage.models import User


async def verified_person(deps: Deps, name: str = "张三", phone: str = "13800000001") -> str:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = User(
            phone=phone,
            identity_state="verified",
            real_name=name,
            created_at=now,
            verified_at=now,
        )
        tx.session.add(user)
        await tx.session.flush()
        return user.id


async def unlocked_signer(
    deps: Deps, owner_type: str, owner_id: str, document: bytes, *, actor_id: str | None = None
) -> SignerMaterial:
    """What the flow does after the SMS code was accepted: grant, then unlock."""
    cert = await service.active_certificate(deps, owner_type, owner_id)
    assert cert is not None
    digest = sha256_hex(document)
    grant = await service.grant_signing(
        deps,
        certificate_id=cert.id,
        actor_id=actor_id or owner_id,
        purpose="test signing",
        document_sha256=digest,
        confirmation_ref="sms-code-test",
    )
    return await service.unlock_signer(deps, grant, document_sha256=digest)


async def person_signer(deps: Deps, document: bytes, name: str = "张三",
                        phone: str = "13800000001") -> SignerMaterial:
    user_id = await verified_person(deps, name, phone)
    await service.issue_person_certificate(deps, user_id)
    return await unlocked_signer(deps, "person", user_id, document)


async def enterprise_signer(deps: Deps, document: bytes) -> SignerMaterial:
    await service.issue_enterprise_certificate(
        deps, "ent-1", name="杭州示例劳务科技有限公司", credit_code="91330100MA2CXXXX0X"
    )
    return await unlocked_signer(deps, "enterprise", "ent-1", document, actor_id="hr-1")
