"""Signing a contract: the SMS code (intent), then one PAdES signature per box of the signer.

Idempotent and serialised per document:
- `confirm_sign` moves the signer pending → signing under a row lock after the SMS code
  passed, and records the intent evidence (one row per signer, unique): a double tap or
  a retry finds the signer already signing/signed and signs nothing. For a person, the
  same transaction grants and unlocks the key (with their audit entries), so a
  signature takes three write transactions in all: request the code, confirm, commit.
- `perform_signing` signs the CURRENT version N of the PDF outside any transaction (in the
  process pool), then commits only if the document is still at version N (row lock +
  compare); otherwise it signs again on the new bytes. Two signers at the same moment
  therefore both end up in the file, one after the other.
- A delayed outbox job (`contract.sign`) repeats `perform_signing` if the request died
  half-way (crash, TSA outage); it does nothing once the signer is signed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox, sms_codes
from core.clock import LOCAL_ZONE
from core.context import Deps, RequestMeta
from core.contracts import common, disclosure, ending, engine, evidence, turns
from core.contracts.states import CONTRACT, SIGNER, ContractState, SignerState
from core.cpu import run_cpu
from core.crypto import mask_phone, sha256_hex
from core.enterprise import pki
from core.enterprise import seals as enterprise_seals
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.files import read_verified
from core.signatures import default_signature_png
from core.signing import service
from core.signing.pdf import CertificateRevoked
from core.signing.seals import signing_date_text
from core.templates import gate as template_gate
from core.validators import check_sms_code_format
from core.wechat.notify import notify_person
from storage.models import (
    Contract,
    ContractCc,
    ContractDocument,
    ContractSigner,
    DocumentHash,
    Enterprise,
    HandwrittenSignature,
    IntentConfirmation,
    OutboxMessage,
    Seal,
    SignatureField,
    User,
)
from storage.uow import Tx

log = logging.getLogger(__name__)

SIGN_PURPOSE = "sign"

SIGN_JOB_KIND = common.SIGN_JOB_KIND
# The request signs at once; the job is the safety net, due only after this delay.
RECOVERY_DELAY = timedelta(seconds=90)
MAX_REBASES = 8


class IdentityRequired(Conflict):
    code = "identity_required"
    message = "请先完成实名认证再签署合同"


class SignatureRequired(Conflict):
    code = "signature_required"
    message = "请先设置签署使用的签名（手写签名或预制人名章）"


@dataclass(frozen=True)
class SignOutcome:
    contract_id: str
    signer_id: str
    # signing (still being applied) | signed
    state: str
    contract_state: str


@dataclass(frozen=True)
class CodeRequested:
    signer_id: str
    phone_masked: str


# -- choosing the signer row the user acts as ------------------------------------------


async def _actionable(
    tx: Tx, user: User, contract: Contract, signer_id: str | None, *, lock: bool = False
) -> ContractSigner:
    """The pending (or already confirmed) signer row this user may sign as."""
    signers = await common.signers_of(tx, contract.id)
    candidates: list[ContractSigner] = []
    for s in signers:
        if signer_id and s.id != signer_id:
            continue
        if common.is_person_signer(s, user) or (
            s.party == "enterprise" and s.enterprise_id
            and await common.may_use_seal(tx, user.id, s.enterprise_id, s.seal_id)
        ):
            candidates.append(s)
    if not candidates:
        inv = await common.involvement(tx, user, contract, signers)
        if signer_id or not inv.any:
            raise NotFound("合同不存在", code="contract_not_found")
        raise PermissionDenied("您不是这份合同的签署人", code="not_a_signer")
    order = {SignerState.PENDING: 0, SignerState.SIGNING: 1, SignerState.SIGNED: 2}
    chosen = sorted(candidates, key=lambda s: (order.get(SignerState(s.state), 3),
                                               s.party != "person"))[0]
    if lock and tx.dialect != "sqlite":
        # Row lock (PostgreSQL). On SQLite the transaction already holds the database's
        # write lock (BEGIN IMMEDIATE) and FOR UPDATE is not rendered: reading the row
        # again gave the same object from the identity map, for one more statement.
        chosen = (
            await tx.session.execute(
                select(ContractSigner).where(ContractSigner.id == chosen.id).with_for_update()
            )
        ).scalar_one()
    return chosen


async def _check_live(tx: Tx, deps: Deps, contract: Contract) -> None:
    now = deps.clock.now()
    if contract.state == ContractState.IN_PROGRESS and contract.deadline is not None \
            and contract.deadline <= now:
        raise Conflict("合同已超过签署截止时间", code="contract_expired")
    if contract.state != ContractState.IN_PROGRESS:
        raise engine.NotSignable(f"合同{_state_word(contract.state)}，不能签署")


def _state_word(state: str) -> str:
    from core.contracts.states import CONTRACT_LABELS

    return CONTRACT_LABELS.get(ContractState(state), state)


async def _check_person_ready(deps: Deps, tx: Tx, user: User, signer: ContractSigner) -> None:
    if signer.party != "person":
        return
    if user.identity_state != "verified" or not user.real_name:
        raise IdentityRequired()
    if user.real_name != signer.name:
        raise PermissionDenied("您的实名信息与合同签署人姓名不一致，请联系发起方",
                               code="signer_name_mismatch")


# Built once (bound parameters): each signature runs them.
_STAMP = (select(HandwrittenSignature.png)
          .where(HandwrittenSignature.user_id == bindparam("user_id"),
                 HandwrittenSignature.deleted_at.is_(None),
                 HandwrittenSignature.is_default.is_(True)).limit(1))
_HAS_STAMP = _STAMP.with_only_columns(HandwrittenSignature.id)
_INTENT = select(IntentConfirmation).where(
    IntentConfirmation.signer_id == bindparam("signer_id"))
_INTENT_LOCKED = _INTENT.with_for_update()


async def _has_signature(tx: Tx, user_id: str) -> bool:
    found = (await tx.session.execute(_HAS_STAMP, {"user_id": user_id})).scalar_one_or_none()
    return found is not None


async def _signature_png_in(tx: Tx, user_id: str) -> bytes | None:
    """The person's stamp, read where the confirmation checks that there is one (the
    first signing attempt then needs no read of its own)."""
    return (await tx.session.execute(_STAMP, {"user_id": user_id})).scalar_one_or_none()


# -- request the code ---------------------------------------------------------------------


async def request_sign(
    deps: Deps, user_id: str, contract_id: str, meta: RequestMeta, signer_id: str | None = None
) -> CodeRequested:
    """Send the SMS code that confirms this signing (rate limited per phone and IP)."""
    expired = False
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id, lock=True)
        signer = await _actionable(tx, user, contract, signer_id, lock=True)
        if await _expire_if_due(tx, deps, contract):
            expired = True
        else:
            await _check_live(tx, deps, contract)
            if signer.state != SignerState.PENDING:
                raise Conflict(
                    "已经签署过了" if signer.state != SignerState.WAITING
                    else "还没轮到您签署，请等待前序签署方完成",
                    code="signer_not_pending",
                )
            await _check_person_ready(deps, tx, user, signer)
            if signer.party == "person" and not await _has_signature(tx, user.id):
                raise SignatureRequired()
            if signer.party == "person":
                await disclosure.require_accepted(tx, user.id)
            if await template_gate.fill_pending(tx, contract.id, signer.id):
                raise template_gate.FillRequired()
            await sms_codes.check_send_limits(tx, deps, user.phone, meta)
            code_id = await sms_codes.issue_code(tx, deps, user.phone, SIGN_PURPOSE, meta)
            await _record_code_sent(tx, deps, contract, signer, user, code_id, meta)
            result = CodeRequested(signer.id, mask_phone(user.phone))
    if expired:
        raise Conflict("合同已超过签署截止时间", code="contract_expired")
    return result


# -- confirm with the code, then sign -----------------------------------------------------


async def confirm_sign(
    deps: Deps,
    user_id: str,
    contract_id: str,
    code: str,
    meta: RequestMeta,
    signer_id: str | None = None,
) -> SignOutcome:
    """Check the SMS code (the intent confirmation) and apply the signature."""
    code = check_sms_code_format(code)
    failure: Exception | None = None
    already: SignOutcome | None = None
    prepared: _Prepared | None = None
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id, lock=True)
        signer = await _actionable(tx, user, contract, signer_id, lock=True)
        if signer.state in (SignerState.SIGNING, SignerState.SIGNED):
            # A double tap or a retry: the first confirmation is the one that counts.
            already = SignOutcome(contract.id, signer.id, signer.state, contract.state)
        elif await _expire_if_due(tx, deps, contract):
            failure = Conflict("合同已超过签署截止时间", code="contract_expired")
        else:
            await _check_live(tx, deps, contract)
            SIGNER.ensure(signer.state, SignerState.SIGNING)
            await _check_person_ready(deps, tx, user, signer)
            stamp: bytes | None = None
            if signer.party == "person":
                stamp = await _signature_png_in(tx, user.id)
                if stamp is None:
                    raise SignatureRequired()
                await disclosure.require_accepted(tx, user.id)
            evidence = (await tx.session.execute(_INTENT_LOCKED, {"signer_id": signer.id})
                        ).scalar_one_or_none()
            check = await sms_codes.verify(tx, deps, user.phone, SIGN_PURPOSE, code)
            if check.ok and (evidence is None or check.row is None
                             or evidence.sms_code_id != check.row.id
                             or evidence.user_id != user.id):
                # A live code, but sent for another contract (or by someone else).
                failure = InvalidInput("验证码已失效，请重新获取", code="code_expired",
                                       field="code")
            elif not check.ok:
                failure = check.error
            else:
                assert evidence is not None
                await sms_codes.consume(tx, deps, check)
                now = deps.clock.now()
                doc = await common.load_document(tx, contract.id)
                evidence.code_entered_at = now
                evidence.ip, evidence.user_agent = meta.ip, (meta.user_agent or "")[:300]
                evidence.document_sha256_before = doc.current_sha256
                signer.state = SignerState.SIGNING
                signer.signed_by = user.id
                await common.log(
                    tx, deps, "contract.sign_confirmed", contract, actor_id=user.id,
                    data={
                        "signer_id": signer.id, "party": signer.party,
                        "phone": evidence.phone_masked,
                        "code_sent_at": evidence.code_sent_at.isoformat()
                        if evidence.code_sent_at else None,
                        "code_entered_at": now.isoformat(),
                        "user_agent": evidence.user_agent,
                        "document_sha256_before": doc.current_sha256,
                    },
                    meta=meta,
                )
                await outbox.enqueue(
                    tx, SIGN_JOB_KIND, {"signer_id": signer.id},
                    now=now + RECOVERY_DELAY, dedupe_key=f"contract-sign:{signer.id}",
                )
                await tx.session.flush()
                snap = await _snapshot_in(tx, signer, contract, doc, evidence)
                prepared = await _prepare_in(tx, deps, snap, meta, stamp)
    if failure is not None:
        raise failure
    if already is not None:
        return already
    return await perform_signing(deps, signer.id, meta, prepared=prepared)


async def _expire_if_due(tx: Tx, deps: Deps, contract: Contract) -> bool:
    now = deps.clock.now()
    if common.is_overdue(contract, now):
        await ending.expire_in(tx, deps, contract)
        return True
    return False


@dataclass(frozen=True)
class _Snapshot:
    contract_id: str
    enterprise_id: str
    enterprise_name: str
    credit_code: str
    contract_title: str
    signer_id: str
    party: str
    signer_name: str
    acting_user_id: str
    seal_id: str | None
    field_names: tuple[str, ...]
    file_key: str
    sha256: str
    version: int
    certify_first: bool
    evidence_id: str
    # Applied under the enterprise's auto-sign authorisation, not confirmed by a code.
    auto: bool
    # What the audit entry of the signature repeats from the intent evidence.
    intent: dict[str, str | None]
    # 骑缝章 with this seal: the enterprise seals first (core.contracts.page_marks).
    seal_slices: bool = False


async def _snapshot(deps: Deps, signer_id: str) -> _Snapshot | None:
    # A read (no write turn): the commit re-checks everything under row locks.
    async with deps.db.sessions() as session:
        signer = await session.get(ContractSigner, signer_id)
        if signer is None or signer.state != SignerState.SIGNING or signer.signed_by is None:
            return None
        contract = await session.get(Contract, signer.contract_id)
        if contract is None or contract.state != ContractState.IN_PROGRESS:
            return None
        doc = (await session.execute(
            select(ContractDocument).where(ContractDocument.contract_id == contract.id)
        )).scalar_one()
        evidence = (await session.execute(
            select(IntentConfirmation).where(IntentConfirmation.signer_id == signer.id)
        )).scalar_one()
        return await _snapshot_of(session, signer, contract, doc, evidence)


async def _snapshot_in(
    tx: Tx, signer: ContractSigner, contract: Contract, doc: ContractDocument,
    evidence: IntentConfirmation,
) -> _Snapshot:
    """The snapshot from the rows the confirming transaction already holds."""
    return await _snapshot_of(tx.session, signer, contract, doc, evidence)


async def _snapshot_of(
    session: AsyncSession, signer: ContractSigner, contract: Contract, doc: ContractDocument,
    evidence: IntentConfirmation,
) -> _Snapshot:
    ent = await session.get(Enterprise, contract.enterprise_id)
    assert ent is not None and signer.signed_by is not None
    names = tuple(
        (
            await session.execute(
                select(SignatureField.field_name)
                .where(SignatureField.signer_id == signer.id)
                .order_by(SignatureField.page, SignatureField.field_name)
            )
        ).scalars()
    )
    return _Snapshot(
        contract.id, ent.id, ent.name, ent.credit_code, contract.title, signer.id,
        signer.party, signer.name, signer.signed_by, signer.seal_id, names, doc.file_key,
        doc.current_sha256, doc.version,
        certify_first=signer.party == "enterprise" and doc.signature_count == 0,
        evidence_id=evidence.id,
        auto=signer.party == "enterprise" and evidence.sms_code_id is None,
        intent={
            "phone": evidence.phone_masked,
            "code_sent_at": evidence.code_sent_at.isoformat()
            if evidence.code_sent_at else None,
            "code_entered_at": evidence.code_entered_at.isoformat()
            if evidence.code_entered_at else None,
            "ip": evidence.ip, "user_agent": evidence.user_agent,
        },
        seal_slices=(contract.cross_seal and signer.party == "enterprise"
                     and doc.signature_count == 0),
    )


@dataclass(frozen=True)
class _Prepared:
    """What the confirming transaction already did for the first signing attempt."""

    snap: _Snapshot
    cert_id: str
    grant_id: str
    material: engine.SignerMaterial
    stamp: bytes | None


async def _prepare_in(
    tx: Tx, deps: Deps, snap: _Snapshot, meta: RequestMeta, stamp: bytes | None
) -> _Prepared | None:
    """Grant and unlock the person's key in the transaction that records the confirmation.

    The grant is bound to this confirmation and the document hash, and consumed at once,
    as before; it just no longer costs two transactions of its own. None (the separate
    path in perform_signing) for enterprise seals, whose certificate may first have to
    be issued or replaced, and for a person without a certificate yet.
    """
    if snap.party != "person":
        return None
    # The row stays referenced, so the grant and the unlock find it in the session.
    cert = await service.active_certificate_row_in(tx, "person", snap.acting_user_id)
    if cert is None:
        return None
    grant = await service.grant_signing_in(
        tx, deps, certificate_id=cert.id, actor_id=snap.acting_user_id,
        purpose=_purpose(snap), document_sha256=snap.sha256,
        confirmation_ref=snap.evidence_id, tenant_id=snap.enterprise_id, meta=meta,
    )
    material = await service.unlock_signer_in(tx, deps, grant,
                                              document_sha256=snap.sha256, meta=meta)
    return _Prepared(snap, cert.id, grant.grant_id, material, stamp)


def _purpose(snap: _Snapshot) -> str:
    return f"contract {snap.contract_id} signer {snap.signer_id}"


async def _seal_png(deps: Deps, snap: _Snapshot) -> bytes:
    return await seal_image(deps, snap.seal_id, snap.enterprise_name)


async def seal_image(deps: Deps, seal_id: str | None, enterprise_name: str) -> bytes:
    """The seal's stored image, or one drawn now if none is stored yet."""
    async with deps.db.sessions() as session:
        seal = await session.get(Seal, seal_id) if seal_id else None
        ent = await session.get(Enterprise, seal.enterprise_id) if seal else None
    if seal is not None and seal.image_state == "ready" and seal.image_file:
        try:
            return await asyncio.to_thread(common.store(deps).get, seal.image_file)
        except (KeyError, OSError):
            log.warning("seal image missing; drawing one", extra={"seal_id": seal.id})
    if seal is not None and ent is not None:
        return await pki.draw_for(deps, ent, seal)
    cfg = deps.config.signing
    return await run_cpu(pki.draw_seal, "official", enterprise_name, "", "", cfg.font_path,
                         cfg.font_index)


