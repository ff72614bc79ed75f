"""Enterprise certification: the form, each proof method, the attempt pages; admin
appeals, which are proven by the same methods."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from core.enterprise import admin_change as A
from core.enterprise import certification as C
from core.enterprise import proofs as P
from core.errors import DomainError, InvalidInput
from handlers.console.forms import (
    Page,
    deps_of,
    ent_of,
    file_of,
    form_of,
    go_to,
    notice_of,
    refused,
    text_of,
    uid_of,
)
from handlers.render import provider_page, render
from handlers.util import request_meta

routes = web.RouteTableDef()


# ================================================================ certification


async def _certify_new_page(request: web.Request, error: DomainError | None = None,
                            form: dict[str, str] | None = None) -> web.Response:
    return render(request, "console/certify_new.html", {
        "form": form or {}, "error": error, "kinds": C.CERTIFICATE_KINDS,
        "warn": bool(error and error.code == "credit_code_check_warning"),
    })


@routes.get("/console/certify/new")
async def certify_new(request: web.Request) -> web.Response:
    uid_of(request)
    return await _certify_new_page(request)


def _enterprise_input(form: MultiDictProxy[Any]) -> C.EnterpriseInput:
    return C.EnterpriseInput(
        name=text_of(form, "name"), credit_code=text_of(form, "credit_code"),
        address=text_of(form, "address"), legal_rep_name=text_of(form, "legal_rep_name"),
        legal_rep_id_number=text_of(form, "legal_rep_id_number"),
        certificate_kind=text_of(form, "certificate_kind") or "cloud",
    )


KEEP = ("name", "credit_code", "address", "legal_rep_name", "certificate_kind")


@routes.post("/console/certify/new")
async def certify_submit(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    kept = {k: text_of(form, k)[:200] for k in KEEP}
    try:
        view = await C.submit_enterprise(
            deps_of(request), uid, _enterprise_input(form), file_of(form, "licence"),
            request_meta(request), accept_check_warning=text_of(form, "accept_warning") == "1",
        )
    except DomainError as err:
        return await refused(request, _certify_new_page, err, form=kept)
    raise go_to(f"/console/certify/{view.id}", "submitted")


async def _certify_page(request: web.Request, error: DomainError | None = None,
                        form: dict[str, str] | None = None) -> web.Response:
    uid = uid_of(request)
    ent, attempts = await C.certification_status(deps_of(request), uid, ent_of(request))
    return render(request, "console/certify.html", {
        "ent": ent, "attempts": attempts, "methods": C.METHODS, "purpose": "certify",
        "kinds": C.CERTIFICATE_KINDS, "form": form or {}, "error": error,
        "notice": notice_of(request),
    })


@routes.get("/console/certify/{ent}")
async def certify_status(request: web.Request) -> web.Response:
    return await _certify_page(request)


@routes.post("/console/certify/{ent}/revoke")
async def certify_revoke(request: web.Request) -> web.Response:
    uid = uid_of(request)
    try:
        await C.revoke_certification(deps_of(request), uid, ent_of(request), request_meta(request))
    except DomainError as err:
        return await refused(request, _certify_page, err)
    raise go_to("/console", "revoked")


@routes.post("/console/certify/{ent}/resubmit")
async def certify_resubmit(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        await C.resubmit_enterprise(
            deps_of(request), uid, ent_of(request), _enterprise_input(form),
            file_of(form, "licence"), request_meta(request),
            accept_check_warning=text_of(form, "accept_warning") == "1",
        )
    except DomainError as err:
        return await refused(request, _certify_page, err,
                              form={k: text_of(form, k)[:200] for k in KEEP})
    raise go_to(f"/console/certify/{ent_of(request)}", "resubmitted")


# ---------------------------------------------------------------- method starts


def _purpose(form: MultiDictProxy[Any]) -> str:
    return "appeal" if text_of(form, "purpose") == "appeal" else "certify"


def _method_page_for(purpose: str) -> Page:
    return _appeal_page if purpose == "appeal" else _certify_page


@routes.post("/console/certify/{ent}/{method:phone|face|letter|deposit}")
async def method_start(request: web.Request) -> web.Response:
    uid = uid_of(request)
    deps = deps_of(request)
    form = await form_of(request)
    purpose = _purpose(form)
    meta = request_meta(request)
    ent = ent_of(request)
    method = request.match_info["method"]
    try:
        if method == "phone":
            attempt = await C.start_phone(deps, uid, ent, text_of(form, "phone"), meta,
                                          purpose=purpose)
        elif method == "face":
            _, url = await C.start_face(deps, uid, ent, meta, purpose=purpose)
            return provider_page(request, url)
        elif method == "letter":
            attempt = await C.start_letter(deps, uid, ent, meta, purpose=purpose)
            raise go_to(f"/console/attempt/{attempt.id}")
        else:
            attempt = await C.start_deposit(
                deps, uid, ent, account_name=text_of(form, "account_name"),
                account_number=text_of(form, "account_number"),
                bank_name=text_of(form, "bank_name"), meta=meta, purpose=purpose,
            )
    except DomainError as err:
        return await refused(request, _method_page_for(purpose), err,
                              form={k: text_of(form, k)[:100] for k in
                                    ("phone", "account_name", "account_number", "bank_name")})
    raise go_to(f"/console/attempt/{attempt.id}", "rep_code_sent" if method == "phone" else "paid")


async def _attempt_page(request: web.Request, error: DomainError | None = None
                        ) -> web.Response:
    uid = uid_of(request)
    attempt = await C.get_attempt(deps_of(request), uid, request.match_info["id"])
    return render(request, "console/attempt.html", {
        "a": attempt, "error": error, "notice": notice_of(request),
        "back": (f"/console/appeal/{attempt.enterprise_id}" if attempt.purpose == "appeal"
                 else f"/console/certify/{attempt.enterprise_id}"),
        "max_tries": C.DEPOSIT_MAX_TRIES,
        "deposit_rule": P.DEPOSIT,
    })


@routes.get("/console/attempt/{id}")
async def attempt_page(request: web.Request) -> web.Response:
    return await _attempt_page(request)


@routes.post("/console/attempt/{id}/{step:phone|deposit}")
async def attempt_confirm(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, meta, attempt_id = deps_of(request), request_meta(request), request.match_info["id"]
    try:
        if request.match_info["step"] == "phone":
            await C.confirm_phone(deps, uid, attempt_id, text_of(form, "code"), meta)
        else:
            await C.confirm_deposit(deps, uid, attempt_id, text_of(form, "amount"), meta)
    except DomainError as err:
        return await refused(request, _attempt_page, err)
    raise go_to(f"/console/attempt/{attempt_id}")


@routes.get("/console/attempt/{id}/face")
async def attempt_face_return(request: web.Request) -> web.Response:
    uid = uid_of(request)
    await C.face_result(deps_of(request), uid, request.match_info["id"], request_meta(request))
    raise go_to(f"/console/attempt/{request.match_info['id']}")


@routes.get("/console/attempt/{id}/letter.pdf")
async def attempt_letter_pdf(request: web.Request) -> web.Response:
    uid = uid_of(request)
    pdf = await C.letter_pdf(deps_of(request), uid, request.match_info["id"])
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="authorization-letter.pdf"'})


@routes.post("/console/attempt/{id}/letter")
async def attempt_letter_upload(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        photo = file_of(form, "photo")
        if photo is None:
            raise InvalidInput("请选择盖章后的授权委托书照片", code="empty_upload", field="photo")
        await C.upload_letter(deps_of(request), uid, request.match_info["id"], photo,
                              request_meta(request))
    except DomainError as err:
        return await refused(request, _attempt_page, err)
    raise go_to(f"/console/attempt/{request.match_info['id']}", "uploaded")


@routes.get("/console/attempt/{id}/letter.img")
async def attempt_letter_image(request: web.Request) -> web.Response:
    uid = uid_of(request)
    data, ctype = await C.letter_image(deps_of(request), uid, request.match_info["id"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


# -- admin appeal (申诉): the same proofs, to take over an enterprise's main-admin role


async def _appeal_page(request: web.Request, error: DomainError | None = None,
                       form: dict[str, str] | None = None) -> web.Response:
    uid = uid_of(request)
    appeals = [a for a in await A.my_appeals(deps_of(request), uid)
               if a.enterprise_id == ent_of(request)]
    if not appeals:
        raise web.HTTPSeeOther("/console/join")
    return render(request, "console/appeal.html", {
        "appeal": appeals[0], "methods": C.METHODS, "purpose": "appeal",
        "ent_id": ent_of(request), "form": form or {}, "error": error,
        "notice": notice_of(request),
    })


@routes.get("/console/appeal/{ent}")
async def appeal_page(request: web.Request) -> web.Response:
    return await _appeal_page(request)
