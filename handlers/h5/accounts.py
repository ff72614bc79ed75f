"""Employee H5 pages for accounts: home, register, log in, forgot password, profile.

Every form works without JavaScript: "获取验证码" is a submit button of the same form
(action=send_code) that re-renders the form with the input kept. Refusals re-render
the form with the Chinese message; passwords are never echoed back.
"""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import quote

from aiohttp import web

from core import accounts, captcha
from core.contracts import access as contracts_access
from core.enterprise import certification as enterprise_certification
from core.errors import DomainError, RateLimited
from core.sessions import CurrentSession
from core.validators import safe_next
from core.wechat import accounts as wechat
from handlers.keys import DEPS, current_session
from handlers.middleware import clear_session_cookie, set_session_cookie
from handlers.render import render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()

# Form fields echoed back on a refusal (never passwords or codes of another step).
KEEP = ("phone", "code", "email", "new_phone", "old_code", "new_code", "next", "agree")


def _kept(data: dict[str, str]) -> dict[str, str]:
    return {k: data.get(k, "")[:200] for k in KEEP}


def _form_error(
    request: web.Request, template: str, err: DomainError, context: dict[str, Any]
) -> web.Response:
    response = render(request, template, {**context, "error": err}, status=err.status)
    if err.retry_after is not None:  # rate limits and lockouts
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _logged_in_redirect(
    request: web.Request, result: accounts.LoginResult, target: str
) -> NoReturn:
    redirect = web.HTTPSeeOther(target)
    set_session_cookie(request, redirect, result.session.token, result.session.max_age)
    raise redirect


def _require_login(request: web.Request) -> CurrentSession:
    session = current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return session


async def _send_code(
    request: web.Request, template: str, purpose: str, data: dict[str, str],
    context: dict[str, Any], phone_field: str = "phone",
) -> web.Response:
    deps = request.app[DEPS]
    session = current_session(request)
    try:
        sent = await accounts.send_code(
            deps, purpose=purpose, phone=data.get(phone_field, ""), meta=request_meta(request),
            user_id=session.user_id if session else None,
        )
    except DomainError as err:
        return _form_error(request, template, err, context)
    notice = f"验证码已发送至 {sent.phone_masked}，{sent.ttl_seconds // 60} 分钟内有效"
    return render(request, template, {**context, "notice": notice,
                                      "resend_after": sent.resend_after})


# ------------------------------------------------------------------ home


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    session = current_session(request)
    if session is None:
        return render(request, "account/welcome.html")
    profile = await accounts.get_profile(request.app[DEPS], session.user_id)
    # The contracts waiting for this person (the "待签合同" section of account/home.html).
    contracts = await contracts_access.list_contracts(
        request.app[DEPS], session.user_id, "to_sign")
    # The enterprises whose console this person may open (the 企业控制台 entry).
    _, enterprises = await enterprise_certification.my_enterprises(
        request.app[DEPS], session.user_id)
    return render(request, "account/home.html", {"profile": profile, "contracts": contracts,
                                                 "enterprises": enterprises})


# ------------------------------------------------------------------ agreements

AGREEMENT_TEMPLATES = {
    "service": "agreements/service.html",
    "privacy": "agreements/privacy.html",
    "certificate": "agreements/certificate.html",
}