async def preview_stamp(
    deps: Deps, user_id: str, contract_id: str, signer_id: str | None = None
) -> bytes:
    """What this user's signature will look like in the boxes: handwriting or seal."""
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id)
        signer = await _actionable(tx, user, contract, signer_id)
        ent = await tx.session.get(Enterprise, contract.enterprise_id)
        party, seal_id = signer.party, signer.seal_id
        name = ent.name if ent else ""
    if party == "person":
        png = await default_signature_png(deps, user_id)
        if png is None:
            raise SignatureRequired()
        return png
    return await seal_image(deps, seal_id, name)


async def _material(
    deps: Deps, snap: _Snapshot, meta: RequestMeta
) -> tuple[str, str, engine.SignerMaterial]:
    if snap.party == "person":
        cert_id = await engine.person_certificate(deps, snap.acting_user_id, meta)
    else:
        cert_id = await engine.enterprise_certificate(
            deps, enterprise_id=snap.enterprise_id, enterprise_name=snap.enterprise_name,
            credit_code=snap.credit_code, seal_id=snap.seal_id,
            actor_id=snap.acting_user_id, meta=meta,
        )
    grant_id, material = await engine.unlock(
        deps, certificate_id=cert_id, actor_id=snap.acting_user_id,
        purpose=_purpose(snap),
        document_sha256=snap.sha256, confirmation_ref=snap.evidence_id,
        tenant_id=snap.enterprise_id, meta=meta,
    )
    return cert_id, grant_id, material


