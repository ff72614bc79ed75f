"""HR console H5 pages under /console (mobile first, fine on a PC), and /collect links.

Thin: parse the form → call one core service → render or redirect. A refused form
re-renders its page with the Chinese message; a successful one redirects (303) with a
fixed notice key, so nothing the user typed is reflected from the URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from core.contracts import access as contract_access
from core.enterprise import admin_change as A
from core.enterprise import certification as C
from core.enterprise import dashboard as D
from core.enterprise import departments as DP
from core.enterprise import employee_import as I
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import proofs as P
from core.enterprise import roles as R
from core.enterprise import seals as S
from core.errors import DomainError, InvalidInput, PayloadTooLarge
from handlers.keys import DEPS, current_session
from handlers.render import provider_page, render
from handlers.util import bounded_int, read_form, request_meta, uploaded_file

routes = web.RouteTableDef()
Page = Callable[..., Awaitable[web.Response]]

NOTICES = {
    "submitted": "已提交，请选择一种方式完成企业认证",
    "revoked": "已撤销认证申请",
    "resubmitted": "已重新提交，请继续认证",
    "certified": "企业认证已完成",
    "code_sent": "验证码已发送，请查看手机短信",
    "rep_code_sent": "授权码已发送至法定代表人手机",
    "paid": "已向对公账户打款，请查询到账金额后填写",
    "uploaded": "已上传，等待平台审核",
    "saved": "已保存",
    "joined": "申请已提交，请等待企业管理员审核",
    "join_revoked": "已撤销加入申请",
    "added": "已添加",
    "added_collecting": "已添加，信息采集链接已通过短信发送给员工，填写后进入“待审核”",
    "added_pending_review": "已添加，请在“待审核”中核对后通过",
    "removed": "已移除",
    "approved": "已通过",
    "rejected": "已驳回",
    "transferred": "主管理员已更换，您已转为“员工”角色",
    "imported": "导入成功",
    "appeal": "申诉已发起，请选择一种方式证明您对企业的控制权",
}


def _uid(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return session.user_id


def _go(path: str, notice: str | None = None) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?ok={notice}" if notice else path)


def _notice(request: web.Request) -> str | None:
    return NOTICES.get(request.query.get("ok", ""))


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    try:
        return await read_form(request)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge() from None


def _text(form: MultiDictProxy[Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


# More than any upload the console takes (letters 15 MB); each service checks its own limit.
MAX_UPLOAD = 20 * 1024 * 1024


def _file(form: MultiDictProxy[Any], key: str) -> bytes | None:
    upload = uploaded_file(form, key, MAX_UPLOAD)
    return (upload[0] or None) if upload else None


def _ent(request: web.Request) -> str:
    return request.match_info["ent"]


async def _refused(request: web.Request, page: Page, err: DomainError,
                   **kw: Any) -> web.Response:
    response = await page(request, error=err, **kw)
    response.set_status(err.status)
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _deps(request: web.Request) -> Any:
    return request.app[DEPS]


# ================================================================ my enterprises


@routes.get("/console")
async def home(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = _uid(request)
    deps = _deps(request)
    mine, joined = await C.my_enterprises(deps, uid)
    return render(request, "console/home.html", {
        "mine": mine, "joined": joined, "requests": await M.my_join_requests(deps, uid),
        "appeals": await A.my_appeals(deps, uid), "notice": _notice(request), "error": error,
    })


# ================================================================ certification


async def _certify_new_page(request: web.Request, error: DomainError | None = None,
                            form: dict[str, str] | None = None) -> web.Response:
    return render(request, "console/certify_new.html", {
        "form": form or {}, "error": error, "kinds": C.CERTIFICATE_KINDS,
        "warn": bool(error and error.code == "credit_code_check_warning"),
    })


@routes.get("/console/certify/new")
async def certify_new(request: web.Request) -> web.Response:
    _uid(request)
    return await _certify_new_page(request)


def _enterprise_input(form: MultiDictProxy[Any]) -> C.EnterpriseInput:
    return C.EnterpriseInput(
        name=_text(form, "name"), credit_code=_text(form, "credit_code"),
        address=_text(form, "address"), legal_rep_name=_text(form, "legal_rep_name"),
        legal_rep_id_number=_text(form, "legal_rep_id_number"),
        certificate_kind=_text(form, "certificate_kind") or "cloud",
    )


KEEP = ("name", "credit_code", "address", "legal_rep_name", "certificate_kind")


@routes.post("/console/certify/new")
async def certify_submit(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    kept = {k: _text(form, k)[:200] for k in KEEP}
    try:
        view = await C.submit_enterprise(
            _deps(request), uid, _enterprise_input(form), _file(form, "licence"),
            request_meta(request), accept_check_warning=_text(form, "accept_warning") == "1",
        )
    except DomainError as err:
        return await _refused(request, _certify_new_page, err, form=kept)
    raise _go(f"/console/certify/{view.id}", "submitted")


async def _certify_page(request: web.Request, error: DomainError | None = None,
                        form: dict[str, str] | None = None) -> web.Response:
    uid = _uid(request)
    ent, attempts = await C.certification_status(_deps(request), uid, _ent(request))
    return render(request, "console/certify.html", {
        "ent": ent, "attempts": attempts, "methods": C.METHODS, "purpose": "certify",
        "kinds": C.CERTIFICATE_KINDS, "form": form or {}, "error": error,
        "notice": _notice(request),
    })


@routes.get("/console/certify/{ent}")
async def certify_status(request: web.Request) -> web.Response:
    return await _certify_page(request)


@routes.post("/console/certify/{ent}/revoke")
async def certify_revoke(request: web.Request) -> web.Response:
    uid = _uid(request)
    try:
        await C.revoke_certification(_deps(request), uid, _ent(request), request_meta(request))
    except DomainError as err:
        return await _refused(request, _certify_page, err)
    raise _go("/console", "revoked")


@routes.post("/console/certify/{ent}/resubmit")
async def certify_resubmit(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        await C.resubmit_enterprise(
            _deps(request), uid, _ent(request), _enterprise_input(form), _file(form, "licence"),
            request_meta(request), accept_check_warning=_text(form, "accept_warning") == "1",
        )
    except DomainError as err:
        return await _refused(request, _certify_page, err,
                              form={k: _text(form, k)[:200] for k in KEEP})
    raise _go(f"/console/certify/{_ent(request)}", "resubmitted")


# ---------------------------------------------------------------- method starts


def _purpose(form: MultiDictProxy[Any]) -> str:
    return "appeal" if _text(form, "purpose") == "appeal" else "certify"


def _method_page_for(purpose: str) -> Page:
    return _appeal_page if purpose == "appeal" else _certify_page


@routes.post("/console/certify/{ent}/{method:phone|face|letter|deposit}")
async def method_start(request: web.Request) -> web.Response:
    uid = _uid(request)
    deps = _deps(request)
    form = await _form(request)
    purpose = _purpose(form)
    meta = request_meta(request)
    ent = _ent(request)
    method = request.match_info["method"]
    try:
        if method == "phone":
            attempt = await C.start_phone(deps, uid, ent, _text(form, "phone"), meta,
                                          purpose=purpose)
        elif method == "face":
            back = deps.config.server.base_url.rstrip("/") + "/console/attempt/{attempt}/face"
            _, url = await C.start_face(deps, uid, ent, back, meta, purpose=purpose)
            return provider_page(request, url)
        elif method == "letter":
            attempt = await C.start_letter(deps, uid, ent, meta, purpose=purpose)
            raise _go(f"/console/attempt/{attempt.id}")
        else:
            attempt = await C.start_deposit(
                deps, uid, ent, account_name=_text(form, "account_name"),
                account_number=_text(form, "account_number"),
                bank_name=_text(form, "bank_name"), meta=meta, purpose=purpose,
            )
    except DomainError as err:
        return await _refused(request, _method_page_for(purpose), err,
                              form={k: _text(form, k)[:100] for k in
                                    ("phone", "account_name", "account_number", "bank_name")})
    raise _go(f"/console/attempt/{attempt.id}", "rep_code_sent" if method == "phone" else "paid")


async def _attempt_page(request: web.Request, error: DomainError | None = None
                        ) -> web.Response:
    uid = _uid(request)
    attempt = await C.get_attempt(_deps(request), uid, request.match_info["id"])
    return render(request, "console/attempt.html", {
        "a": attempt, "error": error, "notice": _notice(request),
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
    uid = _uid(request)
    form = await _form(request)
    deps, meta, attempt_id = _deps(request), request_meta(request), request.match_info["id"]
    try:
        if request.match_info["step"] == "phone":
            await C.confirm_phone(deps, uid, attempt_id, _text(form, "code"), meta)
        else:
            await C.confirm_deposit(deps, uid, attempt_id, _text(form, "amount"), meta)
    except DomainError as err:
        return await _refused(request, _attempt_page, err)
    raise _go(f"/console/attempt/{attempt_id}")


@routes.get("/console/attempt/{id}/face")
async def attempt_face_return(request: web.Request) -> web.Response:
    uid = _uid(request)
    await C.face_result(_deps(request), uid, request.match_info["id"], request_meta(request))
    raise _go(f"/console/attempt/{request.match_info['id']}")


@routes.get("/console/attempt/{id}/letter.pdf")
async def attempt_letter_pdf(request: web.Request) -> web.Response:
    uid = _uid(request)
    pdf = await C.letter_pdf(_deps(request), uid, request.match_info["id"])
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="authorization-letter.pdf"'})


@routes.post("/console/attempt/{id}/letter")
async def attempt_letter_upload(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        photo = _file(form, "photo")
        if photo is None:
            raise InvalidInput("请选择盖章后的授权委托书照片", code="empty_upload", field="photo")
        await C.upload_letter(_deps(request), uid, request.match_info["id"], photo,
                              request_meta(request))
    except DomainError as err:
        return await _refused(request, _attempt_page, err)
    raise _go(f"/console/attempt/{request.match_info['id']}", "uploaded")


@routes.get("/console/attempt/{id}/letter.img")
async def attempt_letter_image(request: web.Request) -> web.Response:
    uid = _uid(request)
    data, ctype = await C.letter_image(_deps(request), uid, request.match_info["id"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


# ================================================================ join / appeal


async def _join_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = _uid(request)
    q = request.query.get("q", "")[:60]
    hits = await M.search_enterprises(_deps(request), uid, q) if q else []
    return render(request, "console/join.html", {"q": q, "hits": hits, "error": error,
                                                 "notice": _notice(request)})


@routes.get("/console/join")
async def join_page(request: web.Request) -> web.Response:
    return await _join_page(request)


@routes.post("/console/join/{ent}")
async def join_request(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        await M.request_join(_deps(request), uid, _ent(request), _text(form, "reason"),
                             request_meta(request))
    except DomainError as err:
        return await _refused(request, _join_page, err)
    raise _go("/console", "joined")


@routes.post("/console/join-requests/{id}/revoke")
async def join_revoke(request: web.Request) -> web.Response:
    uid = _uid(request)
    try:
        await M.revoke_join(_deps(request), uid, request.match_info["id"], request_meta(request))
    except DomainError as err:
        return await _refused(request, home, err)
    raise _go("/console", "join_revoked")


@routes.post("/console/appeal/{ent}")
async def appeal_start(request: web.Request) -> web.Response:
    uid = _uid(request)
    try:
        await A.start_appeal(_deps(request), uid, _ent(request), request_meta(request))
    except DomainError as err:
        return await _refused(request, _join_page, err)
    raise _go(f"/console/appeal/{_ent(request)}", "appeal")


async def _appeal_page(request: web.Request, error: DomainError | None = None,
                       form: dict[str, str] | None = None) -> web.Response:
    uid = _uid(request)
    appeals = [a for a in await A.my_appeals(_deps(request), uid)
               if a.enterprise_id == _ent(request)]
    if not appeals:
        raise web.HTTPSeeOther("/console/join")
    return render(request, "console/appeal.html", {
        "appeal": appeals[0], "methods": C.METHODS, "purpose": "appeal",
        "ent_id": _ent(request), "form": form or {}, "error": error,
        "notice": _notice(request),
    })


@routes.get("/console/appeal/{ent}")
async def appeal_page(request: web.Request) -> web.Response:
    return await _appeal_page(request)


# ================================================================ enterprise console


async def console_context(request: web.Request, ent_id: str, section: str) -> dict[str, Any]:
    """What every page of one enterprise's console shows: name, nav, my permissions."""
    access = await M.my_access(_deps(request), _uid(request), ent_id)
    return {"ent_id": ent_id, "ent_name": access.enterprise_name,
            "ent_state": access.enterprise_state, "section": section,
            "notice": _notice(request), "access": access}


