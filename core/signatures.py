"""My signatures (A4): handwritten signatures drawn on a phone, directly or via a PC's QR code,
and the pre-made name seal (预制人名章) of a verified person.

A PC cannot draw a good signature, so it shows a QR code holding a one-time token
(5 minutes, single use); the phone that scans it opens the pad and the drawing lands
in the PC user's account. The PC page polls `handover_status` and updates by itself.

The name seal is drawn from the verified real name the first time the person's
signatures are listed after verification, and stored as a row like a drawing (source
`name_seal`), so choosing it as the default and signing with it work as for any
signature. It is never made the default by itself (the person chooses), never counts
towards MAX_SIGNATURES and cannot be deleted (it would only come back).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update

from core import audit, ratelimit
from core.context import Deps, RequestMeta
from core.cpu import run_cpu
from core.errors import Conflict, NotFound
from core.signing.seals import name_seal, normalize_signature
from storage.models import HandwrittenSignature, SignaturePadToken, User
from storage.uow import Tx

NAME_SEAL = "name_seal"
SOURCE_LABELS = {"pad_direct": "手写签名", "pad_qr": "手写签名", NAME_SEAL: "预制人名章"}
PAD_TOKEN_MINUTES = 5
MAX_SIGNATURES = 10
HANDOVER_LIMITS = [ratelimit.Limit(20, 3600, "二维码生成过于频繁，请稍后再试")]


@dataclass(frozen=True)
class Handover:
    id: str
    token: str
    pad_url: str
    expires_at: datetime


@dataclass(frozen=True)
class SignatureView:
    id: str
    width: int
    height: int
    is_default: bool
    source: str
    created_at: datetime

    @property
    def label(self) -> str:
        return SOURCE_LABELS.get(self.source, "手写签名")

    @property
    def is_name_seal(self) -> bool:
        return self.source == NAME_SEAL


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_handover(deps: Deps, user_id: str, meta: RequestMeta) -> Handover:
    now = deps.clock.now()
    token = secrets.token_urlsafe(24)
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, "pad_handover", user_id, HANDOVER_LIMITS, now)
        row = SignaturePadToken(
            token_hash=_hash(token), user_id=user_id, created_at=now,
            expires_at=now + timedelta(minutes=PAD_TOKEN_MINUTES),
        )
        tx.session.add(row)
        await tx.session.flush()
        await audit.record(
            tx, at=now, action="signature.pad_handover", actor_id=user_id,
            subject_type="signature_pad_token", subject_id=row.id, meta=meta,
        )
    base = deps.config.server.base_url.rstrip("/")
    return Handover(row.id, token, f"{base}/pad/{token}", row.expires_at)


async def _live_token(tx: Tx, token: str, now: datetime) -> SignaturePadToken:
    if not token or len(token) > 100:
        raise NotFound("二维码无效", code="pad_token_invalid")
    row = (
        await tx.session.execute(
            select(SignaturePadToken).where(SignaturePadToken.token_hash == _hash(token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("二维码无效", code="pad_token_invalid")
    if row.used_at is not None:
        raise Conflict("该二维码已使用，请在电脑上重新生成", code="pad_token_used")
    if row.expires_at <= now:
        raise Conflict("二维码已过期，请在电脑上刷新后重新扫码", code="pad_token_expired")
    return row


async def check_pad_token(deps: Deps, token: str) -> None:
    """Raise if the token cannot be used (the phone shows why before anyone draws)."""
    async with deps.db.transaction() as tx:
        await _live_token(tx, token, deps.clock.now())


@dataclass(frozen=True)
class CleanSignature:
    png: bytes
    width: int
    height: int


async def _clean(upload: bytes) -> CleanSignature:
    """Trim the drawing to its ink (process pool); raises InvalidInput with a clear code."""
    png = await run_cpu(normalize_signature, upload)
    # PNG IHDR: width and height are the big-endian words at bytes 16-24.
    return CleanSignature(png, int.from_bytes(png[16:20]), int.from_bytes(png[20:24]))


async def _store(
    tx: Tx, user_id: str, clean: CleanSignature, source: str, now: datetime
) -> HandwrittenSignature:
    live = (HandwrittenSignature.user_id == user_id, HandwrittenSignature.deleted_at.is_(None))
    count = (
        await tx.session.execute(
            select(func.count()).where(*live, HandwrittenSignature.source != NAME_SEAL)
        )
    ).scalar_one()
    if count >= MAX_SIGNATURES:
        raise Conflict(f"最多保存 {MAX_SIGNATURES} 个签名，请先删除不用的签名",
                       code="too_many_signatures")
    has_default = (
        await tx.session.execute(
            select(HandwrittenSignature.id).where(*live, HandwrittenSignature.is_default)
            .limit(1)
        )
    ).scalar_one_or_none() is not None
    row = HandwrittenSignature(
        user_id=user_id, png=clean.png, width=clean.width, height=clean.height,
        sha256=hashlib.sha256(clean.png).hexdigest(), is_default=not has_default,
        source=source, created_at=now,
    )
    tx.session.add(row)
    await tx.session.flush()
    return row


async def submit_from_pad(deps: Deps, token: str, png: bytes, meta: RequestMeta) -> str:
    clean = await _clean(png)  # before the transaction: no lock held during CPU work
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        pad = await _live_token(tx, token, now)
        row = await _store(tx, pad.user_id, clean, "pad_qr", now)
        pad.used_at, pad.signature_id = now, row.id
        await audit.record(
            tx, at=now, action="signature.added", actor_id=pad.user_id,
            subject_type="handwritten_signature", subject_id=row.id,
            data={"source": "pad_qr", "sha256": row.sha256}, meta=meta,
        )
    return row.id


async def add_signature(deps: Deps, user_id: str, png: bytes, meta: RequestMeta) -> str:
    clean = await _clean(png)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await _store(tx, user_id, clean, "pad_direct", now)
        await audit.record(
            tx, at=now, action="signature.added", actor_id=user_id,
            subject_type="handwritten_signature", subject_id=row.id,
            data={"source": "pad_direct", "sha256": row.sha256}, meta=meta,
        )
    return row.id


async def handover_status(
    deps: Deps, user_id: str, handover_id: str
) -> Literal["waiting", "done", "expired"]:
    async with deps.db.sessions() as session:
        row = await session.get(SignaturePadToken, handover_id)
    if row is None or row.user_id != user_id:
        raise NotFound()
    if row.used_at is not None:
        return "done"
    return "expired" if row.expires_at <= deps.clock.now() else "waiting"


async def _name_seal_due(deps: Deps, user_id: str) -> str | None:
    """The verified name whose seal is not drawn yet, else None (a cheap read)."""
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
        if user is None or user.identity_state != "verified" or not user.real_name:
            return None
        existing = (
            await session.execute(
                select(HandwrittenSignature.id).where(
                    HandwrittenSignature.user_id == user_id,
                    HandwrittenSignature.source == NAME_SEAL,
                ).limit(1)
            )
        ).scalar_one_or_none()
    return None if existing is not None else user.real_name


async def ensure_name_seal(deps: Deps, user_id: str) -> bool:
    """Draw and store the verified person's 预制人名章 once; True when it was added now."""
    name = await _name_seal_due(deps, user_id)
    if name is None:
        return False
    cfg = deps.config.signing
    png = await run_cpu(functools.partial(
        name_seal, name, font_path=cfg.name_seal_font_path, fallback_font_path=cfg.font_path,
        font_index=cfg.font_index))
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = (
            await tx.session.execute(select(User).where(User.id == user_id).with_for_update())
        ).scalar_one()
        # Another request may have drawn it meanwhile: the user row lock serialises us.
        again = (
            await tx.session.execute(
                select(HandwrittenSignature.id).where(
                    HandwrittenSignature.user_id == user_id,
                    HandwrittenSignature.source == NAME_SEAL,
                ).limit(1)
            )
        ).scalar_one_or_none()
        if again is not None or user.real_name != name:
            return False
        row = HandwrittenSignature(
            user_id=user_id, png=png, width=int.from_bytes(png[16:20]),
            height=int.from_bytes(png[20:24]), sha256=hashlib.sha256(png).hexdigest(),
            is_default=False, source=NAME_SEAL, created_at=now,
        )
        tx.session.add(row)
        await tx.session.flush()
        await audit.record(
            tx, at=now, action="signature.name_seal_made", actor_id=user_id,
            subject_type="handwritten_signature", subject_id=row.id,
            data={"source": NAME_SEAL, "sha256": row.sha256},
        )
    return True