async def perform_signing(
    deps: Deps, signer_id: str, meta: RequestMeta, prepared: _Prepared | None = None
) -> SignOutcome:
    """Apply the confirmed signer's signatures; safe to call again at any time.

    `prepared`: the snapshot and unlocked key from the confirming transaction (first
    attempt only; a rebase or the recovery job reads the snapshot again)."""
    material = prepared.material if prepared else None
    cert_id, grant_id = (prepared.cert_id, prepared.grant_id) if prepared else ("", "")
    store = common.store(deps)
    for attempt in range(MAX_REBASES):
        snap = prepared.snap if prepared and attempt == 0 else await _snapshot(deps, signer_id)
        if snap is None:
            return await _outcome(deps, signer_id)
        if snap.auto and material is None and await turns.withdraw_auto_sign(deps, signer_id):
            return await _outcome(deps, signer_id)  # switched off meanwhile: a code it is
        pdf = await asyncio.to_thread(read_verified, store, snap.file_key, snap.sha256)
        if material is None:
            try:
                cert_id, grant_id, material = await _material(deps, snap, meta)
            except CertificateRevoked:
                await _back_to_pending(deps, signer_id, "certificate_revoked")
                raise
        if snap.party == "person":
            stamp = (prepared.stamp if prepared and attempt == 0 and prepared.stamp
                     else await default_signature_png(deps, snap.acting_user_id))
            if stamp is None:
                await _back_to_pending(deps, signer_id, "signature_missing")
                raise SignatureRequired()
        else:
            stamp = await _seal_png(deps, snap)
        job = engine.SignJob(
            field_names=snap.field_names, material=material, stamp_png=stamp,
            timestamper=engine.timestamper(deps), validation=await engine.validation(deps),
            certify_first=snap.certify_first, signer_name=snap.signer_name,
            reason=f"签署《{snap.contract_title}》",
            max_bytes=deps.config.signing.max_upload_bytes + engine.GROWTH_ALLOWANCE
            + len(pdf),
            # The day of signing as the parties live it: Beijing time.
            date_text=signing_date_text(deps.clock.now().astimezone(LOCAL_ZONE).date()),
            font_path=deps.config.signing.font_path,
            font_index=deps.config.signing.font_index,
            sign_day=deps.clock.now().astimezone(LOCAL_ZONE).date().isoformat(),
            seal_slices=snap.seal_slices,
        )
        try:
            signed = await run_cpu(engine.sign_fields, pdf, job)
        except CertificateRevoked:
            await _back_to_pending(deps, signer_id, "certificate_revoked")
            raise
        new_key = await asyncio.to_thread(store.put, common.FILE_AREA, signed, "pdf")
        try:
            done = await _commit(deps, snap, signed, new_key, cert_id, grant_id, meta)
        except BaseException:
            await asyncio.to_thread(store.delete, new_key)
            raise
        if done is not None:
            return done
        await asyncio.to_thread(store.delete, new_key)
    raise Conflict("合同正在被其他签署方处理，请稍后刷新查看", code="document_busy")