async def _ctx(request: web.Request, section: str) -> dict[str, Any]:
    return await console_context(request, _ent(request), section)


@routes.get("/console/e/{ent}")
async def dashboard(request: web.Request, error: DomainError | None = None) -> web.Response:
    ctx = await _ctx(request, "home")
    board = await D.dashboard(_deps(request), _uid(request), _ent(request))
    return render(request, "console/dashboard.html", {**ctx, "board": board, "error": error})


# ---------------------------------------------------------------- contracts


@routes.get("/console/e/{ent}/contracts")
async def contracts_page(request: web.Request) -> web.Response:
    uid = _uid(request)
    ctx = await _ctx(request, "contracts")
    tab = request.query.get("tab", "all")
    tab = tab if tab in contract_access.ENTERPRISE_TABS else "all"
    items = await contract_access.enterprise_contracts(_deps(request), uid, _ent(request), tab)
    return render(request, "console/contracts.html", {
        **ctx, "items": items, "tab": tab, "tabs": contract_access.ENTERPRISE_TABS})


# ---------------------------------------------------------------- members & joins & roles


async def _members_page(request: web.Request, error: DomainError | None = None,
                        form: dict[str, Any] | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "members")
    return render(request, "console/members.html", {
        **ctx, "members": await M.list_members(deps, uid, ent),
        "roles": await M.list_roles(deps, uid, ent),
        "btypes": await M.list_business_types(deps, uid, ent), "error": error,
        "form": form or {},
    })


