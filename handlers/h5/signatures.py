"""My signatures: list, draw on the phone, or hand the pad to a phone by QR code."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from core import signatures
from core.errors import InvalidInput, PayloadTooLarge
from core.qr import qr_svg
from core.signing.seals import MAX_SIGNATURE_BYTES as MAX_UPLOAD_BYTES
from core.validators import safe_next
from handlers.keys import DEPS, current_session
from handlers.render import render
from handlers.util import form_data, read_form, request_meta, uploaded_file

routes = web.RouteTableDef()


def _login_first(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
    return session.user_id


async def _uploaded_png(request: web.Request) -> bytes:
    if request.content_length and request.content_length > MAX_UPLOAD_BYTES + 4096:
        raise PayloadTooLarge("签名图片过大")
    data = await read_form(request)
    upload = uploaded_file(data, "signature", MAX_UPLOAD_BYTES)
    if upload is None:
        raise InvalidInput("没有收到签名图片", code="signature_missing")
    return upload[0]


@routes.get("/me/signatures")
async def list_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    items = await signatures.list_signatures(request.app[DEPS], user_id)
    notice = {"added": "签名已保存", "default": "已设为默认签名"}.get(
        request.query.get("done", "added" if request.query.get("added") else ""))
    # ?next=: sent here to choose a signature before signing; back there once chosen.
    next_path = safe_next(request.query.get("next"), "")
    return render(request, "signatures/list.html",
                  {"items": items, "notice": notice, "next": next_path})


@routes.get("/me/signatures/{id}.png")
async def signature_image(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    png = await signatures.signature_png(request.app[DEPS], user_id, request.match_info["id"])
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@routes.post("/me/signatures/handover")
async def handover(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    started = await signatures.start_handover(request.app[DEPS], user_id, request_meta(request))
    return render(
        request, "signatures/handover.html",
        {"handover": started, "qr": qr_svg(started.pad_url)},
    )


@routes.get("/me/signatures/handover/{id}/status")
async def handover_status(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    status = await signatures.handover_status(
        request.app[DEPS], user_id, request.match_info["id"]
    )
    return web.json_response({"status": status})


@routes.get("/me/signatures/new")
async def pad_direct(request: web.Request) -> web.Response:
    _login_first(request)
    return render(
        request, "signatures/pad.html",
        {
            "action": "/me/signatures/new",
            "next": safe_next(request.query.get("next"), "/me/signatures?added=1"),
        },
    )


@routes.post("/me/signatures/new")
async def pad_direct_submit(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    png = await _uploaded_png(request)
    signature_id = await signatures.add_signature(
        request.app[DEPS], user_id, png, request_meta(request)
    )
    return web.json_response({"ok": True, "id": signature_id})


@routes.get("/pad/{token}")
async def pad_by_qr(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    await signatures.check_pad_token(request.app[DEPS], token)
    return render(request, "signatures/pad.html", {"action": f"/pad/{token}", "next": ""})


@routes.post("/pad/{token}")
async def pad_by_qr_submit(request: web.Request) -> web.Response:
    png = await _uploaded_png(request)
    signature_id = await signatures.submit_from_pad(
        request.app[DEPS], request.match_info["token"], png, request_meta(request)
    )
    return web.json_response({"ok": True, "id": signature_id})


@routes.post("/me/signatures/{id}/default")
async def make_default(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    data = await form_data(request)
    await signatures.set_default(
        request.app[DEPS], user_id, request.match_info["id"], request_meta(request)
    )
    raise web.HTTPSeeOther(safe_next(data.get("next"), "/me/signatures?done=default"))


@routes.post("/me/signatures/{id}/delete")
async def delete(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    await signatures.delete_signature(
        request.app[DEPS], user_id, request.match_info["id"], request_meta(request)
    )
    raise web.HTTPSeeOther("/me/signatures")