async def _commit(
    deps: Deps,
    snap: _Snapshot,
    signed: bytes,
    new_key: str,
    cert_id: str,
    grant_id: str,
    meta: RequestMeta,
) -> SignOutcome | None:
    """Write the signed version if the document is still the one signed; None: re-sign."""
    now = deps.clock.now()
    digest = await asyncio.to_thread(sha256_hex, signed)  # up to 10 MB: off the loop
    async with deps.db.transaction() as tx:
        contract = await common.load_contract(tx, snap.contract_id, lock=True)
        doc = await common.load_document(tx, snap.contract_id, lock=True)
        # Every signer, locked: completion below needs them all (one read, not two).
        signers = await common.signers_of(tx, contract.id, lock=True)
        signer = next(s for s in signers if s.id == snap.signer_id)
        if signer.state != SignerState.SIGNING or contract.state != ContractState.IN_PROGRESS:
            await asyncio.to_thread(common.store(deps).delete, new_key)
            return SignOutcome(contract.id, signer.id, signer.state, contract.state)
        if doc.version != snap.version:
            return None
        doc.file_key, doc.current_sha256, doc.size = new_key, digest, len(signed)
        doc.version += 1
        doc.signature_count += len(snap.field_names)
        doc.updated_at = now
        tx.session.add(DocumentHash(sha256=digest, contract_id=contract.id,
                                    version=doc.version, kind="signed", created_at=now))
        await tx.session.execute(
            update(SignatureField).where(SignatureField.signer_id == signer.id)
            .values(signed_at=now))
        SIGNER.ensure(signer.state, SignerState.SIGNED)
        signer.state, signer.signed_at, signer.certificate_id = SignerState.SIGNED, now, cert_id
        if signer.party == "person" and signer.user_id is None:
            signer.user_id = signer.signed_by
        await tx.session.execute(
            update(IntentConfirmation).where(IntentConfirmation.id == snap.evidence_id)
            .values(document_sha256_before=snap.sha256, document_sha256_after=digest,
                    grant_id=grant_id, completed_at=now))
        if signer.party == "enterprise" and signer.seal_id and signer.enterprise_id:
            await enterprise_seals.record_seal_use(
                tx, deps, enterprise_id=signer.enterprise_id, seal_id=signer.seal_id,
                actor_id=signer.signed_by, action="auto_sign" if snap.auto else "sign",
                subject_type="contract",
                subject_id=contract.id, note=contract.title[:200],
            )
        await common.log(
            tx, deps, "contract.signed", contract, actor_id=signer.signed_by,
            data={
                "signer_id": signer.id, "party": signer.party, "name": signer.name,
                "fields": list(snap.field_names), "certificate_id": cert_id,
                "grant_id": grant_id, "certification": snap.certify_first,
                "method": "auto_sign" if snap.auto else "sms_code",
                **snap.intent,
                "document_sha256_before": snap.sha256, "document_sha256_after": digest,
                "version": doc.version,
            },
            meta=meta,
        )
        if all(s.state == SignerState.SIGNED for s in signers):
            await _complete(tx, deps, contract, signers, digest)
        else:
            await turns.advance_order(tx, deps, contract, signers, snap.enterprise_name)
        # The recovery job has nothing left to do.
        await tx.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dedupe_key == f"contract-sign:{signer.id}",
                   OutboxMessage.status == "queued")
            .values(status="sent", sent_at=now)
        )
        return SignOutcome(contract.id, signer.id, signer.state, contract.state)


