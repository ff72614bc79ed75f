"""Onboarding QR JSON API: HR's poster (get, reset) and the worker's self-registration."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import onboarding_qr as OQ
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes("onboarding")


class PosterOut(BaseModel):
    enterprise_id: str
    enterprise_name: str
    scene: str = Field(description="the scene token in both QR codes")
    join_url: str = Field(description="what the plain link QR encodes")
    wechat_qr_url: str | None = Field(description="WeChat's scene QR image, when issued")
    created_at: datetime
    expires_at: datetime


class FieldOut(BaseModel):
    key: str
    label: str


class DepartmentOut(BaseModel):
    id: str
    path: str


class JoinFormOut(BaseModel):
    enterprise_name: str
    verified: bool = Field(description="false: complete the real-name check first")
    name_masked: str | None
    phone_masked: str
    id_number_masked: str | None
    collects_id_number: bool
    fields: list[FieldOut] = Field(description="what the worker fills (name, phone and ID "
                                               "number come from the account)")
    departments: list[DepartmentOut]
    expires_at: datetime
    existing_status: str | None = Field(description="already on the roster: its status")
    existing_message: str | None


class JoinIn(BaseModel):
    values: dict[str, str] = Field(default_factory=dict, max_length=20,
                                   description="onboarding field key → value")


class JoinedOut(BaseModel):
    employee_id: str
    enterprise_name: str
    status: str


def _poster_out(p: OQ.Poster) -> PosterOut:
    return PosterOut(enterprise_id=p.enterprise_id, enterprise_name=p.enterprise_name,
                     scene=p.token, join_url=p.join_url, wechat_qr_url=p.wechat_qr_url,
                     created_at=p.created_at, expires_at=p.expires_at)


@api.route("GET", "/enterprises/{enterprise_id}/employees/qr",
           summary="The onboarding poster (employees.manage); made on first use",
           response=PosterOut)
async def onboarding_poster(request: web.Request) -> web.Response:
    session = require_session(request)
    poster = await OQ.onboarding_poster(request.app[DEPS], session.user_id,
                                        request.match_info["enterprise_id"],
                                        request_meta(request))
    return reply(_poster_out(poster))


@api.route("POST", "/enterprises/{enterprise_id}/employees/qr/reset",
           summary="A new onboarding poster; the old codes stop working", response=PosterOut)
async def reset_onboarding_poster(request: web.Request) -> web.Response:
    session = require_session(request)
    poster = await OQ.reset_onboarding_poster(request.app[DEPS], session.user_id,
                                              request.match_info["enterprise_id"],
                                              request_meta(request))
    return reply(_poster_out(poster))


@api.route("GET", "/onboarding/scenes/{scene}",
           summary="What the scanned onboarding code asks of me", response=JoinFormOut)
async def onboarding_form(request: web.Request) -> web.Response:
    session = require_session(request)
    f = await OQ.join_form(request.app[DEPS], session.user_id, request.match_info["scene"])
    return reply(JoinFormOut(
        enterprise_name=f.enterprise_name, verified=f.verified, name_masked=f.name_masked,
        phone_masked=f.phone_masked, id_number_masked=f.id_number_masked,
        collects_id_number=f.collects_id_number,
        fields=[FieldOut(key=k, label=label) for k, label in f.fields],
        departments=[DepartmentOut(id=i, path=p) for i, p in f.departments],
        expires_at=f.expires_at,
        existing_status=f.existing.status if f.existing else None,
        existing_message=f.existing.message if f.existing else None,
    ))


@api.route("POST", "/onboarding/scenes/{scene}/join",
           summary="Register myself with the enterprise (pending HR review)", body=JoinIn,
           response=JoinedOut, status=201)
async def onboarding_join(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, JoinIn)
    joined = await OQ.self_onboard(request.app[DEPS], session.user_id,
                                   request.match_info["scene"], body.values,
                                   request_meta(request))
    return reply(JoinedOut(employee_id=joined.employee_id,
                           enterprise_name=joined.enterprise_name, status="pending_review"),
                 status=201)
