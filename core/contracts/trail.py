"""The signing trail (签署轨迹) of one contract: who the parties are and how each was
identified, every intent confirmation, the document versions and hashes, and the audit
chain entries about the contract. The trail pages and the evidence report both read it.

Only parties see it (the rules of `common.require_involved`). Everything here is read
from rows the flow already wrote; nothing is recomputed from the request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.context import Deps
from core.contracts import common
from core.contracts.states import CONTRACT_LABELS, ContractState, SignerState, signer_label
from core.crypto import mask_phone
from core.enterprise.certification.states import METHODS as ENTERPRISE_METHODS
from core.identity import METHODS as PERSON_METHODS
from storage.models import (
    AuditEntry,
    Certificate,
    CertificationAttempt,
    Contract,
    DocumentHash,
    Enterprise,
    IdentityVerification,
    IntentConfirmation,
    SigningDisclosure,
    User,
)
from storage.uow import Tx

# The audit entries a trail shows: the contract's own, newest last. Bounded: a contract
# has a few dozen; a pathological one is cut with a note.
MAX_ENTRIES = 400

ACTION_LABELS = {
    "contract.created": "创建合同", "contract.sent": "发起合同",
    "contract.sign_code_sent": "发送签署验证码", "contract.sign_confirmed": "验证码确认签署意愿",
    "contract.signed": "完成数字签名", "contract.sign_failed": "签署未完成",
    "contract.completed": "合同签署完成", "contract.rejected": "拒签合同",
    "contract.revoked": "撤销合同", "contract.expired": "合同已过期",
    "contract.auto_sign": "自动盖章", "contract.auto_sign_withdrawn": "自动盖章已取消",
    "contract.disclosure_shown": "展示电子签约告知书",
    "contract.disclosure_accepted": "确认电子签约告知书",
    "contract.paper_copy_requested": "申请纸质副本",
    "contract.paper_copy_updated": "纸质副本处理进度",
}
PAPER_STATES = {"requested": "已申请", "printed": "已打印", "stamped": "已盖章",
                "handed_over": "已交付"}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def _entry_label(action: str, data: dict[str, object]) -> str:
    if action == "contract.paper_copy_updated" and str(data.get("state")) in PAPER_STATES:
        return f"纸质副本{PAPER_STATES[str(data['state'])]}"
    return action_label(action)


@dataclass(frozen=True)
class IdentityCheck:
    method: str  # label, e.g. 人脸识别
    provider: str
    at: datetime | None
    id_masked: str | None


@dataclass(frozen=True)
class Intent:
    method: str  # 短信验证码 | 自动签署授权
    phone_masked: str | None
    code_sent_at: datetime | None
    code_entered_at: datetime | None
    ip: str | None
    device: str | None
    sha256_before: str | None
    sha256_after: str | None
    completed_at: datetime | None


@dataclass(frozen=True)
class CertificateView:
    subject: str
    serial: str
    issuer: str
    not_before: datetime
    not_after: datetime
    sha256: str
    status: str


@dataclass(frozen=True)
class Party:
    signer_id: str
    party: str  # person | enterprise
    name: str
    phone_masked: str | None
    state: str
    state_label: str
    signed_at: datetime | None
    # The person (or, for an enterprise, the member who sealed) and their identity check.
    actor_name: str | None
    identity: IdentityCheck | None
    # The enterprise's own certification (enterprise rows only).
    enterprise_check: IdentityCheck | None
    disclosure_accepted_at: datetime | None
    intent: Intent | None
    certificate: CertificateView | None
    reject_reason: str | None


@dataclass(frozen=True)
class Version:
    version: int
    kind: str  # original | prepared | signed
    sha256: str
    at: datetime


@dataclass(frozen=True)
class TrailEntry:
    chain_seq: int
    at: datetime
    action: str
    label: str
    actor: str | None
    ip: str | None
    detail: str
    hash: str
    prev_hash: str


@dataclass(frozen=True)
class Trail:
    contract_id: str
    title: str
    state: str
    state_label: str
    enterprise_id: str
    enterprise_name: str
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    document_sha256: str
    document_version: int
    filename: str
    parties: tuple[Party, ...]
    versions: tuple[Version, ...]
    entries: tuple[TrailEntry, ...]
    entries_cut: bool
    chain: str
    number: str = ""  # the ledger's human contract number (HT…)

    def fingerprint(self) -> str:
        """What a report built from this trail depends on."""
        last = self.entries[-1].hash if self.entries else ""
        basis = [self.document_sha256, self.document_version, self.state, last,
                 len(self.entries)]
        return hashlib.sha256(json.dumps(basis).encode()).hexdigest()


def _detail(data: dict[str, object]) -> str:
    """The entry's data as one line for people (ids kept: they tie rows together)."""
    keep = ("name", "party", "phone", "method", "reason", "ip", "user_agent",
            "code_sent_at", "code_entered_at", "document_sha256_before",
            "document_sha256_after", "document_sha256", "certificate_id", "grant_id",
            "version", "signer_id", "disclosure_version", "state", "seal")
    parts = []
    for key in keep:
        value = data.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key}={value}")
    return "; ".join(parts)[:600]


async def _identity(tx: Tx, user: User | None) -> IdentityCheck | None:
    if user is None or user.identity_state != "verified":
        return None
    row = (await tx.session.execute(
        select(IdentityVerification).where(IdentityVerification.user_id == user.id,
                                           IdentityVerification.state == "verified")
        .order_by(IdentityVerification.attempt.desc()).limit(1)
    )).scalar_one_or_none()
    if row is None:
        return IdentityCheck("实名认证", "", user.verified_at, user.id_number_masked)
    return IdentityCheck(PERSON_METHODS.get(row.method, row.method), row.provider,
                         row.completed_at or user.verified_at, row.id_number_masked)