async def _complete(
    tx: Tx, deps: Deps, contract: Contract, signers: list[ContractSigner], digest: str
) -> None:
    now = deps.clock.now()
    CONTRACT.ensure(contract.state, ContractState.COMPLETED)
    contract.state, contract.completed_at, contract.updated_at = (
        ContractState.COMPLETED, now, now)
    await common.log(tx, deps, "contract.completed", contract, actor_id=None,
                     data={"document_sha256": digest})
    # E3: the report is built and each worker is sent the evidence package's link.
    await evidence.queue_package_notice(tx, deps, contract)
    link = common.contract_link(deps, contract.id)
    text = f"《{contract.title}》已由各方签署完成，可点击链接查看和下载："
    # The person signers are told by the evidence-package job (one message with the
    # package's link and the offline check), queued above.
    notified: set[str] = {s.phone for s in signers if s.party == "person" and s.phone}
    people = [contract.initiator_id] + [s.signed_by for s in signers
                                        if s.party == "enterprise" and s.signed_by]
    for user_id in people:
        user = await tx.session.get(User, user_id)
        if user is None or user.phone in notified:
            continue
        notified.add(user.phone)
        await notify_person(
            tx, deps, phone=user.phone, user_id=user.id, event="completed",
            title="合同已签署完成", text=text, link=link,
            dedupe_key=f"contract-done:{contract.id}:{user.phone}",
        )
    ccs = (await tx.session.execute(
        select(ContractCc).where(ContractCc.contract_id == contract.id)
        .order_by(ContractCc.created_at, ContractCc.phone))).scalars()
    for cc in ccs:  # 抄送: told as well, never asked to sign
        if cc.phone in notified:
            continue
        notified.add(cc.phone)
        await notify_person(
            tx, deps, phone=cc.phone, user_id=cc.user_id, event="completed",
            title="合同已签署完成", text=text, link=link,
            dedupe_key=f"contract-done:{contract.id}:{cc.phone}",
        )


