"""Whose turn it is: opening the next signing order, and the enterprise's automatic seal.

When the enterprise's turn comes and its seal has 自动签署 switched on, nobody is asked
for a code: the signer row moves to `signing` under the authorisation on record (the
member who switched it on, the `seal.auto_sign_on` audit entry), an audit entry names the
seal and that authorisation, and an outbox job applies the seal after commit (the
`contract.sign` job of core/contracts/signing.py). The signature itself is never made
inside the request that opened the turn.

The authorisation holds while the seal is enabled with the switch on, the enterprise is
certified, and the member who switched it on is still an active member allowed to manage
seals. The job checks it again before signing; if it no longer holds, the row goes back
to `pending` and the seal holders are told, as without the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core import outbox
from core.context import Deps
from core.contracts import common
from core.contracts.states import SIGNER, SignerState
from core.crypto import mask_phone
from core.enterprise import roles
from core.errors import NotFound
from storage.models import (
    AuditEntry,
    Contract,
    ContractDocument,
    ContractSigner,
    Enterprise,
    IntentConfirmation,
    Member,
    Seal,
    User,
)
from storage.uow import Tx

AUTO_SIGN_SWITCHED_ON = "seal.auto_sign_on"


@dataclass(frozen=True)
class AutoSignGrant:
    """The enterprise's standing authorisation to apply one seal without a code."""

    seal_id: str
    seal_name: str
    authorized_by: str  # user id of the member who switched it on
    authorized_by_name: str
    since: datetime
    audit_seq: int  # the seal.auto_sign_on entry of the audit chain


async def auto_sign_grant(tx: Tx, enterprise_id: str, seal_id: str | None
                          ) -> AutoSignGrant | None:
    """The live authorisation to auto-sign with this seal, or None."""
    if seal_id is None:
        return None
    seal = await tx.session.get(Seal, seal_id)
    if seal is None or seal.enterprise_id != enterprise_id or seal.status != "enabled" \
            or not seal.auto_sign:
        return None
    ent = await tx.session.get(Enterprise, enterprise_id)
    if ent is None or ent.state != "certified":
        return None
    entry = (await tx.session.execute(
        select(AuditEntry).where(
            AuditEntry.subject_id == seal.id, AuditEntry.tenant_id == enterprise_id,
            AuditEntry.subject_type == "seal", AuditEntry.action == AUTO_SIGN_SWITCHED_ON)
        .order_by(AuditEntry.seq.desc()).limit(1)
    )).scalar_one_or_none()
    if entry is None or entry.actor_id is None:
        return None
    try:
        actor = await roles.actor_for(tx, entry.actor_id, enterprise_id)
    except NotFound:  # no longer an active member
        return None
    if not actor.can(roles.SEALS_MANAGE):
        return None
    name = (await tx.session.execute(
        select(Member.display_name).where(Member.id == actor.member_id))).scalar_one()
    return AutoSignGrant(seal.id, seal.name, entry.actor_id, name or "", entry.at, entry.seq)


async def open_turn(tx: Tx, deps: Deps, contract: Contract, signer: ContractSigner,
                    enterprise_name: str) -> None:
    """A signer has just become `pending`: auto-sign the enterprise's seal when the
    enterprise has switched that on, else tell the signer."""
    if signer.party == "enterprise" and signer.enterprise_id:
        grant = await auto_sign_grant(tx, signer.enterprise_id, signer.seal_id)
        if grant is not None:
            await _start_auto_sign(tx, deps, contract, signer, grant)
            return
    await common.notify_turn(tx, deps, contract, signer, enterprise_name)


async def advance_order(
    tx: Tx, deps: Deps, contract: Contract, signers: list[ContractSigner], enterprise_name: str
) -> None:
    """Open the next signing order once every signer of the current one has signed."""
    open_orders = sorted({s.sign_order for s in signers if s.state != SignerState.SIGNED})
    if not open_orders:
        return
    current = open_orders[0]
    for s in signers:
        if s.sign_order == current and s.state == SignerState.WAITING:
            s.state = SignerState.PENDING
            await open_turn(tx, deps, contract, s, enterprise_name)


