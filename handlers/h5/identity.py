"""Employee H5 pages for the real-name check (PRODUCT A3).

/identity shows the form or where the person stands; the form posts back to /identity.
Face: POST → a page that navigates to the provider's liveness page (another origin: not a
redirect, which CSP form-action 'self' would stop) → /identity/face/return?ref=… → status.
Refusals re-render the form with the Chinese message; the ID number and bank card are
never echoed back into a page.
/identity?next=/path remembers a same-site page (cookie, across the provider's face page)
and returns there once the person is verified (e.g. the onboarding join page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from core import identity
from core.errors import DomainError
from core.sessions import CurrentSession
from core.validators import ID_TYPES, safe_next
from handlers.keys import DEPS, current_session
from handlers.render import provider_page, render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()

# Echoed back on a refusal: never the ID number or the card number.
KEEP = ("method", "name", "id_type", "email", "phone", "notice_personal_info",
        "notice_biometric")


def _require_login(request: web.Request) -> CurrentSession:
    session = current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return session


NEXT_COOKIE = "ls_identity_next"
NEXT_COOKIE_PATH = "/identity"


def _return_to(request: web.Request) -> str:
    """Where to go once verified: ?next= or the remembered page; "" for none."""
    return safe_next(request.query.get("next") or request.cookies.get(NEXT_COOKIE), "")


def _remember(request: web.Request, response: web.StreamResponse, path: str) -> None:
    if path and request.query.get("next"):
        response.set_cookie(
            NEXT_COOKIE, path, max_age=1800, httponly=True, samesite="Lax",
            path=NEXT_COOKIE_PATH,
            secure=request.app[DEPS].config.server.base_url.startswith("https://"),
        )


def _with_retry_after(response: web.Response, err: DomainError) -> web.Response:
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _form_context(
    request: web.Request, status: identity.IdentityStatus, form: dict[str, str]
) -> dict[str, Any]:
    return {
        "status": status,
        "form": form,
        "methods": identity.METHODS,
        # Only the types this provider can check; the others are named as unsupported.
        "id_types": identity.offered_id_types(request.app[DEPS]),
        "all_id_types": ID_TYPES,
    }


def _defaults(status: identity.IdentityStatus) -> dict[str, str]:
    return {"method": "face", "id_type": "id_card", "phone": status.account_phone}


@routes.get("/identity")
async def identity_page(request: web.Request) -> web.Response:
    session = _require_login(request)
    deps = request.app[DEPS]
    status = await identity.identity_status(deps, session.user_id)
    return_to = _return_to(request)
    if return_to and status.state == identity.IdentityState.VERIFIED:
        done = web.HTTPSeeOther(return_to)
        done.del_cookie(NEXT_COOKIE, path=NEXT_COOKIE_PATH)
        raise done
    wants_form = status.state == identity.IdentityState.UNVERIFIED or (
        request.query.get("retry") == "1" and status.can_start
    )
    if wants_form:
        context = {**_form_context(request, status, _defaults(status)), "return_to": return_to}
        response = render(request, "identity/form.html", context)
    else:
        response = render(request, "identity/status.html",
                          {"status": status, "return_to": return_to})
    _remember(request, response, return_to)
    return response


@routes.post("/identity")
async def identity_submit(request: web.Request) -> web.Response:
    session = _require_login(request)
    deps = request.app[DEPS]
    data = await form_data(request)
    notices = [
        notice
        for notice, field in ((identity.NOTICE_PERSONAL_INFO, "notice_personal_info"),
                              (identity.NOTICE_BIOMETRIC, "notice_biometric"))
        if data.get(field)
    ]
    try:
        outcome = await identity.start_verification(
            deps,
            session.user_id,
            method=data.get("method", ""),
            name=data.get("name", ""),
            id_type=data.get("id_type", ""),
            id_number=data.get("id_number", ""),
            email=data.get("email", ""),
            phone=data.get("phone", ""),
            bank_card=data.get("bank_card", ""),
            notices_accepted=notices,
            meta=request_meta(request),
        )
    except DomainError as err:
        status = await identity.identity_status(deps, session.user_id)
        form = {k: data.get(k, "")[:200] for k in KEEP}
        context = {**_form_context(request, status, form), "error": err,
                   "return_to": _return_to(request)}
        return _with_retry_after(
            render(request, "identity/form.html", context, status=err.status), err
        )
    if outcome.redirect_url:
        return provider_page(request, outcome.redirect_url)
    raise web.HTTPSeeOther("/identity")


@routes.post("/identity/refresh")
async def identity_refresh(request: web.Request) -> web.Response:
    session = _require_login(request)
    deps = request.app[DEPS]
    try:
        await identity.refresh_pending(deps, session.user_id, request_meta(request))
    except DomainError as err:
        status = await identity.identity_status(deps, session.user_id)
        return _with_retry_after(
            render(request, "identity/status.html", {"status": status, "error": err},
                   status=err.status),
            err,
        )
    raise web.HTTPSeeOther("/identity")


@routes.get("/identity/face/return")
async def face_return(request: web.Request) -> web.Response:
    session = _require_login(request)
    deps = request.app[DEPS]
    try:
        await identity.complete_face(
            deps, session.user_id, request.query.get("ref", ""), request_meta(request)
        )
    except DomainError as err:
        status = await identity.identity_status(deps, session.user_id)
        return _with_retry_after(
            render(request, "identity/status.html", {"status": status, "error": err},
                   status=err.status),
            err,
        )
    raise web.HTTPSeeOther("/identity")


@routes.get("/agreements/personal-info")
async def personal_info_notice(request: web.Request) -> web.Response:
    version = request.app[DEPS].config.agreements.personal_info_notice_version
    return render(request, "identity/notice_personal_info.html", {"version": version})


@routes.get("/agreements/biometric")
async def biometric_notice(request: web.Request) -> web.Response:
    version = request.app[DEPS].config.agreements.biometric_notice_version
    return render(request, "identity/notice_biometric.html", {"version": version})

