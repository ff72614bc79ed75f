"""JSON API for accounts: SMS codes, captcha, register, log in/out, password, profile."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core import accounts, captcha
from handlers.api.registry import ApiRoutes, OkOut, parse, reply
from handlers.keys import DEPS, current_session
from handlers.util import request_meta, require_session

api = ApiRoutes(tag="auth")

Phone = Field(min_length=1, max_length=20, description="mainland mobile number, 11 digits")
Code = Field(min_length=1, max_length=10, description="6-digit SMS code")
Password = Field(max_length=64, description="8–16 characters, three of four classes")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=500)


class SmsCodeIn(In):
    purpose: Literal[
        "register", "login", "reset_password", "change_phone_old", "change_phone_new"
    ]
    phone: str | None = Field(default=None, max_length=20,
                              description="not needed for change_phone_old (the own number)")


class SmsCodeOut(BaseModel):
    phone_masked: str
    resend_after: int
    ttl_seconds: int


class CaptchaOut(BaseModel):
    id: str
    image: str = Field(description="PNG as a data: URL")
    ttl_seconds: int


class RegisterIn(In):
    phone: str = Phone
    code: str = Code
    password: str = Password
    password_confirm: str = Password
    agreements: list[Literal["service", "privacy", "certificate"]] = Field(
        max_length=3, description="all three must be accepted"
    )
    email: str | None = Field(default=None, max_length=200)


class PasswordLoginIn(In):
    phone: str = Phone
    password: str = Password
    captcha_id: str = Field(max_length=40)
    captcha_answer: str = Field(max_length=10)


class SmsLoginIn(In):
    phone: str = Phone
    code: str = Code


class PasswordResetIn(In):
    phone: str = Phone
    code: str = Code
    password: str = Password
    password_confirm: str = Password


class UserOut(BaseModel):
    id: str
    phone_masked: str
    email: str | None
    identity_state: str = Field(description="unverified | pending | verified | failed")
    real_name_masked: str | None
    id_number_masked: str | None
    verified_at: datetime | None
    created_at: datetime


class AuthOut(BaseModel):
    token: str = Field(description="send as Authorization: Bearer <token>")
    csrf_token: str
    expires_in: int
    user: UserOut


class EmailIn(In):
    email: str | None = Field(default=None, max_length=200, description="empty or null clears")


class ChangePasswordIn(In):
    old_password: str = Password
    password: str = Password
    password_confirm: str = Password


class ChangePhoneIn(In):
    old_code: str = Code
    new_phone: str = Phone
    new_code: str = Code


def _user(profile: accounts.Profile) -> UserOut:
    return UserOut(
        id=profile.id, phone_masked=profile.phone_masked, email=profile.email,
        identity_state=profile.identity_state, real_name_masked=profile.real_name_masked,
        id_number_masked=profile.id_number_masked, verified_at=profile.verified_at,
        created_at=profile.created_at,
    )


def _auth(result: accounts.LoginResult) -> AuthOut:
    return AuthOut(token=result.session.token, csrf_token=result.session.csrf_token,
                   expires_in=result.session.max_age, user=_user(result.profile))


@api.route("POST", "/auth/sms-codes", summary="Send an SMS code (rate limited: 429 + Retry-After)",
           body=SmsCodeIn, response=SmsCodeOut, auth=False)
async def send_sms_code(request: web.Request) -> web.Response:
    body = await parse(request, SmsCodeIn)
    session = current_session(request)
    sent = await accounts.send_code(
        request.app[DEPS], purpose=body.purpose, phone=body.phone, meta=request_meta(request),
        user_id=session.user_id if session else None,
    )
    return reply(SmsCodeOut(phone_masked=sent.phone_masked, resend_after=sent.resend_after,
                            ttl_seconds=sent.ttl_seconds))


@api.route("GET", "/auth/captcha", summary="A new image captcha for password login",
           response=CaptchaOut, auth=False)
async def get_captcha(request: web.Request) -> web.Response:
    challenge = await captcha.new_captcha(request.app[DEPS], request_meta(request))
    return reply(CaptchaOut(id=challenge.id, image=challenge.data_url,
                            ttl_seconds=challenge.ttl_seconds))


@api.route("POST", "/auth/register", summary="Register with phone, SMS code and password",
           body=RegisterIn, response=AuthOut, auth=False, status=201)
async def register(request: web.Request) -> web.Response:
    body = await parse(request, RegisterIn)
    result = await accounts.register(
        request.app[DEPS], phone=body.phone, code=body.code, password=body.password,
        password_confirm=body.password_confirm, agreements=body.agreements, email=body.email,
        meta=request_meta(request),
    )
    return reply(_auth(result), status=201)


@api.route("POST", "/auth/login/password", summary="Log in with password and image captcha",
           body=PasswordLoginIn, response=AuthOut, auth=False)
async def login_password(request: web.Request) -> web.Response:
    body = await parse(request, PasswordLoginIn)
    result = await accounts.login_by_password(
        request.app[DEPS], phone=body.phone, password=body.password,
        captcha_id=body.captcha_id, captcha_answer=body.captcha_answer,
        meta=request_meta(request),
    )
    return reply(_auth(result))


@api.route("POST", "/auth/login/sms", summary="Log in with an SMS code",
           body=SmsLoginIn, response=AuthOut, auth=False)
async def login_sms(request: web.Request) -> web.Response:
    body = await parse(request, SmsLoginIn)
    result = await accounts.login_by_sms(request.app[DEPS], phone=body.phone, code=body.code,
                                         meta=request_meta(request))
    return reply(_auth(result))


@api.route("POST", "/auth/password/reset", summary="Set a new password with an SMS code",
           body=PasswordResetIn, response=OkOut, auth=False)
async def reset_password(request: web.Request) -> web.Response:
    body = await parse(request, PasswordResetIn)
    await accounts.reset_password(
        request.app[DEPS], phone=body.phone, code=body.code, password=body.password,
        password_confirm=body.password_confirm, meta=request_meta(request),
    )
    return reply(OkOut())


@api.route("POST", "/auth/logout", summary="End this session", response=OkOut)
async def logout(request: web.Request) -> web.Response:
    session = require_session(request)
    await accounts.logout(request.app[DEPS], session, request_meta(request))
    return reply(OkOut())


@api.route("GET", "/me", summary="My profile (phone and ID masked)", response=UserOut)
async def get_me(request: web.Request) -> web.Response:
    session = require_session(request)
    return reply(_user(await accounts.get_profile(request.app[DEPS], session.user_id)))


@api.route("PATCH", "/me", summary="Change my email", body=EmailIn, response=UserOut)
async def patch_me(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, EmailIn)
    profile = await accounts.update_email(request.app[DEPS], session, email=body.email,
                                          meta=request_meta(request))
    return reply(_user(profile))


@api.route("POST", "/me/password", summary="Change my password (other sessions end)",
           body=ChangePasswordIn, response=OkOut)
async def change_password(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ChangePasswordIn)
    await accounts.change_password(
        request.app[DEPS], session, old_password=body.old_password, password=body.password,
        password_confirm=body.password_confirm, meta=request_meta(request),
    )
    return reply(OkOut())


@api.route("POST", "/me/phone", summary="Change my phone (codes to old and new number)",
           body=ChangePhoneIn, response=UserOut)
async def change_phone(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ChangePhoneIn)
    profile = await accounts.change_phone(
        request.app[DEPS], session, old_code=body.old_code, new_phone=body.new_phone,
        new_code=body.new_code, meta=request_meta(request),
    )
    return reply(_user(profile))
