"""Onboarding by QR code (PRODUCT B5, E4): the enterprise's poster and the worker's own
registration behind it.

HR gets one long-lived `onboarding` scene per enterprise (core.wechat.scenes): its token
is in a plain link QR (`/onboarding/join?scene=<token>`, any phone camera) and, when
WeChat made a ticket, in the official account's scene QR (the bot answers the scan with
an OAuth link to the same page). The poster is reused until shortly before it expires;
a reset expires every current scene of the enterprise and makes a new one, so a leaked
or outdated poster stops working at once.

A worker who scans logs in, passes the real-name check, and fills the enterprise's
onboarding fields; name, phone and ID number come from their account and verified
identity, never from the form. The result is an Employee in pending_review linked to the
account (source "qr"), reviewed by HR exactly like a collected one (review_employee).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import Select, or_, select

from core import ratelimit
from core.context import Deps, RequestMeta
from core.crypto import mask_name, mask_phone
from core.enterprise import roles as R
from core.enterprise.common import cipher, log
from core.enterprise.departments import all_departments, flatten
from core.enterprise.employees import (
    ALWAYS,
    FIELDS,
    STATUS_LABELS,
    EmployeeStatus,
    clean_values,
    dept_lookup_for,
)
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.wechat.scenes import create_scene
from storage.models import Employee, Enterprise, User, WechatScene
from storage.uow import Tx

SCENE_KIND = "onboarding"
JOIN_PATH = "/onboarding/join"
# Poster views make a fresh scene this long before the current one expires, so a
# printed poster is never handed out with only hours left.
RENEW_BEFORE = timedelta(days=3)
# Each new scene may call the WeChat API; resets are a deliberate act, not a loop.
POSTER_BUCKET = "onboarding_poster"
POSTER_LIMITS = (ratelimit.Limit(20, 24 * 3600, "今日生成入职二维码次数过多，请明天再试"),)
# Filled from the account and the verified identity, never typed on the join page.
FROM_ACCOUNT = ("name", "phone", "id_number")

INVALID_MESSAGE = "入职二维码无效，请向企业 HR 索取新的二维码"
EXPIRED_MESSAGE = "入职二维码已过期或已被企业重置，请向企业 HR 索取新的二维码"


# ---------------------------------------------------------------- poster (HR)


@dataclass(frozen=True)
class Poster:
    enterprise_id: str
    enterprise_name: str
    token: str
    # The page the plain link QR encodes.
    join_url: str
    # WeChat's scene QR image, when the API issued a ticket.
    wechat_qr_url: str | None
    # The dev WeChat client (console) issues fake tickets: scan them in /dev/wechat.
    wechat_simulated: bool
    created_at: datetime
    expires_at: datetime
    scans: int


def join_url(deps: Deps, token: str) -> str:
    return f"{deps.config.server.base_url.rstrip('/')}{JOIN_PATH}?scene={quote(token)}"


def _renew_before(deps: Deps) -> timedelta:
    ttl = timedelta(days=deps.config.wechat.onboarding_scene_ttl_days)
    return min(RENEW_BEFORE, ttl / 4)


def _require_certified(ent: Enterprise, message: str) -> None:
    if ent.state != "certified":
        raise Conflict(message, code="not_certified")


def _poster(deps: Deps, ent_id: str, ent_name: str, scene: WechatScene) -> Poster:
    simulated = deps.config.wechat.client == "console"
    image = None
    if scene.qr_ticket and not simulated:
        image = ("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="
                 + quote(scene.qr_ticket, safe=""))
    return Poster(
        ent_id, ent_name, scene.token, join_url(deps, scene.token), image,
        simulated and bool(scene.qr_ticket), scene.created_at, scene.expires_at, scene.scans,
    )


def _scenes_of(enterprise_id: str, now: datetime) -> Select[WechatScene]:
    return (
        select(WechatScene)
        .where(
            WechatScene.kind == SCENE_KIND,
            WechatScene.payload["enterprise_id"].as_string() == enterprise_id,
            WechatScene.expires_at > now,
        )
        .order_by(WechatScene.expires_at.desc(), WechatScene.id)
    )


async def _new_poster(deps: Deps, user_id: str, ent_id: str, ent_name: str,
                      action: str, meta: RequestMeta | None) -> Poster:
    # create_scene talks to WeChat outside any transaction, then stores the scene.
    ticket = await create_scene(
        deps, SCENE_KIND, {"enterprise_id": ent_id, "enterprise_name": ent_name},
        created_by=user_id,
    )
    async with deps.db.transaction() as tx:
        scene = (
            await tx.session.execute(select(WechatScene).where(WechatScene.token == ticket.token))
        ).scalar_one()
        await log(tx, deps, action, actor_id=user_id, enterprise_id=ent_id,
                  subject_type="wechat_scene", subject_id=scene.id,
                  data={"expires_at": scene.expires_at.isoformat(),
                        "wechat_qr": scene.qr_ticket is not None}, meta=meta)
        return _poster(deps, ent_id, ent_name, scene)


async def onboarding_poster(deps: Deps, user_id: str, enterprise_id: str,
                            meta: RequestMeta | None = None) -> Poster:
    """The enterprise's current onboarding poster; made on first use and near expiry."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        _require_certified(ent, "企业认证完成后才能生成入职二维码")
        current = (await tx.session.execute(_scenes_of(enterprise_id, now).limit(1))
                   ).scalar_one_or_none()
        if current is not None and current.expires_at - now > _renew_before(deps):
            return _poster(deps, ent.id, ent.name, current)
        await ratelimit.hit(tx, POSTER_BUCKET, enterprise_id, POSTER_LIMITS, now)
        name = ent.name
    return await _new_poster(deps, user_id, enterprise_id, name, "employees.qr_created", meta)