async def _enterprise_check(tx: Tx, enterprise_id: str | None) -> IdentityCheck | None:
    if not enterprise_id:
        return None
    ent = await tx.session.get(Enterprise, enterprise_id)
    if ent is None:
        return None
    attempt = (await tx.session.execute(
        select(CertificationAttempt).where(CertificationAttempt.enterprise_id == ent.id,
                                           CertificationAttempt.state == "passed")
        .order_by(CertificationAttempt.created_at.desc()).limit(1)
    )).scalar_one_or_none()
    method = ENTERPRISE_METHODS.get(attempt.method, attempt.method) if attempt else "企业认证"
    return IdentityCheck(f"企业实名认证（{method}）", "", ent.certified_at,
                         f"统一社会信用代码 {ent.credit_code}")


def _dn(name: str) -> str:
    """An RFC 4514 name as people read it (the serialNumber attribute by its name)."""
    return name.replace("2.5.4.5=", "SERIALNUMBER=")


def _cert_view(row: Certificate | None) -> CertificateView | None:
    if row is None:
        return None
    return CertificateView(_dn(row.subject), row.serial, _dn(row.issuer), row.not_before,
                           row.not_after,
                           hashlib.sha256(row.cert_der).hexdigest(), row.status)


async def load_trail_in(tx: Tx, contract: Contract, now: datetime | None = None) -> Trail:
    """The trail of a contract the caller has already checked access to; with `now`, a
    contract past its deadline reads as expired whatever the sweep has done."""
    state = common.effective_state(contract, now) if now else ContractState(contract.state)
    signers = await common.signers_of(tx, contract.id)
    doc = await common.load_document(tx, contract.id)
    ent = await tx.session.get(Enterprise, contract.enterprise_id)
    intents = {
        r.signer_id: r for r in (await tx.session.execute(
            select(IntentConfirmation).where(IntentConfirmation.contract_id == contract.id)
        )).scalars()
    }
    parties = []
    for s in signers:
        actor_id = s.signed_by or s.user_id
        actor = await tx.session.get(User, actor_id) if actor_id else None
        ev = intents.get(s.id)
        intent = None
        if (ev is not None and ev.code_entered_at is not None) or (
                ev is not None and ev.sms_code_id is None and ev.completed_at is not None):
            assert ev is not None
            intent = Intent(
                "短信验证码" if ev.sms_code_id else "自动签署授权",
                ev.phone_masked if ev.sms_code_id else None, ev.code_sent_at,
                ev.code_entered_at, ev.ip, ev.user_agent, ev.document_sha256_before,
                ev.document_sha256_after, ev.completed_at)
        disclosure = None
        if s.party == "person" and actor is not None:
            disclosure = (await tx.session.execute(
                select(SigningDisclosure.accepted_at).where(
                    SigningDisclosure.user_id == actor.id,
                    SigningDisclosure.accepted_at.is_not(None))
                .order_by(SigningDisclosure.accepted_at).limit(1)
            )).scalar_one_or_none()
        cert = await tx.session.get(Certificate, s.certificate_id) if s.certificate_id else None
        parties.append(Party(
            s.id, s.party, ent.name if s.party == "enterprise" and ent else s.name,
            mask_phone(s.phone) if s.phone else None, s.state,
            signer_label(s.state, state), s.signed_at,
            actor.real_name or None if actor else None,
            await _identity(tx, actor) if s.state in (SignerState.SIGNING, SignerState.SIGNED)
            or s.party == "person" else None,
            await _enterprise_check(tx, s.enterprise_id) if s.party == "enterprise" else None,
            disclosure, intent, _cert_view(cert), s.reject_reason,
        ))
    versions = tuple(
        Version(v.version, v.kind, v.sha256, v.created_at) for v in (await tx.session.execute(
            select(DocumentHash).where(DocumentHash.contract_id == contract.id)
            .order_by(DocumentHash.version, DocumentHash.created_at)
        )).scalars()
    )
    rows = list((await tx.session.execute(
        select(AuditEntry).where(AuditEntry.chain == contract.enterprise_id,
                                 AuditEntry.subject_type == "contract",
                                 AuditEntry.subject_id == contract.id)
        .order_by(AuditEntry.chain_seq).limit(MAX_ENTRIES + 1)
    )).scalars())
    actor_ids = {r.actor_id for r in rows if r.actor_id}
    names = dict((await tx.session.execute(
        select(User.id, User.real_name).where(User.id.in_(actor_ids or {""}))
    )).all())
    entries = tuple(
        TrailEntry(r.chain_seq, r.at, r.action, _entry_label(r.action, r.data or {}),
                   names.get(r.actor_id) if r.actor_id else "系统", r.ip,
                   _detail(r.data or {}), r.hash, r.prev_hash)
        for r in rows[:MAX_ENTRIES]
    )
    return Trail(
        contract.id, contract.title, state.value, CONTRACT_LABELS[state], contract.enterprise_id,
        ent.name if ent else "", contract.created_at, contract.sent_at,
        contract.completed_at, contract.ended_at, contract.end_reason,
        doc.current_sha256, doc.version, doc.filename, tuple(parties), versions, entries,
        len(rows) > MAX_ENTRIES, contract.enterprise_id, contract.number or "",
    )


async def load_trail(deps: Deps, user_id: str, contract_id: str) -> Trail:
    """The trail for a party of the contract (NotFound for anyone else)."""
    async with deps.db.reading() as tx:
        user = await common.load_user(tx, user_id)
        contract = await common.load_contract(tx, contract_id)
        signers = await common.signers_of(tx, contract.id)
        await common.require_involved(tx, user, contract, signers)
        return await load_trail_in(tx, contract, deps.clock.now())
