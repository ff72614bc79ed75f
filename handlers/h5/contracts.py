"""Contract pages: the employee's lists, reading and signing on the phone, the enterprise's
seal page for an authorised member, and the HR console's minimal send page."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.contracts import access, disclosure, ending, ledger, pages, send, signing, urging
from core.contracts.access import ContractView
from core.contracts.send import Box, SignerSpec
from core.contracts.states import REJECT_BY
from core.errors import DomainError, InvalidInput, PayloadTooLarge
from core.templates import sending as template_sending
from handlers.console.enterprise import console_context
from handlers.keys import DEPS, current_session
from handlers.render import render
from handlers.util import bounded_int, form_data, read_form, request_meta, uploaded_file

routes = web.RouteTableDef()

CN = timedelta(hours=8)


def _login_first(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
    return session.user_id


def _cid(request: web.Request) -> str:
    return request.match_info["id"]


def page_layout(view: ContractView, mine_only: bool = False) -> list[dict[str, Any]]:
    """Each page's image URL and its boxes as percentages of the page (top-left origin)."""
    out: list[dict[str, Any]] = []
    for ix, (w, h) in enumerate(view.page_sizes):
        boxes = []
        for signer in view.signers:
            mine = signer.id == view.my_signer_id
            if mine_only and not mine:
                continue
            for box in signer.boxes:
                if box.page != ix:
                    continue
                x1, y1, x2, y2 = box.rect
                boxes.append({
                    "left": round(x1 / w * 100, 3), "top": round((h - y2) / h * 100, 3),
                    "width": round((x2 - x1) / w * 100, 3),
                    "height": round((y2 - y1) / h * 100, 3),
                    "mine": mine, "signed": box.signed, "label": signer.name,
                })
        out.append({"index": ix, "number": ix + 1, "boxes": boxes, "ratio": h / w,
                    "url": f"/contracts/{view.id}/pages/{ix}.png?v={view.version}"})
    return out


def local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return (value.astimezone(UTC) + CN).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------ employee: lists


@routes.get("/contracts")
async def list_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    tab = request.query.get("tab", "to_sign")
    if tab not in access.TABS:
        tab = "to_sign"
    q = request.query.get("q", "").strip()
    state = request.query.get("state", "")
    error: DomainError | None = None
    try:
        items = await access.list_contracts(request.app[DEPS], user_id, tab, q=q, state=state)
    except InvalidInput as exc:
        error, q, state = exc, "", ""
        items = await access.list_contracts(request.app[DEPS], user_id, tab)
    return render(request, "contracts/list.html",
                  {"items": items, "tab": tab, "tabs": access.TABS, "when": local_time,
                   "q": q, "state": state, "states": access.LIST_STATES, "error": error,
                   "limit": access.LIST_LIMIT},
                  status=error.status if error else 200)


# ------------------------------------------------------------------ reading


async def _view_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    user_id = _login_first(request)
    view = await access.view_contract(request.app[DEPS], user_id, _cid(request))
    notice = {"signed": "签署成功", "rejected": "已拒签", "revoked": "合同已撤销",
              "sent": "合同已发出，签署人将收到短信通知",
              "urged": "已催办，待签署方将收到微信或短信提醒"}.get(request.query.get("done", ""))
    response = render(request, "contracts/view.html",
                      {"c": view, "pages": page_layout(view), "when": local_time,
                       "notice": notice, "error": error})
    if error is not None:
        response.set_status(error.status)
    return response


@routes.get("/contracts/{id}")
async def view_page(request: web.Request) -> web.Response:
    return await _view_page(request)