async def reset_onboarding_poster(deps: Deps, user_id: str, enterprise_id: str,
                                  meta: RequestMeta) -> Poster:
    """A new poster; every earlier one of this enterprise stops working now."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        _require_certified(ent, "企业认证完成后才能生成入职二维码")
        await ratelimit.hit(tx, POSTER_BUCKET, enterprise_id, POSTER_LIMITS, now)
        old = (await tx.session.execute(_scenes_of(enterprise_id, now).with_for_update())
               ).scalars().all()
        for scene in old:
            scene.expires_at = now  # scan_scene and the join page both refuse it from now on
        await log(tx, deps, "employees.qr_reset", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="enterprise", subject_id=enterprise_id,
                  data={"revoked": len(old)}, meta=meta)
        name = ent.name
    return await _new_poster(deps, user_id, enterprise_id, name, "employees.qr_created", meta)


# ---------------------------------------------------------------- joining (worker)


@dataclass(frozen=True)
class Existing:
    status: str
    status_label: str
    message: str


@dataclass(frozen=True)
class JoinForm:
    token: str
    enterprise_name: str
    verified: bool
    # From the account / verified identity: shown to the worker, not editable. The
    # full name is theirs to see; the masked one is for the API's other consumers.
    name: str | None
    name_masked: str | None
    phone_masked: str
    id_number_masked: str | None
    collects_id_number: bool
    # The catalogue fields the worker fills on the page: (key, label).
    fields: list[tuple[str, str]]
    departments: list[tuple[str, str]]
    expires_at: datetime
    # Already on this enterprise's roster (any status but resigned): no form.
    existing: Existing | None


@dataclass(frozen=True)
class Joined:
    employee_id: str
    enterprise_name: str


def _existing_message(status: str) -> str:
    if status == EmployeeStatus.PENDING_REVIEW:
        return "您的入职信息已提交，正在等待企业审核，无需重复登记"
    if status == EmployeeStatus.ACTIVE:
        return "您已是该企业的在职员工，无需重复登记"
    return "企业已为您登记入职，请通过短信中的链接填写或修改入职信息"


async def _scene(tx: Tx, deps: Deps, token: str | None) -> tuple[WechatScene, str]:
    if not token or len(token) > 64:
        raise NotFound(INVALID_MESSAGE, code="onboarding_qr_invalid")
    scene = (
        await tx.session.execute(
            select(WechatScene).where(WechatScene.token == token,
                                      WechatScene.kind == SCENE_KIND)
        )
    ).scalar_one_or_none()
    ent_id = (scene.payload or {}).get("enterprise_id") if scene is not None else None
    if scene is None or not isinstance(ent_id, str):
        raise NotFound(INVALID_MESSAGE, code="onboarding_qr_invalid")
    if scene.expires_at <= deps.clock.now():
        raise Conflict(EXPIRED_MESSAGE, code="onboarding_qr_expired")
    return scene, ent_id


async def _user(tx: Tx, user_id: str) -> User:
    user = await tx.session.get(User, user_id)
    if user is None or user.status != "active":
        raise NotFound("账号不存在", code="user_not_found")
    return user


def _verified(user: User) -> bool:
    return user.identity_state == "verified" and bool(user.real_name)


async def _roster_entry(tx: Tx, enterprise_id: str, user: User) -> Employee | None:
    """This person on the enterprise's roster (not resigned): by account, phone or ID."""
    same = [Employee.user_id == user.id, Employee.phone == user.phone]
    if user.id_number_hash:
        same.append(Employee.id_number_hash == user.id_number_hash)
    return (
        await tx.session.execute(
            select(Employee)
            .where(Employee.enterprise_id == enterprise_id,
                   Employee.status != EmployeeStatus.RESIGNED, or_(*same))
            .order_by(Employee.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _enabled(ent: Enterprise) -> list[str]:
    return [k for k in FIELDS if k in ALWAYS or k in (ent.onboarding_fields or [])]


async def join_form(deps: Deps, user_id: str, scene_token: str | None) -> JoinForm:
    """What the join page shows the logged-in scanner."""
    async with deps.db.transaction() as tx:
        scene, ent_id = await _scene(tx, deps, scene_token)
        ent = await R.load_enterprise(tx, ent_id)
        _require_certified(ent, "该企业当前未处于已认证状态，暂不能办理入职")
        user = await _user(tx, user_id)
        entry = await _roster_entry(tx, ent_id, user)
        nodes = flatten(await all_departments(tx, ent_id))
        enabled = _enabled(ent)
        return JoinForm(
            token=scene.token, enterprise_name=ent.name, verified=_verified(user),
            name=user.real_name,
            name_masked=mask_name(user.real_name) if user.real_name else None,
            phone_masked=mask_phone(user.phone),
            id_number_masked=user.id_number_masked,
            collects_id_number="id_number" in enabled,
            fields=[(k, FIELDS[k]) for k in enabled if k not in FROM_ACCOUNT],
            departments=[(n.id, n.path) for n in nodes],
            expires_at=scene.expires_at,
            existing=(Existing(entry.status, STATUS_LABELS[entry.status],
                               _existing_message(entry.status)) if entry else None),
        )


async def self_onboard(deps: Deps, user_id: str, scene_token: str | None,
                       raw_fields: Mapping[str, object], meta: RequestMeta) -> Joined:
    """The scanner registers themself: a pending_review Employee linked to their account."""
    async with deps.db.transaction() as tx:
        scene, ent_id = await _scene(tx, deps, scene_token)
        # The row lock serialises joins per enterprise, so the duplicate check below
        # cannot be raced by a double submit on PostgreSQL (SQLite serialises anyway).
        ent = await R.load_enterprise(tx, ent_id, lock=True)
        _require_certified(ent, "该企业当前未处于已认证状态，暂不能办理入职")
        user = await _user(tx, user_id)
        if not _verified(user):
            raise PermissionDenied("请先完成实名认证，再办理入职登记", code="identity_required")
        entry = await _roster_entry(tx, ent_id, user)
        if entry is not None:
            raise Conflict(_existing_message(entry.status), code="employee_exists")
        enabled = _enabled(ent)
        typed = {k: v for k, v in raw_fields.items() if k in FIELDS and k not in FROM_ACCOUNT}
        data: dict[str, object] = {**typed, "name": user.real_name, "phone": user.phone}
        values, errors = clean_values(
            data, [k for k in enabled if k != "id_number"],
            dept_lookup_for(await all_departments(tx, ent_id)), cipher(deps), require_all=True,
        )
        if errors:
            key, message = next(iter(errors.items()))
            raise InvalidInput(message, code="invalid_employee", field=key)
        now = deps.clock.now()
        fields = values.pop("fields")
        e = Employee(enterprise_id=ent_id, source="qr", status=EmployeeStatus.PENDING_REVIEW,
                     user_id=user.id, fields=fields, created_at=now, updated_at=now, **values)
        if "id_number" in enabled:
            # The verified identity's number, copied encrypted: never re-typed, never shown.
            e.id_type, e.id_number_cipher = user.id_type, user.id_number_cipher
            e.id_number_hash, e.id_number_masked = user.id_number_hash, user.id_number_masked
        tx.session.add(e)
        await tx.session.flush()
        await log(tx, deps, "employee.self_onboarded", actor_id=user.id, enterprise_id=ent_id,
                  subject_type="employee", subject_id=e.id,
                  data={"source": "qr", "scene_id": scene.id}, meta=meta)
        return Joined(e.id, ent.name)
