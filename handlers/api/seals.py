"""Seal JSON API: one seal, creation, image, enable/disable, auto-sign, grants and the
usage log. Each route calls the verb the console's seal pages call."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import seals as S
from core.errors import InvalidInput
from handlers.api.registry import ApiRoutes, parse, reply, upload_fields
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes("seals")


class SealDetailOut(BaseModel):
    id: str
    name: str
    kind: str
    kind_label: str
    status: str = Field(description="enabled | disabled | voided")
    status_label: str
    image_state: str
    source: str
    auto_sign: bool
    has_certificate: bool
    void_reason: str | None
    grantee_member_ids: list[str]
    created_at: datetime


class CreateSealIn(BaseModel):
    name: str
    kind: Literal["official", "contract", "legal_rep", "custom"]
    image: bytes | None = Field(None, description="seal image, PNG or JPEG, at most 5 MB; "
                                                  "without it the image is drawn")


class SealImageIn(BaseModel):
    image: bytes = Field(description="seal image, PNG or JPEG, at most 5 MB")


class EnabledIn(BaseModel):
    enabled: bool


class AutoSignIn(BaseModel):
    auto_sign: bool


class GrantIn(BaseModel):
    member_id: str


class UsageOut(BaseModel):
    at: datetime
    action: str
    actor_id: str | None
    detail: str
    data: dict[str, Any]
    contract_id: str | None


class UsageLogOut(BaseModel):
    entries: list[UsageOut] = Field(description="newest first")


def _out(s: S.SealView) -> SealDetailOut:
    return SealDetailOut(
        id=s.id, name=s.name, kind=s.kind, kind_label=s.kind_label, status=s.status,
        status_label=s.status_label, image_state=s.image_state, source=s.source,
        auto_sign=s.auto_sign, has_certificate=s.has_certificate, void_reason=s.void_reason,
        grantee_member_ids=list(s.grantee_member_ids), created_at=s.created_at)


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["enterprise_id"], request.match_info["seal_id"]


async def _form(request: web.Request) -> tuple[dict[str, str], bytes | None]:
    # Read up to one more byte than the service accepts, so it can say "too large".
    return await upload_fields(request, "image", limit=S.SEAL_IMAGE_MAX_BYTES,
                               required=False)


@api.route("POST", "/enterprises/{enterprise_id}/seals",
           summary="Create a seal, with an uploaded image or a drawn one (seals.manage)",
           body=CreateSealIn, response=SealDetailOut, status=201, upload=True)
async def create_seal(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, image = await _form(request)
    seal = await S.create_seal(request.app[DEPS], session.user_id,
                               request.match_info["enterprise_id"],
                               name=fields.get("name", ""), kind=fields.get("kind", ""),
                               image=image, meta=request_meta(request))
    return reply(_out(seal), status=201)


@api.route("GET", "/enterprises/{enterprise_id}/seals/{seal_id}",
           summary="One seal (seals.view)", response=SealDetailOut)
async def get_seal(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    return reply(_out(await S.get_seal(request.app[DEPS], session.user_id, ent, sid)))


@api.route("GET", "/enterprises/{enterprise_id}/seals/{seal_id}/image",
           summary="The seal's image (seals.view; PNG, or JPEG when uploaded so)",
           response_content_type="image/png")
async def seal_image(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    data, ctype = await S.seal_image(request.app[DEPS], session.user_id, ent, sid)
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


@api.route("POST", "/enterprises/{enterprise_id}/seals/{seal_id}/image",
           summary="Replace the seal's image (seals.manage)", body=SealImageIn,
           response=SealDetailOut, upload=True)
async def replace_image(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    _fields, image = await _form(request)
    if image is None:
        raise InvalidInput("请选择印章图片", code="empty_upload", field="image")
    seal = await S.replace_seal_image(request.app[DEPS], session.user_id, ent, sid, image,
                                      request_meta(request))
    return reply(_out(seal))


@api.route("POST", "/enterprises/{enterprise_id}/seals/{seal_id}/status",
           summary="Enable or disable a seal (seals.manage)", body=EnabledIn,
           response=SealDetailOut)
async def set_status(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    body = await parse(request, EnabledIn)
    seal = await S.set_seal_status(request.app[DEPS], session.user_id, ent, sid, body.enabled,
                                   request_meta(request))
    return reply(_out(seal))


@api.route("POST", "/enterprises/{enterprise_id}/seals/{seal_id}/auto-sign",
           summary="Turn automatic sealing on or off (seals.manage)", body=AutoSignIn,
           response=SealDetailOut)
async def set_auto_sign(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    body = await parse(request, AutoSignIn)
    seal = await S.set_auto_sign(request.app[DEPS], session.user_id, ent, sid, body.auto_sign,
                                 request_meta(request))
    return reply(_out(seal))


@api.route("POST", "/enterprises/{enterprise_id}/seals/{seal_id}/grants",
           summary="Grant a member the use of the seal (seals.grant)", body=GrantIn,
           response=SealDetailOut)
async def grant(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    body = await parse(request, GrantIn)
    seal = await S.grant_seal(request.app[DEPS], session.user_id, ent, sid, body.member_id,
                              request_meta(request))
    return reply(_out(seal))


@api.route("DELETE", "/enterprises/{enterprise_id}/seals/{seal_id}/grants/{member_id}",
           summary="Revoke a member's grant (seals.grant)", response=SealDetailOut)
async def revoke_grant(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    seal = await S.revoke_seal_grant(request.app[DEPS], session.user_id, ent, sid,
                                     request.match_info["member_id"], request_meta(request))
    return reply(_out(seal))


@api.route("GET", "/enterprises/{enterprise_id}/seals/{seal_id}/usage",
           summary="Uses of the seal and every management action on it (seals.view)",
           response=UsageLogOut)
async def usage(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, sid = _ids(request)
    rows = await S.usage_log(request.app[DEPS], session.user_id, ent, sid)
    return reply(UsageLogOut(entries=[UsageOut(
        at=u.at, action=u.action, actor_id=u.actor_id, detail=u.detail, data=dict(u.data),
        contract_id=u.contract_id) for u in rows]))
