"""Async factories for test data, shared by every area's tests.

Rows are inserted directly (fast, no SMS, no audit) so a test can start from any state;
flows under test still go through the real services.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy import select

from core.captcha import answer_hash
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher, mask_id_number
from core.devtools import sms_inbox
from core.outbox import OutboxWorker
from core.sessions import IssuedSession, start_session
from storage.models import CaptchaChallenge, User

DEFAULT_PASSWORD = "Passw0rd!"
_phones = itertools.count(1)


def next_phone() -> str:
    """A fresh valid mainland number per call (13700000001, 13700000002, ...)."""
    return f"137{next(_phones):08d}"


@lru_cache(maxsize=16)
def _password_hash(password: str) -> str:
    # argon2 costs ~50 ms; tests reuse one hash per distinct password.
    return PasswordHasher().hash(password)


async def make_user(
    deps: Deps,
    *,
    phone: str | None = None,
    password: str | None = DEFAULT_PASSWORD,
    verified: bool = False,
    real_name: str = "张三",
    id_number: str = "11010119900307123X",
    email: str | None = None,
    status: str = "active",
) -> User:
    """A registered (or `status="invited"`) user; `verified=True` fills a passed real-name check."""
    now = deps.clock.now()
    user = User(
        phone=phone or next_phone(),
        password_hash=_password_hash(password) if password else None,
        email=email,
        status=status,
        identity_state="unverified",
        created_at=now,
        password_changed_at=now if password else None,
    )
    if verified:
        cipher = FieldCipher.from_config(deps.config)
        user.identity_state = "verified"
        user.real_name = real_name
        user.id_type = "id_card"
        user.id_number_cipher = cipher.encrypt(id_number)
        user.id_number_hash = cipher.lookup_hash(id_number)
        user.id_number_masked = mask_id_number(id_number)
        user.verified_at = now
    async with deps.db.transaction() as tx:
        tx.session.add(user)
    return user


async def get_user(deps: Deps, user_id: str) -> User | None:
    async with deps.db.sessions() as session:
        return await session.get(User, user_id)


async def user_by_phone(deps: Deps, phone: str) -> User | None:
    async with deps.db.sessions() as session:
        return (await session.execute(select(User).where(User.phone == phone))).scalar_one_or_none()


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session: IssuedSession

    @property
    def headers(self) -> dict[str, str]:
        """For API calls as this user (bearer: no CSRF token needed)."""
        return {"Authorization": f"Bearer {self.session.token}"}


async def login_as(deps: Deps, user: User, method: str = "password") -> LoggedIn:
    async with deps.db.transaction() as tx:
        issued = await start_session(tx, deps, user, method, RequestMeta(ip="127.0.0.1"))
    return LoggedIn(user, issued)


async def last_code(deps: Deps, outbox: OutboxWorker, phone: str) -> str:
    """Deliver queued SMS and read the newest code sent to `phone` from the dev inbox."""
    await outbox.drain()
    for message in await sms_inbox(deps, phone):
        if message.code:
            return message.code
    raise AssertionError(f"no code was sent to {phone}")


async def solved_captcha(deps: Deps, answer: str = "AC3K") -> tuple[str, str]:
    """A live captcha challenge whose answer the test knows: (id, answer)."""
    now = deps.clock.now()
    row = CaptchaChallenge(answer_hash="", created_at=now,
                           expires_at=now + timedelta(seconds=300))
    async with deps.db.transaction() as tx:
        tx.session.add(row)
        await tx.session.flush()
        row.answer_hash = answer_hash(deps.config, row.id, answer)
    return row.id, answer