@routes.get("/contracts/{id}/pages/{page:\\d+}.png")
async def page_image(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    try:
        width = bounded_int(request.query.get("w"), "w", default=pages.DEFAULT_WIDTH)
    except InvalidInput:
        width = pages.DEFAULT_WIDTH
    page = bounded_int(request.match_info["page"], "page", maximum=10_000)
    png = await pages.contract_page(request.app[DEPS], user_id, _cid(request), page, width)
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400"})


@routes.get("/contracts/{id}/download")
async def download(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    doc = await access.download(request.app[DEPS], user_id, _cid(request))
    return web.Response(
        body=doc.data, content_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
            "Cache-Control": "private, no-store",
            "X-Document-SHA256": doc.sha256,
        },
    )


# ------------------------------------------------------------------ signing


async def _sign_context(request: web.Request, user_id: str) -> tuple[ContractView, str | None]:
    view = await access.view_contract(request.app[DEPS], user_id, _cid(request))
    return view, view.my_signer_id


@routes.get("/contracts/{id}/sign")
async def sign_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    view, signer_id = await _sign_context(request, user_id)
    if view.my_signer_state in ("signing", "signed"):
        raise web.HTTPSeeOther(f"/contracts/{view.id}/done")
    if not view.can_sign:
        raise web.HTTPSeeOther(f"/contracts/{view.id}")
    if view.my_party == "person" and await template_sending.fill_form(
            request.app[DEPS], user_id, view.id) is not None:
        # 乙方补全: the employee's own template fields come first.
        raise web.HTTPSeeOther(f"/contracts/{view.id}/fill")
    if view.my_party == "person":
        next_path = quote(f"/contracts/{view.id}/sign", safe="")
        if not view.identity_verified:
            # The real-name check, then straight back here (across the provider's page).
            raise web.HTTPFound(f"/identity?next={next_path}")
        if not view.has_signature:
            # 我的签名: the pre-made name seal or a new drawing, then back here.
            raise web.HTTPFound(f"/me/signatures?next={next_path}")
        if not await disclosure.is_accepted(request.app[DEPS], user_id):
            # 告知 (指引 Art. 6): shown and accepted once, before the first signing.
            raise web.HTTPFound(f"/contracts/{view.id}/disclosure")
    return render(request, "contracts/sign.html",
                  {"c": view, "pages": page_layout(view, mine_only=True), "step": "start",
                   "signer_id": signer_id})


@routes.get("/contracts/{id}/fill")
async def fill_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await template_sending.fill_form(request.app[DEPS], user_id, _cid(request))
    if form is None:
        raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/sign")
    return render(request, "contracts/fill.html", {"f": form, "form": {}})


@routes.post("/contracts/{id}/fill")
async def fill_submit(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    data = await form_data(request)
    try:
        await template_sending.fill_employee_fields(request.app[DEPS], user_id, _cid(request),
                                                    dict(data), request_meta(request))
    except InvalidInput as exc:
        form = await template_sending.fill_form(request.app[DEPS], user_id, _cid(request))
        if form is None:
            raise
        return render(request, "contracts/fill.html",
                      {"f": form, "form": {k: v[:200] for k, v in data.items()}, "error": exc},
                      status=exc.status)
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/sign")


@routes.get("/contracts/{id}/stamp.png")
async def stamp_image(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    png = await signing.preview_stamp(request.app[DEPS], user_id, _cid(request),
                                      request.query.get("signer") or None)
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, no-store"})


@routes.post("/contracts/{id}/sign/code")
async def sign_code(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    signer_id = form.get("signer_id") or None
    error: DomainError | None = None
    notice = None
    try:
        sent = await signing.request_sign(request.app[DEPS], user_id, _cid(request),
                                          request_meta(request), signer_id)
        notice, signer_id = f"验证码已发送至 {sent.phone_masked}", sent.signer_id
    except signing.SignatureRequired:
        next_path = quote(f"/contracts/{_cid(request)}/sign", safe="")
        raise web.HTTPSeeOther(f"/me/signatures?next={next_path}") from None
    except disclosure.DisclosureRequired:
        raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/disclosure") from None
    except DomainError as exc:
        error = exc
    view = await access.view_contract(request.app[DEPS], user_id, _cid(request))
    return render(request, "contracts/sign.html",
                  {"c": view, "pages": page_layout(view, mine_only=True),
                   "step": "code" if error is None else "start", "error": error,
                   "notice": notice, "signer_id": signer_id},
                  status=200 if error is None else error.status)


@routes.post("/contracts/{id}/sign/confirm")
async def sign_confirm(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    signer_id = form.get("signer_id") or None
    try:
        await signing.confirm_sign(request.app[DEPS], user_id, _cid(request),
                                   form.get("code", ""), request_meta(request), signer_id)
    except InvalidInput as exc:
        view = await access.view_contract(request.app[DEPS], user_id, _cid(request))
        return render(request, "contracts/sign.html",
                      {"c": view, "pages": page_layout(view, mine_only=True), "step": "code",
                       "error": exc, "signer_id": signer_id},
                      status=exc.status)
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/done")


@routes.get("/contracts/{id}/done")
async def done_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    view = await access.view_contract(request.app[DEPS], user_id, _cid(request))
    return render(request, "contracts/done.html", {"c": view, "when": local_time})


@routes.post("/contracts/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    await ending.reject_contract(request.app[DEPS], user_id, _cid(request),
                                 form.get("reason", ""), request_meta(request))
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}?done=rejected")


@routes.post("/contracts/{id}/urge")
async def urge(request: web.Request) -> web.Response:
    """催办 from the contract page (the sending side)."""
    user_id = _login_first(request)
    await form_data(request)
    try:
        await urging.urge_contract(request.app[DEPS], user_id, _cid(request),
                                   request_meta(request))
    except DomainError as err:
        if err.status == 404:
            raise
        return await _view_page(request, err)
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}?done=urged")


@routes.post("/contracts/{id}/revoke")
async def revoke(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    await ending.revoke_contract(request.app[DEPS], user_id, _cid(request),
                                 form.get("reason", ""), request_meta(request))
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}?done=revoked")


# ------------------------------------------------------------------ HR console: send


async def _pdf_upload(request: web.Request, limit: int) -> tuple[dict[str, str], bytes, str]:
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"PDF 文件不能超过 {limit // (1024 * 1024)} MB",
                              code="pdf_too_large")
    post = await read_form(request)
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    upload = uploaded_file(post, "file", limit)
    if upload is None:
        return fields, b"", ""
    return fields, upload[0], upload[1] or "contract.pdf"


async def _new_context(request: web.Request, user_id: str, ent_id: str) -> dict[str, Any]:
    """The upload page: inside the chosen enterprise's console, or a picker when the
    user may send for several enterprises and none is chosen."""
    enterprises = await access.sendable_enterprises(request.app[DEPS], user_id)
    chosen = next((e for e in enterprises if e.id == ent_id), None)
    if chosen is None and len(enterprises) == 1:
        chosen = enterprises[0]
    if chosen is None:
        return {"enterprises": enterprises, "ent_id": None}
    choices = await ledger.choices(request.app[DEPS], user_id, chosen.id)
    return {"enterprises": [chosen], "btypes": choices.business_types,
            **await console_context(request, chosen.id, "new")}


@routes.get("/console/contracts/new")
async def new_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    ctx = await _new_context(request, user_id, request.query.get("ent", ""))
    return render(request, "contracts/console_new.html", ctx)


@routes.post("/console/contracts/new")
async def new_submit(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    deps = request.app[DEPS]
    form: dict[str, str] = {}
    try:
        form, data, filename = await _pdf_upload(request, deps.config.signing.max_upload_bytes)
        contract_id = await send.create_draft(
            deps, user_id, form.get("enterprise_id", ""), title=form.get("title", ""),
            filename=filename, pdf=data, meta=request_meta(request),
            business_type_id=form.get("business_type_id") or None)
    except DomainError as exc:
        ctx = await _new_context(request, user_id, form.get("enterprise_id", ""))
        return render(request, "contracts/console_new.html",
                      {**ctx, "error": exc, "form": {"title": form.get("title", "")[:100],
                                                     "business_type_id": form.get(
                                                         "business_type_id", "")[:32]}},
                      status=exc.status)
    raise web.HTTPSeeOther(f"/console/contracts/{contract_id}/edit")


def parse_boxes(value: str) -> tuple[Box, ...]:
    """'page,x1,y1,x2,y2;...' with 1-based pages, as the placement page writes it."""
    boxes = []
    for part in (value or "").split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            page, x1, y1, x2, y2 = (float(v) for v in part.split(","))
            # NaN, infinities and absurd pages must be a 400, never reach the service.
            if not all(math.isfinite(v) and abs(v) <= 100_000 for v in (page, x1, y1, x2, y2)):
                raise ValueError(part)
            page_index = int(page) - 1
        except (ValueError, OverflowError):
            raise InvalidInput("签署位置格式应为：页码,x1,y1,x2,y2", code="invalid_box",
                               field="boxes") from None
        boxes.append(Box(page_index, (x1, y1, x2, y2)))
    return tuple(boxes)


def parse_signers(form: dict[str, str]) -> list[SignerSpec]:
    specs = []
    for i in range(send.MAX_SIGNERS):
        party = form.get(f"party_{i}")
        if not party:
            continue
        boxes = parse_boxes(form.get(f"boxes_{i}", ""))
        name = form.get(f"name_{i}", "").strip()
        phone = form.get(f"phone_{i}", "").strip()
        if party == "person" and not (name or phone or boxes):
            continue  # an empty optional row
        try:
            order = bounded_int(form.get(f"order_{i}"), "order",
                                default=2 if party == "enterprise" else 1, maximum=100)
        except InvalidInput:
            raise InvalidInput("签署顺序须为数字", code="invalid_order", field="order") from None
        specs.append(SignerSpec(party, boxes, name=name, phone=phone,
                                seal_id=form.get(f"seal_{i}") or None, order=order))
    return specs


async def _edit_context(request: web.Request, user_id: str) -> dict[str, Any]:
    deps = request.app[DEPS]
    view = await access.draft_for_sender(deps, user_id, _cid(request))
    seals = await access.enterprise_seals(deps, user_id, view.enterprise_id)
    return {"c": view, "pages": page_layout(view), "seals": seals,
            "cc_members": await send.cc_choices(deps, user_id, view.enterprise_id),
            "reject_choices": REJECT_BY,
            "sizes": [[round(w, 2), round(h, 2)] for w, h in view.page_sizes],
            **await console_context(request, view.enterprise_id, "new")}


@routes.get("/console/contracts/{id}/edit")
async def edit_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    ctx = await _edit_context(request, user_id)
    if ctx["c"].state != "draft":
        raise web.HTTPSeeOther(f"/contracts/{_cid(request)}")
    return render(request, "contracts/console_edit.html",
                  {**ctx, "form": {}, "cc_checked": set()})


@routes.post("/console/contracts/{id}/send")
async def send_submit(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    deps = request.app[DEPS]
    raw = await read_form(request)
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    cc_members = [v for v in raw.getall("cc_member", []) if isinstance(v, str)]
    try:
        options = send.Options(
            confidential=form.get("confidential") == "1",
            cc=tuple(send.CcSpec(member_id=m) for m in cc_members[:send.MAX_CC + 1])
            + send.parse_cc_lines(form.get("cc_phones", "")),
            page_qr=form.get("page_qr") == "1", cross_seal=form.get("cross_seal") == "1",
            reject_by=form.get("reject_by") or "all")
        deadline = None
        if form.get("deadline_days"):
            text = form["deadline_days"].strip()
            if not re.fullmatch(r"[+-]?[0-9]{1,30}", text):
                raise InvalidInput("截止天数须为数字", code="invalid_deadline")
            days = int(text)
            if abs(days) > 3650:  # the service bounds sane ones; this keeps timedelta sane
                raise InvalidInput("截止时间须在现在之后一年以内", code="invalid_deadline",
                                   field="deadline")
            deadline = deps.clock.now() + timedelta(days=days)
        await send.send_draft(deps, user_id, _cid(request), parse_signers(form),
                              deadline=deadline, meta=request_meta(request), options=options)
    except DomainError as exc:
        ctx = await _edit_context(request, user_id)
        return render(request, "contracts/console_edit.html",
                      {**ctx, "form": form, "cc_checked": set(cc_members), "error": exc},
                      status=exc.status)
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}?done=sent")
