"""Platform operators: created from the command line, checked by every operator service."""

from __future__ import annotations

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import NotFound
from core.validators import normalize_phone
from storage.models import PlatformOperator, User


async def create_operator(deps: Deps, phone: str) -> str:
    """Make the registered user with this phone an operator; returns the user id."""
    phone = normalize_phone(phone)
    async with deps.db.transaction() as tx:
        user = (
            await tx.session.execute(select(User).where(User.phone == phone))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("该手机号尚未注册，请先注册账号", code="user_not_found")
        if await tx.session.get(PlatformOperator, user.id) is None:
            tx.session.add(PlatformOperator(user_id=user.id, created_at=deps.clock.now()))
            await log(tx, deps, "operator.created", actor_id=None, enterprise_id=None,
                      subject_type="user", subject_id=user.id, meta=RequestMeta(ip="cli"))
        return user.id


async def is_operator(deps: Deps, user_id: str) -> bool:
    async with deps.db.transaction() as tx:
        return await R.is_operator(tx, user_id)