def auto_job_key(signer_id: str) -> str:
    return f"contract-autosign:{signer_id}"


async def _start_auto_sign(tx: Tx, deps: Deps, contract: Contract, signer: ContractSigner,
                           grant: AutoSignGrant) -> None:
    now = deps.clock.now()
    SIGNER.ensure(signer.state, SignerState.SIGNING)
    signer.state, signer.signed_by = SignerState.SIGNING, grant.authorized_by
    doc = (await tx.session.execute(
        select(ContractDocument).where(ContractDocument.contract_id == contract.id)
    )).scalar_one()
    user = await tx.session.get(User, grant.authorized_by)
    # The evidence row the signing needs; no SMS code: the standing authorisation stands in.
    evidence = (await tx.session.execute(
        select(IntentConfirmation).where(IntentConfirmation.signer_id == signer.id)
    )).scalar_one_or_none()
    if evidence is None:
        evidence = IntentConfirmation(contract_id=contract.id, signer_id=signer.id,
                                      user_id=grant.authorized_by, phone_masked="",
                                      created_at=now)
        tx.session.add(evidence)
    evidence.user_id = grant.authorized_by
    evidence.phone_masked = mask_phone(user.phone) if user is not None else ""
    evidence.sms_code_id = evidence.code_sent_at = evidence.code_entered_at = None
    evidence.document_sha256_before = doc.current_sha256
    await common.log(
        tx, deps, "contract.auto_sign", contract, actor_id=None,
        data={
            "signer_id": signer.id, "seal_id": grant.seal_id, "seal": grant.seal_name,
            "authorized_by": grant.authorized_by,
            "authorized_by_name": grant.authorized_by_name,
            "auto_sign_since": grant.since.isoformat(),
            "authorization_seq": grant.audit_seq,
            "document_sha256_before": doc.current_sha256,
        },
    )
    await outbox.enqueue(tx, common.SIGN_JOB_KIND, {"signer_id": signer.id}, now=now,
                         dedupe_key=auto_job_key(signer.id), wakeup=deps.outbox_wakeup)


async def withdraw_auto_sign(deps: Deps, signer_id: str) -> bool:
    """The authorisation ended before the job ran: back to `pending`, seal holders told.
    False when the signer was not waiting for an automatic seal (nothing done)."""
    async with deps.db.transaction() as tx:
        signer = (await tx.session.execute(
            select(ContractSigner).where(ContractSigner.id == signer_id).with_for_update()
        )).scalar_one_or_none()
        if signer is None or signer.state != SignerState.SIGNING or signer.party != "enterprise":
            return False
        evidence = (await tx.session.execute(
            select(IntentConfirmation).where(IntentConfirmation.signer_id == signer.id)
        )).scalar_one_or_none()
        if evidence is None or evidence.sms_code_id is not None:  # confirmed by a code
            return False
        contract = await common.load_contract(tx, signer.contract_id)
        if signer.enterprise_id and await auto_sign_grant(tx, signer.enterprise_id,
                                                           signer.seal_id) is not None:
            return False
        SIGNER.ensure(signer.state, SignerState.PENDING)
        signer.state, signer.signed_by = SignerState.PENDING, None
        await tx.session.execute(IntentConfirmation.__table__.delete().where(
            IntentConfirmation.signer_id == signer.id))
        await common.log(tx, deps, "contract.auto_sign_withdrawn", contract, actor_id=None,
                         data={"signer_id": signer.id, "seal_id": signer.seal_id})
        ent = await tx.session.get(Enterprise, contract.enterprise_id)
        await common.notify_turn(tx, deps, contract, signer, ent.name if ent else "")
        return True