@routes.get("/console/e/{ent}/members")
async def members_page(request: web.Request) -> web.Response:
    return await _members_page(request)


@routes.post("/console/e/{ent}/members")
async def member_add(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        await M.add_member(_deps(request), uid, _ent(request), phone=_text(form, "phone"),
                           name=_text(form, "name"), role_ids=form.getall("role_ids", []),
                           business_type_ids=form.getall("business_type_ids", []),
                           meta=request_meta(request))
    except DomainError as err:
        kept = {"phone": _text(form, "phone")[:20], "name": _text(form, "name")[:40],
                "role_ids": form.getall("role_ids", []),
                "business_type_ids": form.getall("business_type_ids", [])}
        return await _refused(request, _members_page, err, form=kept)
    raise _go(f"/console/e/{_ent(request)}/members", "added")


async def _member_page(request: web.Request, error: DomainError | None = None
                       ) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    members = await M.list_members(deps, uid, ent)
    member = next((m for m in members if m.id == request.match_info["mid"]), None)
    if member is None:
        raise web.HTTPNotFound()
    ctx = await _ctx(request, "members")
    return render(request, "console/member.html", {
        **ctx, "m": member, "others": [o for o in members if o.id != member.id
                                       and o.status == "active"],
        "roles": await M.list_roles(deps, uid, ent),
        "btypes": await M.list_business_types(deps, uid, ent),
        "items": await M.handover_items(deps, uid, ent, member.id), "error": error,
    })


@routes.get("/console/e/{ent}/members/{mid}")
async def member_page(request: web.Request) -> web.Response:
    return await _member_page(request)


@routes.post("/console/e/{ent}/members/{mid}")
async def member_update(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        await M.update_member(_deps(request), uid, _ent(request), request.match_info["mid"],
                              role_ids=form.getall("role_ids", []),
                              business_type_ids=form.getall("business_type_ids", []),
                              display_name=_text(form, "name"), meta=request_meta(request))
    except DomainError as err:
        return await _refused(request, _member_page, err)
    raise _go(f"/console/e/{_ent(request)}/members/{request.match_info['mid']}", "saved")


@routes.post("/console/e/{ent}/members/{mid}/remove")
async def member_remove(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    everything = _text(form, "all_to")
    assignments = {k[3:]: v for k, v in form.items()
                   if k.startswith("to:") and isinstance(v, str) and v}
    if everything:  # 一键转交: the same member takes every item not chosen separately
        for key in form.getall("item", []):
            assignments.setdefault(key, everything)
    try:
        await M.remove_member(_deps(request), uid, _ent(request), request.match_info["mid"],
                              assignments=assignments, meta=request_meta(request))
    except DomainError as err:
        return await _refused(request, _member_page, err)
    raise _go(f"/console/e/{_ent(request)}/members", "removed")


async def _joins_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "joins")
    return render(request, "console/joins.html", {
        **ctx, "requests": await M.list_join_requests(deps, uid, ent),
        "roles": [r for r in await M.list_roles(deps, uid, ent) if r.builtin != "main_admin"],
        "btypes": await M.list_business_types(deps, uid, ent),
        "seals": [s for s in await S.list_seals(deps, uid, ent) if s.status != "voided"],
        "error": error,
    })


@routes.get("/console/e/{ent}/joins")
async def joins_page(request: web.Request) -> web.Response:
    return await _joins_page(request)


@routes.post("/console/e/{ent}/joins/{id}")
async def join_decide(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    approve = _text(form, "decision") == "approve"
    try:
        await M.decide_join(_deps(request), uid, _ent(request), request.match_info["id"],
                            approve=approve, role_ids=form.getall("role_ids", []),
                            business_type_ids=form.getall("business_type_ids", []),
                            seal_ids=form.getall("seal_ids", []),
                            reason=_text(form, "reason"), meta=request_meta(request))
    except DomainError as err:
        return await _refused(request, _joins_page, err)
    raise _go(f"/console/e/{_ent(request)}/joins", "approved" if approve else "rejected")


async def _roles_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "members")
    return render(request, "console/roles.html", {
        **ctx, "roles": await M.list_roles(deps, uid, ent), "permissions": R.PERMISSIONS,
        "btypes": await M.list_business_types(deps, uid, ent), "error": error,
    })


@routes.get("/console/e/{ent}/roles")
async def roles_page(request: web.Request) -> web.Response:
    return await _roles_page(request)


@routes.post("/console/e/{ent}/roles")
async def role_save(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        if _text(form, "action") == "delete":
            await M.delete_role(_deps(request), uid, _ent(request), _text(form, "role_id"),
                                request_meta(request))
        elif _text(form, "action") == "business_type":
            await M.add_business_type(_deps(request), uid, _ent(request), _text(form, "name"),
                                      request_meta(request))
        else:
            await M.save_role(_deps(request), uid, _ent(request),
                              role_id=_text(form, "role_id") or None, name=_text(form, "name"),
                              permissions=form.getall("permissions", []),
                              meta=request_meta(request))
    except DomainError as err:
        return await _refused(request, _roles_page, err)
    raise _go(f"/console/e/{_ent(request)}/roles", "saved")


# ---------------------------------------------------------------- seals


async def _seals_page(request: web.Request, error: DomainError | None = None,
                      form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "seals")
    return render(request, "console/seals.html", {
        **ctx, "seals": await S.list_seals(deps, uid, ent), "kinds": S.KINDS, "error": error,
        "form": form or {},
    })


@routes.get("/console/e/{ent}/seals")
async def seals_page(request: web.Request) -> web.Response:
    return await _seals_page(request)


@routes.post("/console/e/{ent}/seals")
async def seal_create(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        seal = await S.create_seal(_deps(request), uid, _ent(request), name=_text(form, "name"),
                                   kind=_text(form, "kind"), image=_file(form, "image"),
                                   meta=request_meta(request))
    except DomainError as err:
        return await _refused(request, _seals_page, err,
                              form={k: _text(form, k)[:40] for k in ("name", "kind")})
    raise _go(f"/console/e/{_ent(request)}/seals/{seal.id}", "added")


async def _seal_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    sid = request.match_info["sid"]
    ctx = await _ctx(request, "seals")
    seal = await S.get_seal(deps, uid, ent, sid)
    members = await M.list_members(deps, uid, ent)
    return render(request, "console/seal.html", {
        **ctx, "s": seal, "members": members,
        "names": {m.id: m.display_name for m in members},
        "usage": [_usage_entry(u, {m.id: m.display_name for m in members},
                               {m.user_id: m.display_name for m in members if m.user_id})
                  for u in await S.usage_log(deps, uid, ent, sid)],
        "error": error,
    })


def _usage_entry(u: S.UsageView, members: dict[str, str], users: dict[str, str]
                 ) -> dict[str, Any]:
    """One row of a seal's usage log in words: who, what, on which contract or member."""
    data = {**u.data}
    if isinstance(data.get("member_id"), str):
        data["member"] = members.get(data["member_id"], "")
    label = USAGE_ACTIONS.get(u.action) or AUDIT_ACTIONS.get(u.action, "其他操作")
    details = [f"{AUDIT_DETAILS[k]}：{_DETAIL_VALUES.get(str(v), v)}" for k, v in data.items()
               if k in AUDIT_DETAILS and isinstance(v, str | int) and v != ""]
    actor = users.get(u.actor_id or "") or ("其他用户" if u.actor_id else "系统")
    return {"at": u.at, "label": label, "actor": actor, "details": "；".join(details),
            "contract_id": u.contract_id}


@routes.get("/console/e/{ent}/seals/{sid}")
async def seal_page(request: web.Request) -> web.Response:
    return await _seal_page(request)


@routes.get("/console/e/{ent}/seals/{sid}/image")
async def seal_image(request: web.Request) -> web.Response:
    uid = _uid(request)
    data, ctype = await S.seal_image(_deps(request), uid, _ent(request),
                                     request.match_info["sid"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


@routes.post("/console/e/{ent}/seals/{sid}")
async def seal_action(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    deps, ent, sid, meta = _deps(request), _ent(request), request.match_info["sid"], \
        request_meta(request)
    action = _text(form, "action")
    try:
        if action in ("enable", "disable"):
            await S.set_seal_status(deps, uid, ent, sid, action == "enable", meta)
        elif action in ("auto_on", "auto_off"):
            await S.set_auto_sign(deps, uid, ent, sid, action == "auto_on", meta)
        elif action == "grant":
            await S.grant_seal(deps, uid, ent, sid, _text(form, "member_id"), meta)
        elif action == "revoke":
            await S.revoke_seal_grant(deps, uid, ent, sid, _text(form, "member_id"), meta)
        elif action == "image":
            image = _file(form, "image")
            if image is None:
                raise InvalidInput("请选择印章图片", code="empty_upload", field="image")
            await S.replace_seal_image(deps, uid, ent, sid, image, meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        return await _refused(request, _seal_page, err)
    raise _go(f"/console/e/{ent}/seals/{sid}", "saved")


# ---------------------------------------------------------------- admin change


async def _admin_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "admin")
    if not ctx["access"].is_main_admin:  # the page explains the appeal instead
        return render(request, "console/admin.html", {
            **ctx, "candidates": [], "items": [], "is_main": False, "error": error})
    members = await M.list_members(deps, uid, ent)
    me = next((m for m in members if m.user_id == uid), None)
    items = await M.handover_items(deps, uid, ent, me.id) if me else []
    return render(request, "console/admin.html", {
        **ctx, "candidates": [m for m in members if m.status == "active" and m.user_id != uid],
        "items": items, "is_main": bool(me and me.is_main_admin), "error": error,
    })


@routes.get("/console/e/{ent}/admin")
async def admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request)


@routes.post("/console/e/{ent}/admin")
async def admin_action(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    deps, ent, meta = _deps(request), _ent(request), request_meta(request)
    try:
        if _text(form, "action") == "code":
            await A.send_transfer_code(deps, uid, ent, meta)
            raise _go(f"/console/e/{ent}/admin", "code_sent")
        await A.transfer_admin(deps, uid, ent, code=_text(form, "code"),
                               new_member_id=_text(form, "new_member_id"),
                               handover_keys=form.getall("item", []), meta=meta)
    except DomainError as err:
        return await _refused(request, _admin_page, err)
    raise _go(f"/console/e/{ent}", "transferred")


# ---------------------------------------------------------------- employees

# The fields of the 办理入职 form (console/employees.html).
ADD_FORM = ("name", "phone", "department", "position", "start_date")
TABS = {"active": "在职", "pending_review": "待审核", "collecting": "采集中",
        "rejected": "已驳回", "resigned": "已离职"}


async def _employees_page(request: web.Request, error: DomainError | None = None,
                          form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    tab = request.query.get("tab", "active")
    tab = tab if tab in TABS else "active"
    try:
        offset = bounded_int(request.query.get("offset"), "offset", default=0)
    except InvalidInput:
        offset = 0  # a page link edited by hand: show the first page
    ctx = await _ctx(request, "employees")
    page = await E.list_employees(deps, uid, ent, statuses=[tab],
                                  q=request.query.get("q", "")[:40],
                                  department_id=request.query.get("dept") or None,
                                  offset=offset)
    return render(request, "console/employees.html", {
        **ctx, "page": page, "tab": tab, "tabs": TABS, "q": request.query.get("q", "")[:40],
        "depts": await DP.department_tree(deps, uid, ent),
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "error": error, "form": form or {"send_link": "1"},
        "new_id": request.query.get("new", "")[:32],
    })


@routes.get("/console/e/{ent}/employees")
async def employees_page(request: web.Request) -> web.Response:
    return await _employees_page(request)


def _values(form: MultiDictProxy[Any]) -> dict[str, object]:
    return {k: _text(form, k) for k in E.FIELDS if _text(form, k)}


@routes.post("/console/e/{ent}/employees")
async def employee_add(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        if _text(form, "action") == "approve_selected":
            await E.approve_employees(_deps(request), uid, _ent(request), form.getall("ids", []),
                                      request_meta(request))
            raise _go(f"/console/e/{_ent(request)}/employees", "approved")
        added = await E.onboard_employee(_deps(request), uid, _ent(request), _values(form),
                                         request_meta(request),
                                         send_link=_text(form, "send_link") == "1")
    except DomainError as err:
        # Everything typed stays in the form (the add form never holds ID or card numbers).
        kept = {k: _text(form, k)[:100] for k in (*ADD_FORM, "send_link")}
        return await _refused(request, _employees_page, err, form=kept)
    # Land on the tab the new person is on, with their row marked.
    raise web.HTTPSeeOther(f"/console/e/{_ent(request)}/employees?tab={added.status}"
                           f"&new={added.id}&ok=added_{added.status}")


async def _employee_page(request: web.Request, error: DomainError | None = None
                         ) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "employees")
    return render(request, "console/employee.html", {
        **ctx, "e": await E.get_employee(deps, uid, ent, request.match_info["eid"]),
        "depts": await DP.department_tree(deps, uid, ent),
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "today": date.today().isoformat(), "error": error,
    })


@routes.get("/console/e/{ent}/employees/{eid:[0-9a-f]{32}}")
async def employee_page(request: web.Request) -> web.Response:
    return await _employee_page(request)


@routes.post("/console/e/{ent}/employees/{eid:[0-9a-f]{32}}")
async def employee_action(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    deps, ent, eid, meta = _deps(request), _ent(request), request.match_info["eid"], \
        request_meta(request)
    action = _text(form, "action")
    try:
        if action == "approve":
            await E.review_employee(deps, uid, ent, eid, approve=True, meta=meta)
        elif action == "reject":
            await E.review_employee(deps, uid, ent, eid, approve=False,
                                    reason=_text(form, "reason"), meta=meta)
        elif action == "transfer":
            await E.transfer_department(deps, uid, ent, eid, _text(form, "department_id"), meta)
        elif action == "resign":
            await E.resign_employee(deps, uid, ent, eid, _text(form, "resign_date"), meta)
        elif action == "link":
            await E.send_collection_link(deps, uid, ent, eid, meta)
        elif action == "edit":
            await E.edit_employee(deps, uid, ent, eid, _values(form), meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        return await _refused(request, _employee_page, err)
    raise _go(f"/console/e/{ent}/employees/{eid}", "saved")


async def _import_page(request: web.Request, error: DomainError | None = None,
                       report: I.ImportReport | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "employees")
    return render(request, "console/import.html", {
        **ctx, "report": report, "max_rows": I.MAX_ROWS, "error": error,
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
    })


@routes.get("/console/e/{ent}/employees/import")
async def import_page(request: web.Request) -> web.Response:
    return await _import_page(request)


@routes.get("/console/e/{ent}/employees/import/template.xlsx")
async def import_template(request: web.Request) -> web.Response:
    uid = _uid(request)
    fields = await E.onboarding_fields(_deps(request), uid, _ent(request))
    return web.Response(body=I.template_bytes(fields), headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": 'attachment; filename="employees-template.xlsx"'})


@routes.post("/console/e/{ent}/employees/import")
async def import_upload(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    try:
        data = _file(form, "file")
        if data is None:
            raise InvalidInput("请选择 Excel 文件", code="empty_upload", field="file")
        report = await I.import_employees(_deps(request), uid, _ent(request), data,
                                          request_meta(request),
                                          activate=_text(form, "activate") == "1")
    except DomainError as err:
        return await _refused(request, _import_page, err)
    if not report.ok:
        response = await _import_page(request, report=report)
        response.set_status(422)
        return response
    tab = "active" if _text(form, "activate") == "1" else "pending_review"
    raise web.HTTPSeeOther(f"/console/e/{_ent(request)}/employees?tab={tab}&ok=imported")


# ---------------------------------------------------------------- departments


async def _departments_page(request: web.Request, error: DomainError | None = None,
                            form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "departments")
    return render(request, "console/departments.html", {
        **ctx, "tree": await DP.department_tree(deps, uid, ent), "error": error,
        "form": form or {}})


@routes.get("/console/e/{ent}/departments")
async def departments_page(request: web.Request) -> web.Response:
    return await _departments_page(request)


@routes.post("/console/e/{ent}/departments")
async def department_action(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    deps, ent, meta = _deps(request), _ent(request), request_meta(request)
    action, dept = _text(form, "action"), _text(form, "dept_id")
    try:
        if action == "add":
            await DP.add_department(deps, uid, ent, _text(form, "name"),
                                    _text(form, "parent_id") or None, meta)
        elif action == "rename":
            await DP.rename_department(deps, uid, ent, dept, _text(form, "name"), meta)
        elif action == "move":
            await DP.move_department(deps, uid, ent, dept, _text(form, "parent_id") or None,
                                     meta)
        elif action == "delete":
            await DP.delete_department(deps, uid, ent, dept, meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        kept = ({k: _text(form, k)[:40] for k in ("name", "parent_id")} if action == "add"
                else None)
        return await _refused(request, _departments_page, err, form=kept)
    raise _go(f"/console/e/{ent}/departments", "saved")


# ---------------------------------------------------------------- settings & audit


async def _settings_page(request: web.Request, error: DomainError | None = None
                         ) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "settings")
    return render(request, "console/settings.html", {
        **ctx, "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "always": E.ALWAYS, "error": error,
    })


@routes.get("/console/e/{ent}/settings")
async def settings_page(request: web.Request) -> web.Response:
    return await _settings_page(request)


@routes.post("/console/e/{ent}/settings")
async def settings_save(request: web.Request) -> web.Response:
    uid = _uid(request)
    form = await _form(request)
    deps, ent, meta = _deps(request), _ent(request), request_meta(request)
    try:
        if _text(form, "action") == "fields":
            await E.set_onboarding_fields(deps, uid, ent, form.getall("fields", []), meta)
        else:
            rep = _text(form, "legal_rep_name") or None
            await C.change_enterprise_info(
                deps, uid, ent, name=_text(form, "name") or None,
                credit_code=_text(form, "credit_code") or None,
                address=_text(form, "address") or None, legal_rep_name=rep,
                legal_rep_id_number=_text(form, "legal_rep_id_number") or None if rep else None,
                meta=meta)
    except DomainError as err:
        return await _refused(request, _settings_page, err)
    raise _go(f"/console/e/{ent}/settings", "saved")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


# The audit log speaks codes; people read these. Unknown codes show as 其他操作.
AUDIT_ACTIONS = {
    "enterprise.submitted": "提交企业认证", "enterprise.resubmitted": "重新提交企业认证",
    "enterprise.revoked": "撤销企业认证申请", "enterprise.rejected": "企业认证被驳回",
    "enterprise.certified": "企业认证通过", "enterprise.info_changed": "修改企业信息",
    "enterprise.credit_code_override": "平台核对信用代码",
    "phone_code_sent": "发送法定代表人授权码", "face_started": "发起法定代表人刷脸",
    "letter_started": "使用授权委托书", "letter_uploaded": "上传授权委托书",
    "deposit_sent": "发起对公打款", "deposit_expired": "对公打款已过期",
    "attempt_passed": "认证方式通过", "attempt_failed": "认证方式未通过",
    "seal.created": "创建印章", "seal.voided": "作废印章", "seal.enabled": "启用印章",
    "seal.disabled": "停用印章", "seal.image_replaced": "更换印章图片",
    "seal.granted": "印章授权", "seal.grant_revoked": "取消印章授权",
    "seal.auto_sign_on": "开启自动签署", "seal.auto_sign_off": "关闭自动签署",
    "member.added": "添加成员", "member.activated": "成员已激活", "member.updated": "修改成员",
    "member.removed": "移除成员", "member.handover": "转交成员事项",
    "join.requested": "申请加入企业", "join.approved": "通过加入申请",
    "join.rejected": "驳回加入申请", "join.revoked": "撤销加入申请",
    "role.created": "新建角色", "role.updated": "修改角色", "role.deleted": "删除角色",
    "business_type.created": "新增业务类型",
    "admin.changed": "更换主管理员", "admin.appeal_started": "发起管理员申诉",
    "admin.appeal_method_failed": "申诉认证未通过",
    "employee.onboarded": "办理入职", "employee.imported": "Excel 批量导入员工",
    "employee.approved": "入职审核通过", "employee.rejected": "入职审核驳回",
    "employee.bulk_approved": "批量通过入职", "employee.edited": "修改员工信息",
    "employee.transferred": "调动部门", "employee.resigned": "办理离职",
    "employee.link_sent": "发送信息采集链接", "employee.info_submitted": "员工提交入职信息",
    "employee.self_onboarded": "员工扫码入职", "employees.fields_set": "设置入职信息项",
    "employees.qr_created": "生成入职二维码", "employees.qr_reset": "重置入职二维码",
    "department.created": "新建部门", "department.renamed": "重命名部门",
    "department.moved": "移动部门", "department.deleted": "删除部门",
    "contract.created": "创建合同", "contract.sent": "发起合同", "contract.signed": "签署合同",
    "contract.sign_code_sent": "发送签署验证码", "contract.sign_confirmed": "确认签署",
    "contract.sign_failed": "签署失败", "contract.completed": "合同签署完成",
    "contract.rejected": "拒签合同", "contract.revoked": "撤回合同",
    "contract.expired": "合同已过期", "sign": "签署",
    "contract.auto_sign": "自动盖章",
    "contract.auto_sign_withdrawn": "自动盖章已取消，改为人工盖章",
    "certificate.issued": "签发数字证书", "certificate.revoked": "吊销数字证书",
    "signing.granted": "授权签署", "signing.key_unlocked": "启用签署密钥",
    "security.proof_refused": "验证受限（次数已达上限）",
    "security.proof_exhausted": "验证错误次数过多",
    "security.proof_alert": "安全告警：多次验证失败",
}
# A seal's uses (storage/models/enterprise.py SealUsage.action).
USAGE_ACTIONS = {"sign": "盖章", "auto_sign": "自动盖章"}
# Details worth showing, by data key; ids and internal values stay out of the page.
AUDIT_DETAILS = {"name": "名称", "reason": "原因", "count": "人数", "credit_code": "信用代码",
                 "method": "方式", "kind": "类型", "phone": "手机号", "account": "账号",
                 "bank": "开户行", "resign_date": "离职日期", "handed_over": "转交事项",
                 "seal": "印章", "authorized_by_name": "自动签署授权人", "title": "合同",
                 "member": "成员"}
_DETAIL_VALUES = {**C.METHODS, **S.KINDS, "transfer": "主动转让", "appeal": "申诉",
                  **{k: r.label for k, r in P.RULES.items() if k not in C.METHODS},
                  **P.ALERT_REASONS}


def _audit_entry(row: D.AuditRow) -> dict[str, Any]:
    purpose, _, step = row.action.partition(".")
    if purpose in ("certify", "appeal") and step in AUDIT_ACTIONS:
        label = ("管理员申诉：" if purpose == "appeal" else "") + AUDIT_ACTIONS[step]
    else:
        label = AUDIT_ACTIONS.get(row.action, "其他操作")
    details = [f"{AUDIT_DETAILS[k]}：{_DETAIL_VALUES.get(str(v), v)}"
               for k, v in row.data.items()
               if k in AUDIT_DETAILS and isinstance(v, str | int) and v != ""]
    actor = row.actor_name or ("其他用户" if row.actor_id else "系统")
    return {"seq": row.seq, "at": row.at, "label": label, "actor": actor,
            "details": "；".join(details)}


@routes.get("/console/e/{ent}/audit")
async def audit_page(request: web.Request) -> web.Response:
    uid, deps, ent = _uid(request), _deps(request), _ent(request)
    ctx = await _ctx(request, "audit")
    q = request.query
    rows = await D.audit_log(deps, uid, ent, member_id=q.get("member") or None,
                             seal_id=q.get("seal") or None, date_from=_day(q.get("from", "")),
                             date_to=_day(q.get("to", "")))
    return render(request, "console/audit.html", {
        **ctx, "rows": [_audit_entry(r) for r in rows],
        "members": await M.list_members(deps, uid, ent, True),
        "seals": await S.list_seals(deps, uid, ent),
        "filters": {k: q.get(k, "")[:40] for k in ("member", "seal", "from", "to")},
    })


# ================================================================ collection link (public)


async def _collect_page(request: web.Request, error: DomainError | None = None,
                        values: dict[str, str] | None = None) -> web.Response:
    form = await E.collection_form(_deps(request), request.match_info["token"])
    return render(request, "console/collect.html", {
        "f": form, "values": {**form.values, **(values or {})}, "error": error})


@routes.get("/collect/{token}")
async def collect_page(request: web.Request) -> web.Response:
    response = await _collect_page(request)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.post("/collect/{token}")
async def collect_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    values = {k: _text(form, k)[:100] for k in E.FIELDS if k not in ("id_number", "bank_card")}
    try:
        ent_name = await E.submit_collection(_deps(request), request.match_info["token"],
                                             _values(form), request_meta(request))
    except DomainError as err:
        if err.code == "collect_link_invalid":
            raise
        return await _refused(request, _collect_page, err, values=values)
    return render(request, "console/collect_done.html", {"ent_name": ent_name})
