"""Real-name check API (PRODUCT A3): status, start a check, finish a face check, refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core import identity
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes(tag="identity")


class VerificationOut(BaseModel):
    id: str
    method: str
    state: str
    provider: str
    result_code: str | None
    result_message: str | None
    id_number_masked: str
    phone_masked: str | None
    bank_card_masked: str | None
    created_at: datetime
    completed_at: datetime | None


class IdentityOut(BaseModel):
    state: Literal["unverified", "pending", "verified", "failed"]
    state_label: str
    real_name_masked: str | None
    id_type: str | None
    id_number_masked: str | None
    verified_at: datetime | None
    can_start: bool
    can_refresh: bool
    latest: VerificationOut | None


class StartIn(BaseModel):
    method: Literal["face", "carrier3", "bank4"]
    name: str = Field(max_length=40)
    id_type: str = Field(default="id_card", max_length=20)
    id_number: str = Field(max_length=20)
    email: str = Field(default="", max_length=200)
    phone: str = Field(max_length=20)
    bank_card: str | None = Field(default=None, max_length=30,
                                  description="bank4 only: the person's UnionPay card")
    accept_personal_info_notice: bool = Field(
        description="accepts the personal-information notice (/agreements/personal-info)"
    )
    accept_biometric_notice: bool = Field(
        default=False, description="face only: accepts the biometric notice (/agreements/biometric)"
    )


class StartOut(BaseModel):
    verification_id: str
    state: str
    redirect_url: str | None = Field(
        description="face: open this URL; the provider returns to /identity/face/return"
    )
    identity: IdentityOut


class FaceCompleteIn(BaseModel):
    ref: str = Field(max_length=128, description="the ref query value of the return URL")


def identity_out(status: identity.IdentityStatus) -> IdentityOut:
    latest = status.latest
    return IdentityOut(
        state=status.state,  # type: ignore[arg-type]
        state_label=status.state_label,
        real_name_masked=status.real_name_masked,
        id_type=status.id_type,
        id_number_masked=status.id_number_masked,
        verified_at=status.verified_at,
        can_start=status.can_start,
        can_refresh=status.can_refresh,
        latest=None if latest is None else VerificationOut(
            id=latest.id, method=latest.method, state=latest.state, provider=latest.provider,
            result_code=latest.result_code, result_message=latest.result_message,
            id_number_masked=latest.id_number_masked, phone_masked=latest.phone_masked,
            bank_card_masked=latest.bank_card_masked, created_at=latest.created_at,
            completed_at=latest.completed_at,
        ),
    )


@api.route("GET", "/identity", summary="My real-name status (masked values)",
           response=IdentityOut)
async def get_identity(request: web.Request) -> web.Response:
    session = require_session(request)
    status = await identity.identity_status(request.app[DEPS], session.user_id)
    return reply(identity_out(status))


@api.route("POST", "/identity/verifications", summary="Start a real-name check",
           body=StartIn, response=StartOut, status=201)
async def start_identity_verification(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, StartIn)
    notices = []
    if body.accept_personal_info_notice:
        notices.append(identity.NOTICE_PERSONAL_INFO)
    if body.accept_biometric_notice:
        notices.append(identity.NOTICE_BIOMETRIC)
    outcome = await identity.start_verification(
        request.app[DEPS], session.user_id, method=body.method, name=body.name,
        id_type=body.id_type, id_number=body.id_number, email=body.email, phone=body.phone,
        bank_card=body.bank_card, notices_accepted=notices, meta=request_meta(request),
    )
    return reply(
        StartOut(verification_id=outcome.verification_id, state=outcome.state,
                 redirect_url=outcome.redirect_url, identity=identity_out(outcome.status)),
        status=201,
    )


@api.route("POST", "/identity/verifications/face/complete",
           summary="Fetch the face check's result after the provider's page",
           body=FaceCompleteIn, response=IdentityOut)
async def complete_face_verification(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, FaceCompleteIn)
    status = await identity.complete_face(
        request.app[DEPS], session.user_id, body.ref, request_meta(request)
    )
    return reply(identity_out(status))


@api.route("POST", "/identity/refresh", summary="Ask the provider again about a pending check",
           response=IdentityOut)
async def refresh_identity(request: web.Request) -> web.Response:
    session = require_session(request)
    status = await identity.refresh_pending(request.app[DEPS], session.user_id,
                                            request_meta(request))
    return reply(identity_out(status))