async def _back_to_pending(deps: Deps, signer_id: str, why: str) -> None:
    """The signature can never be applied as confirmed: let the signer start again."""
    async with deps.db.transaction() as tx:
        signer = (
            await tx.session.execute(
                select(ContractSigner).where(ContractSigner.id == signer_id).with_for_update()
            )
        ).scalar_one_or_none()
        if signer is None or signer.state != SignerState.SIGNING:
            return
        SIGNER.ensure(signer.state, SignerState.PENDING)
        signer.state, signer.signed_by = SignerState.PENDING, None
        contract = await common.load_contract(tx, signer.contract_id)
        await tx.session.execute(
            delete(IntentConfirmation).where(
                IntentConfirmation.signer_id == signer.id
            )
        )
        await common.log(tx, deps, "contract.sign_failed", contract, actor_id=None,
                         data={"signer_id": signer.id, "reason": why})


async def _outcome(deps: Deps, signer_id: str) -> SignOutcome:
    async with deps.db.sessions() as session:
        signer = await session.get(ContractSigner, signer_id)
        contract = await session.get(Contract, signer.contract_id) if signer else None
        if signer is None or contract is None:
            raise NotFound("合同不存在", code="contract_not_found")
        return SignOutcome(contract.id, signer.id, signer.state, contract.state)


