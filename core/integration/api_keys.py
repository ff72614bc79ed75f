"""API keys: an enterprise's credentials for server-to-server calls.

A key is made in the console by a member who may manage the enterprise, shown once,
and stored as its SHA-256 only. Sent as `Authorization: Bearer lsk_…`, it acts as the
member who made it, with that member's current permissions (so a member who leaves or
loses a role takes the key's power with them), limited by the key's scope and to its
own enterprise. `allows` is the scope rule the API applies to every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from storage.models import ApiKey, Contract, Enterprise, Member

TOKEN_PREFIX = "lsk_"  # noqa: S105 (a marker, not a secret)
MAX_KEYS = 20
# last_used_at is written at most this often per key (not a write per request).
TOUCH_EVERY = timedelta(minutes=1)

# Scope → label. read: every GET of its enterprise; contracts and employees: read plus
# the writes of that area; admin: every call an API key may make.
SCOPES: dict[str, str] = {
    "read": "只读",
    "contracts": "合同（读取、发起、撤销、归档）",
    "employees": "员工（读取、录入、审核、导入）",
    "admin": "全部管理操作",
}
# The short name shown beside a key.
SCOPE_NAMES = {"read": "只读", "contracts": "合同", "employees": "员工", "admin": "管理"}


@dataclass(frozen=True)
class ApiKeyGrant:
    """Who a request made with a key acts as, and within what."""

    key_id: str
    enterprise_id: str
    user_id: str
    scope: str


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    scope: str
    scope_label: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def _view(k: ApiKey) -> ApiKeyView:
    return ApiKeyView(k.id, k.name, k.scope, SCOPE_NAMES.get(k.scope, k.scope), k.prefix,
                      k.created_by, k.created_at, k.last_used_at, k.last_used_ip,
                      k.revoked_at)


async def list_keys(deps: Deps, user_id: str, enterprise_id: str) -> list[ApiKeyView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        rows = (await tx.session.execute(
            select(ApiKey).where(ApiKey.enterprise_id == enterprise_id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc()).limit(100)
        )).scalars().all()
    return [_view(k) for k in rows]


async def create_key(deps: Deps, user_id: str, enterprise_id: str, *, name: str, scope: str,
                     meta: RequestMeta) -> tuple[ApiKeyView, str]:
    """The new key's view and the key itself (shown once, never stored)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 60:
        raise InvalidInput("请填写密钥名称（不超过 60 个字）", code="invalid_name", field="name")
    if scope not in SCOPES:
        raise InvalidInput("请选择密钥权限范围", code="invalid_scope", field="scope")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        live = (await tx.session.execute(
            select(func.count()).select_from(ApiKey)
            .where(ApiKey.enterprise_id == enterprise_id, ApiKey.revoked_at.is_(None))
        )).scalar_one()
        if live >= MAX_KEYS:
            raise Conflict(f"每个企业最多 {MAX_KEYS} 个有效密钥", code="too_many_api_keys")
        key = ApiKey(enterprise_id=enterprise_id, created_by=user_id, name=name, scope=scope,
                     key_hash=_hash(token), prefix=token[:12], created_at=deps.clock.now())
        tx.session.add(key)
        await tx.session.flush()
        await log(tx, deps, "api_key.created", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="api_key", subject_id=key.id,
                  data={"name": name, "scope": scope}, meta=meta)
        return _view(key), token


