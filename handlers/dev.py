"""Dev-only pages and endpoints, mounted only when [server] dev_mode is on."""

from __future__ import annotations

from aiohttp import web

from core.devtools import captcha_answer, sms_inbox
from handlers.keys import DEPS
from handlers.render import render

routes = web.RouteTableDef()


@routes.get("/dev/sms")
async def sms_inbox_page(request: web.Request) -> web.Response:
    phone = request.query.get("phone") or None
    messages = await sms_inbox(request.app[DEPS], phone)
    return render(request, "dev/sms.html", {"messages": messages, "phone": phone or ""})


@routes.get("/dev/api/sms")
async def sms_inbox_json(request: web.Request) -> web.Response:
    phone = request.query.get("phone") or None
    messages = await sms_inbox(request.app[DEPS], phone)
    return web.json_response(
        {
            "messages": [
                {
                    "id": m.id, "phone": m.phone, "template": m.template, "text": m.text,
                    "code": m.code, "sent_at": m.sent_at.isoformat(),
                }
                for m in messages
            ]
        }
    )


@routes.get("/dev/api/captcha/{id}")
async def captcha_json(request: web.Request) -> web.Response:
    answer = await captcha_answer(request.app[DEPS], request.match_info["id"])
    if answer is None:
        raise web.HTTPNotFound()
    return web.json_response({"answer": answer})