async def deliver_sign_job(deps: Deps, msg: OutboxMessage) -> None:
    """Outbox deliverer: finish a confirmed signing that its request did not finish."""
    await perform_signing(deps, str(msg.payload["signer_id"]), RequestMeta())


# -- several contracts, one code (E5) -----------------------------------------------------

# Contracts one code may sign at once (a multi-document task, or a batch of seals).
MAX_TOGETHER = 50
# Signed in the request itself; beyond this the signing jobs (due at once) do the rest.
INLINE_TOGETHER = 5


def _together_ids(contract_ids: list[str]) -> list[str]:
    ids = sorted(dict.fromkeys(str(c) for c in contract_ids if c))
    if not ids:
        raise InvalidInput("请选择要签署的合同", code="no_contracts", field="contract_ids")
    if len(ids) > MAX_TOGETHER:
        raise InvalidInput(f"一次最多签署 {MAX_TOGETHER} 份合同", code="too_many_contracts",
                           field="contract_ids")
    return ids


async def request_sign_many(
    deps: Deps, user_id: str, contract_ids: list[str], meta: RequestMeta
) -> CodeRequested:
    """One SMS code that confirms signing every one of these contracts (the user's own
    turn in each: as the person, or with a seal they may use). All must be signable now,
    or no code is sent. Each contract keeps its own intent evidence row, all pointing at
    the same code."""
    ids = _together_ids(contract_ids)
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        picked: list[tuple[Contract, ContractSigner]] = []
        for cid in ids:  # a fixed lock order: two requests never deadlock
            contract = await common.load_contract(tx, cid, lock=True)
            signer = await _actionable(tx, user, contract, None, lock=True)
            await _check_live(tx, deps, contract)
            if signer.state != SignerState.PENDING:
                raise Conflict(f"《{contract.title}》" + (
                    "已经签署过了" if signer.state != SignerState.WAITING
                    else "还没轮到您签署"), code="signer_not_pending")
            await _check_person_ready(deps, tx, user, signer)
            if await template_gate.fill_pending(tx, contract.id, signer.id):
                raise Conflict(f"请先填写《{contract.title}》中需要您填写的内容",
                               code="fill_required")
            picked.append((contract, signer))
        if any(s.party == "person" for _, s in picked) and not await _has_signature(tx, user.id):
            raise SignatureRequired()
        await sms_codes.check_send_limits(tx, deps, user.phone, meta)
        code_id = await sms_codes.issue_code(tx, deps, user.phone, SIGN_PURPOSE, meta)
        for contract, signer in picked:
            await _record_code_sent(tx, deps, contract, signer, user, code_id, meta,
                                    together=len(picked))
        return CodeRequested(picked[0][1].id, mask_phone(user.phone))


