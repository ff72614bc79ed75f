"""Helpers for the real-name tests: users inserted directly, valid ID numbers on demand."""

from __future__ import annotations

import re
from typing import Any

from core.context import Deps, RequestMeta
from core.sessions import start_session
from core.validators import id_card_check_char
from storage.models import User


def id_number(sequence: str = "123", birth: str = "19900307", region: str = "110101") -> str:
    """A GB 11643-valid ID number; the sequence code drives the dev provider's outcome."""
    first17 = f"{region}{birth}{sequence}"
    return first17 + id_card_check_char(first17)


def bad_check_digit(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


async def make_user(deps: Deps, phone: str = "13912345678") -> str:
    async with deps.db.transaction() as tx:
        user = User(phone=phone, created_at=deps.clock.now(), status="active",
                    identity_state="unverified")
        tx.session.add(user)
        await tx.session.flush()
        return user.id


async def login(deps: Deps, client: Any, user_id: str) -> str:
    """Start a server-side session for the user and put its cookie in the test client."""
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        assert user is not None
        issued = await start_session(tx, deps, user, "password", RequestMeta(ip="127.0.0.1"))
    client.session.cookie_jar.update_cookies({"ls_session": issued.token})
    return issued.token


CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)