@routes.get("/agreements/{name}")
async def agreement(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    template = AGREEMENT_TEMPLATES.get(name)
    if template is None:
        raise web.HTTPNotFound()
    cfg = request.app[DEPS].config.agreements
    version = {"service": cfg.service_version, "privacy": cfg.privacy_version,
               "certificate": cfg.certificate_version}[name]
    return render(request, template, {"version": version,
                                      "title": accounts.AGREEMENT_TITLES[name]})


# ------------------------------------------------------------------ register


@routes.get("/register")
async def register_page(request: web.Request) -> web.Response:
    if current_session(request) is not None:
        raise web.HTTPSeeOther("/")
    return render(request, "account/register.html",
                  {"form": {"next": safe_next(request.query.get("next"), "")}})


@routes.post("/register")
async def register_submit(request: web.Request) -> web.StreamResponse:
    data = await form_data(request)
    context = {"form": _kept(data)}
    template = "account/register.html"
    if data.get("action") == "send_code":
        return await _send_code(request, template, "register", data, context)
    agreed = accounts.REQUIRED_AGREEMENTS if data.get("agree") == "1" else ()
    try:
        result = await accounts.register(
            request.app[DEPS], phone=data.get("phone", ""), code=data.get("code", ""),
            password=data.get("password", ""), password_confirm=data.get("password_confirm", ""),
            agreements=agreed, meta=request_meta(request),
        )
    except DomainError as err:
        return _form_error(request, template, err, context)
    _logged_in_redirect(request, result, safe_next(data.get("next")))


# ------------------------------------------------------------------ login


async def _login_context(request: web.Request, tab: str, form: dict[str, str]) -> dict[str, Any]:
    context: dict[str, Any] = {"tab": tab, "form": form, "captcha": None}
    if tab == "password":
        try:
            context["captcha"] = await captcha.new_captcha(request.app[DEPS],
                                                           request_meta(request))
        except RateLimited as err:
            context["error"] = err
    return context


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    if current_session(request) is not None:
        raise web.HTTPSeeOther(target)
    tab = "sms" if request.query.get("tab") == "sms" else "password"
    form = {"next": safe_next(request.query.get("next"), ""),
            "phone": request.query.get("phone", "")[:20]}
    context = await _login_context(request, tab, form)
    if request.query.get("reset"):
        context["notice"] = "密码已重置，请使用新密码登录"
    return render(request, "account/login.html", context)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    data = await form_data(request)
    tab = "sms" if data.get("tab") == "sms" else "password"
    template = "account/login.html"
    deps = request.app[DEPS]
    if tab == "sms" and data.get("action") == "send_code":
        context = await _login_context(request, tab, _kept(data))
        return await _send_code(request, template, "login", data, context)
    try:
        if tab == "sms":
            result = await accounts.login_by_sms(
                deps, phone=data.get("phone", ""), code=data.get("code", ""),
                meta=request_meta(request),
            )
        else:
            result = await accounts.login_by_password(
                deps, phone=data.get("phone", ""), password=data.get("password", ""),
                captcha_id=data.get("captcha_id", ""),
                captcha_answer=data.get("captcha_answer", ""), meta=request_meta(request),
            )
    except DomainError as err:
        # A fresh captcha every time: the one just submitted is used up.
        context = await _login_context(request, tab, _kept(data))
        return _form_error(request, template, err, context)
    _logged_in_redirect(request, result, safe_next(data.get("next")))


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is not None:
        await accounts.logout(request.app[DEPS], session, request_meta(request))
    redirect = web.HTTPSeeOther("/login")
    clear_session_cookie(redirect)
    raise redirect


# ------------------------------------------------------------------ forgot password


@routes.get("/password/forgot")
async def forgot_page(request: web.Request) -> web.Response:
    return render(request, "account/forgot.html",
                  {"form": {"phone": request.query.get("phone", "")[:20]}})


@routes.post("/password/forgot")
async def forgot_submit(request: web.Request) -> web.StreamResponse:
    data = await form_data(request)
    context = {"form": _kept(data)}
    template = "account/forgot.html"
    if data.get("action") == "send_code":
        return await _send_code(request, template, "reset_password", data, context)
    try:
        await accounts.reset_password(
            request.app[DEPS], phone=data.get("phone", ""), code=data.get("code", ""),
            password=data.get("password", ""), password_confirm=data.get("password_confirm", ""),
            meta=request_meta(request),
        )
    except DomainError as err:
        return _form_error(request, template, err, context)
    redirect = web.HTTPSeeOther("/login?reset=1")
    # Every session of this account has ended, including one this browser may hold.
    clear_session_cookie(redirect)
    raise redirect


# ------------------------------------------------------------------ profile


async def _me_context(request: web.Request, session: CurrentSession) -> dict[str, Any]:
    profile = await accounts.get_profile(request.app[DEPS], session.user_id)
    return {"profile": profile, "form": {"email": profile.email or ""},
            # The WeChat row (h5/templates/wechat/_binding.html).
            "bound_openid": await wechat.openid_for_user(request.app[DEPS], session.user_id)}


@routes.get("/me")
async def me_page(request: web.Request) -> web.Response:
    session = _require_login(request)
    context = await _me_context(request, session)
    notices = {"password": "密码已修改，其他设备已退出登录",
               "phone": "手机号已更换，其他设备已退出登录", "email": "邮箱已保存"}
    context["notice"] = notices.get(request.query.get("done", ""))
    return render(request, "account/me.html", context)


@routes.post("/me/email")
async def me_email(request: web.Request) -> web.StreamResponse:
    session = _require_login(request)
    data = await form_data(request)
    try:
        await accounts.update_email(request.app[DEPS], session, email=data.get("email", ""),
                                    meta=request_meta(request))
    except DomainError as err:
        context = await _me_context(request, session)
        context["form"] = {"email": data.get("email", "")[:200]}
        return _form_error(request, "account/me.html", err, context)
    raise web.HTTPSeeOther("/me?done=email")


@routes.get("/me/password")
async def password_page(request: web.Request) -> web.Response:
    _require_login(request)
    return render(request, "account/password.html")


@routes.post("/me/password")
async def password_submit(request: web.Request) -> web.StreamResponse:
    session = _require_login(request)
    data = await form_data(request)
    try:
        await accounts.change_password(
            request.app[DEPS], session, old_password=data.get("old_password", ""),
            password=data.get("password", ""), password_confirm=data.get("password_confirm", ""),
            meta=request_meta(request),
        )
    except DomainError as err:
        return _form_error(request, "account/password.html", err, {})
    raise web.HTTPSeeOther("/me?done=password")


async def _phone_context(request: web.Request, session: CurrentSession,
                         data: dict[str, str]) -> dict[str, Any]:
    profile = await accounts.get_profile(request.app[DEPS], session.user_id)
    return {"profile": profile, "form": _kept(data)}


@routes.get("/me/phone")
async def phone_page(request: web.Request) -> web.Response:
    session = _require_login(request)
    return render(request, "account/phone.html", await _phone_context(request, session, {}))


@routes.post("/me/phone")
async def phone_submit(request: web.Request) -> web.StreamResponse:
    session = _require_login(request)
    data = await form_data(request)
    template = "account/phone.html"
    context = await _phone_context(request, session, data)
    action = data.get("action")
    if action == "send_old":
        return await _send_code(request, template, "change_phone_old", data, context)
    if action == "send_new":
        return await _send_code(request, template, "change_phone_new", data, context,
                                phone_field="new_phone")
    try:
        await accounts.change_phone(
            request.app[DEPS], session, old_code=data.get("old_code", ""),
            new_phone=data.get("new_phone", ""), new_code=data.get("new_code", ""),
            meta=request_meta(request),
        )
    except DomainError as err:
        return _form_error(request, template, err, context)
    raise web.HTTPSeeOther("/me?done=phone")