async def confirm_sign_many(
    deps: Deps, user_id: str, contract_ids: list[str], code: str, meta: RequestMeta
) -> list[SignOutcome]:
    """Check the one code for all the contracts of `request_sign_many`, record the intent
    for each in one transaction, then sign each document (its own PAdES signature)."""
    ids = _together_ids(contract_ids)
    code = check_sms_code_format(code)
    failure: Exception | None = None
    confirmed: list[str] = []
    outcomes: dict[str, SignOutcome] = {}
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        todo: list[tuple[Contract, ContractSigner, IntentConfirmation | None]] = []
        for cid in ids:
            contract = await common.load_contract(tx, cid, lock=True)
            signer = await _actionable(tx, user, contract, None, lock=True)
            if signer.state in (SignerState.SIGNING, SignerState.SIGNED):
                outcomes[cid] = SignOutcome(contract.id, signer.id, signer.state,
                                            contract.state)
                continue
            await _check_live(tx, deps, contract)
            SIGNER.ensure(signer.state, SignerState.SIGNING)
            await _check_person_ready(deps, tx, user, signer)
            evidence = (
                await tx.session.execute(
                    select(IntentConfirmation).where(IntentConfirmation.signer_id == signer.id)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            todo.append((contract, signer, evidence))
        if todo:
            if any(s.party == "person" for _, s, _ in todo) \
                    and not await _has_signature(tx, user.id):
                raise SignatureRequired()
            check = await sms_codes.verify(tx, deps, user.phone, SIGN_PURPOSE, code)
            if check.ok and (check.row is None or any(
                    e is None or e.sms_code_id != check.row.id or e.user_id != user.id
                    for _, _, e in todo)):
                failure = InvalidInput("验证码已失效，请重新获取", code="code_expired",
                                       field="code")
            elif not check.ok:
                failure = check.error
            else:
                await sms_codes.consume(tx, deps, check)
                now = deps.clock.now()
                inline = len(todo) <= INLINE_TOGETHER
                for contract, signer, evidence in todo:
                    assert evidence is not None
                    doc = await common.load_document(tx, contract.id)
                    evidence.code_entered_at = now
                    evidence.ip, evidence.user_agent = meta.ip, (meta.user_agent or "")[:300]
                    evidence.document_sha256_before = doc.current_sha256
                    signer.state, signer.signed_by = SignerState.SIGNING, user.id
                    await common.log(
                        tx, deps, "contract.sign_confirmed", contract, actor_id=user.id,
                        data={"signer_id": signer.id, "party": signer.party,
                              "phone": evidence.phone_masked, "together": len(todo),
                              "code_sent_at": evidence.code_sent_at.isoformat()
                              if evidence.code_sent_at else None,
                              "code_entered_at": now.isoformat(),
                              "user_agent": evidence.user_agent,
                              "document_sha256_before": doc.current_sha256},
                        meta=meta,
                    )
                    await outbox.enqueue(
                        tx, SIGN_JOB_KIND, {"signer_id": signer.id},
                        now=now + (RECOVERY_DELAY if inline else timedelta(0)),
                        dedupe_key=f"contract-sign:{signer.id}",
                        wakeup=None if inline else deps.outbox_wakeup,
                    )
                    confirmed.append(signer.id)
                    outcomes[contract.id] = SignOutcome(contract.id, signer.id,
                                                        SignerState.SIGNING, contract.state)
    if failure is not None:
        raise failure
    if len(confirmed) <= INLINE_TOGETHER:
        for signer_id in confirmed:
            done = await perform_signing(deps, signer_id, meta)
            outcomes[done.contract_id] = done
    return [outcomes[cid] for cid in ids if cid in outcomes]


async def _record_code_sent(
    tx: Tx, deps: Deps, contract: Contract, signer: ContractSigner, user: User,
    code_id: str, meta: RequestMeta, together: int = 0,
) -> None:
    """The intent evidence of one signer: which code went to which masked phone, when."""
    now = deps.clock.now()
    phone = mask_phone(user.phone)
    evidence = (await tx.session.execute(_INTENT, {"signer_id": signer.id})
                ).scalar_one_or_none()
    if evidence is None:
        evidence = IntentConfirmation(contract_id=contract.id, signer_id=signer.id,
                                      user_id=user.id, created_at=now, phone_masked=phone)
        tx.session.add(evidence)
    evidence.user_id, evidence.phone_masked = user.id, phone
    evidence.sms_code_id, evidence.code_sent_at = code_id, now
    data: dict[str, object] = {"signer_id": signer.id, "phone": phone}
    if together:
        data["together"] = together
    await common.log(tx, deps, "contract.sign_code_sent", contract, actor_id=user.id,
                     data=data, meta=meta)