async def list_signatures(deps: Deps, user_id: str) -> list[SignatureView]:
    """The person's signatures, default first; the name seal is drawn on the first visit
    after real-name verification."""
    await ensure_name_seal(deps, user_id)
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(HandwrittenSignature)
                .where(
                    HandwrittenSignature.user_id == user_id,
                    HandwrittenSignature.deleted_at.is_(None),
                )
                .order_by(HandwrittenSignature.is_default.desc(),
                          HandwrittenSignature.created_at.desc())
            )
        ).scalars().all()
    return [
        SignatureView(r.id, r.width, r.height, r.is_default, r.source, r.created_at) for r in rows
    ]


async def _owned(tx: Tx, user_id: str, signature_id: str) -> HandwrittenSignature:
    row = await tx.session.get(HandwrittenSignature, signature_id)
    if row is None or row.user_id != user_id or row.deleted_at is not None:
        raise NotFound("签名不存在", code="signature_not_found")
    return row


async def signature_png(deps: Deps, user_id: str, signature_id: str) -> bytes:
    async with deps.db.transaction() as tx:
        return (await _owned(tx, user_id, signature_id)).png


async def default_signature_png(deps: Deps, user_id: str) -> bytes | None:
    """The stamp used when this person signs; None means: ask them to draw one first."""
    async with deps.db.sessions() as session:
        return (
            await session.execute(
                select(HandwrittenSignature.png).where(
                    HandwrittenSignature.user_id == user_id,
                    HandwrittenSignature.deleted_at.is_(None),
                    HandwrittenSignature.is_default.is_(True),
                )
            )
        ).scalar_one_or_none()


