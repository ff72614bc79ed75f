"""Server-side sessions. The token is random; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from core.context import Deps, RequestMeta
from storage.models import User, UserSession
from storage.uow import Tx


@dataclass(frozen=True)
class CurrentSession:
    session_id: str
    user_id: str
    csrf_token: str
    method: str


@dataclass(frozen=True)
class IssuedSession:
    token: str
    csrf_token: str
    max_age: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    tx: Tx, deps: Deps, user: User, method: str, meta: RequestMeta
) -> IssuedSession:
    now = deps.clock.now()
    ttl = timedelta(hours=deps.config.security.session_ttl_hours)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    tx.session.add(
        UserSession(
            token_hash=_hash(token), user_id=user.id, csrf_token=csrf, created_at=now,
            expires_at=now + ttl, ip=meta.ip, user_agent=(meta.user_agent or "")[:300],
            method=method,
        )
    )
    await tx.session.flush()
    return IssuedSession(token=token, csrf_token=csrf, max_age=int(ttl.total_seconds()))


# Every authenticated request runs it: built once (bound parameter).
_SESSION = (select(UserSession.id, UserSession.user_id, UserSession.csrf_token,
                   UserSession.method, UserSession.revoked_at, UserSession.expires_at,
                   User.status)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == bindparam("token_hash")))


async def load_session(deps: Deps, token: str) -> CurrentSession | None:
    if not token or len(token) > 200:
        return None
    now = deps.clock.now()
    async with deps.db.sessions() as session:
        row = (await session.execute(_SESSION, {"token_hash": _hash(token)})).first()
    if row is None:
        return None
    session_id, user_id, csrf, method, revoked_at, expires_at, status = row
    if revoked_at is not None or expires_at <= now or status != "active":
        return None
    return CurrentSession(session_id, user_id, csrf, method)


async def end_session(deps: Deps, session_id: str) -> None:
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(UserSession).where(UserSession.id == session_id)
            .values(revoked_at=deps.clock.now())
        )


async def end_all_sessions(
    tx: Tx, user_id: str, now: datetime, except_id: str | None = None
) -> None:
    """After a password or phone change every other device must log in again."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if except_id:
        query = query.where(UserSession.id != except_id)
    await tx.session.execute(query.values(revoked_at=now))