async def revoke_key(deps: Deps, user_id: str, enterprise_id: str, key_id: str,
                     meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        key = (await tx.session.execute(
            select(ApiKey).where(ApiKey.id == key_id[:32],
                                 ApiKey.enterprise_id == enterprise_id)
        )).scalar_one_or_none()
        if key is None:
            raise NotFound("密钥不存在", code="api_key_not_found")
        if key.revoked_at is None:
            key.revoked_at, key.revoked_by = deps.clock.now(), user_id
            await log(tx, deps, "api_key.revoked", actor_id=user_id,
                      enterprise_id=enterprise_id, subject_type="api_key", subject_id=key.id,
                      data={"name": key.name}, meta=meta)


async def authenticate(deps: Deps, token: str, ip: str | None) -> ApiKeyGrant | None:
    """The grant of a live key whose maker is still an active member of a live
    enterprise; None otherwise (the request is then anonymous: 401)."""
    if not is_api_key(token) or len(token) > 100:
        return None
    now = deps.clock.now()
    async with deps.db.sessions() as session:
        row = (await session.execute(
            select(ApiKey, Member.id, Enterprise.id)
            .join(Member, (Member.enterprise_id == ApiKey.enterprise_id)
                  & (Member.user_id == ApiKey.created_by) & (Member.status == "active"))
            .join(Enterprise, Enterprise.id == ApiKey.enterprise_id)
            .where(ApiKey.key_hash == _hash(token))
        )).first()
    if row is None:
        return None
    key = row[0]
    if key.revoked_at is not None:
        return None
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY \
            or key.last_used_ip != ip:
        async with deps.db.transaction() as tx:
            await tx.session.execute(update(ApiKey).where(ApiKey.id == key.id)
                                     .values(last_used_at=now, last_used_ip=ip))
    return ApiKeyGrant(key.id, key.enterprise_id, key.created_by, key.scope)


# -- what a key may call ---------------------------------------------------------------

# Calls of one person (their own profile, identity, signing, onboarding) and platform
# calls (certifying a new enterprise) that a key never makes.
_PERSONAL = ("/me", "/auth/", "/identity", "/onboarding/", "/certification-attempts/",
             "/contracts/{id}/sign", "/contracts/{id}/reject")
# Calls outside /enterprises/{enterprise_id}/ a key may make, by method and path.
# Calls inside an enterprise a key never makes either: certifying it or appealing for
# it (a person's proof), handing over the main admin role, and managing the keys
# themselves (a key cannot mint or revoke keys: only a logged-in member can).
_PERSONAL_IN_ENTERPRISE = ("/enterprises/{enterprise_id}/certification",
                           "/enterprises/{enterprise_id}/appeal",
                           "/enterprises/{enterprise_id}/admin-transfer",
                           "/enterprises/{enterprise_id}/api-keys")
_CONTRACT_ROUTES = {("POST", "/contracts"), ("GET", "/contracts/{id}"),
                    ("GET", "/contracts/{id}/document"), ("POST", "/contracts/{id}/revoke")}
_OPEN_ROUTES = {("GET", "/events"), ("GET", "/csrf"), ("POST", "/verify"),
                ("GET", "/openapi.json")}


def needed_scope(method: str, path: str) -> str | None:
    """The scope a call needs (`path`: the route's template under /api/v1), or None
    when no key may make it."""
    if any(path == p or path.startswith(p) for p in _PERSONAL if p.endswith("/")) or \
            any(path == p or path.startswith(p + "/") for p in _PERSONAL
                if not p.endswith("/")):
        return None
    if any(path == p or path.startswith(p + "/") for p in _PERSONAL_IN_ENTERPRISE):
        return None
    write = method not in ("GET", "HEAD", "OPTIONS")
    if (method, path) in _OPEN_ROUTES:
        return "read"
    if (method, path) in _CONTRACT_ROUTES:
        return "contracts" if write else "read"
    if path.startswith("/enterprises/{enterprise_id}/"):
        if not write:
            return "read"
        if path.startswith("/enterprises/{enterprise_id}/employees"):
            return "employees"
        if path.startswith("/enterprises/{enterprise_id}/archive"):
            # Paper archive (core/contracts/archive.py): contract records.
            return "contracts"
        return "admin"
    return None


def _covers(granted: str, needed: str) -> bool:
    return granted == "admin" or needed == "read" or granted == needed


def check_call(grant: ApiKeyGrant, method: str, path: str,
               enterprise_id: str | None) -> None:
    """PermissionDenied unless the key's scope covers the call and the call stays in the
    key's enterprise (`enterprise_id`: the one the call names, if any)."""
    needed = needed_scope(method, path)
    if needed is None:
        raise PermissionDenied("API 密钥不能调用此接口", code="api_key_not_allowed")
    if not _covers(grant.scope, needed):
        raise PermissionDenied(f"API 密钥的权限范围不包含此操作（需要 {needed}）",
                               code="api_key_scope")
    if enterprise_id is not None and enterprise_id != grant.enterprise_id:
        raise PermissionDenied("API 密钥只能访问其所属企业", code="api_key_enterprise")


async def contract_enterprise(deps: Deps, contract_id: str) -> str | None:
    """The enterprise a contract was sent in (None: no such contract)."""
    async with deps.db.sessions() as session:
        return (await session.execute(
            select(Contract.enterprise_id).where(Contract.id == contract_id[:32])
        )).scalar_one_or_none()