async def set_default(deps: Deps, user_id: str, signature_id: str, meta: RequestMeta) -> None:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await _owned(tx, user_id, signature_id)
        await tx.session.execute(
            update(HandwrittenSignature)
            .where(HandwrittenSignature.user_id == user_id)
            .values(is_default=False)
        )
        row.is_default = True
        await audit.record(
            tx, at=now, action="signature.default_set", actor_id=user_id,
            subject_type="handwritten_signature", subject_id=row.id, meta=meta,
        )


async def delete_signature(deps: Deps, user_id: str, signature_id: str, meta: RequestMeta) -> None:
    """Soft delete: signed contracts keep their stamp; the pad list forgets it."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await _owned(tx, user_id, signature_id)
        if row.source == NAME_SEAL:
            raise Conflict("预制人名章不能删除；不想使用时，把其他签名设为默认即可",
                           code="name_seal_not_deletable")
        row.deleted_at, was_default, row.is_default = now, row.is_default, False
        if was_default:
            newest = (
                await tx.session.execute(
                    select(HandwrittenSignature)
                    .where(
                        HandwrittenSignature.user_id == user_id,
                        HandwrittenSignature.deleted_at.is_(None),
                        HandwrittenSignature.id != row.id,
                        HandwrittenSignature.source != NAME_SEAL,
                    )
                    .order_by(HandwrittenSignature.created_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if newest is not None:
                newest.is_default = True
        await audit.record(
            tx, at=now, action="signature.deleted", actor_id=user_id,
            subject_type="handwritten_signature", subject_id=row.id, meta=meta,
        )
