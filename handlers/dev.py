"""Dev-only pages and endpoints, mounted only when [server] dev_mode is on."""

from __future__ import annotations

import re

from aiohttp import web

from core.devtools import SmsArrivals, captcha_answer, sms_inbox, wait_for_sms
from handlers.keys import DEPS
from handlers.render import render

routes = web.RouteTableDef()

# A link in a message, tappable as in a phone's SMS app, which opens it in the browser.
LINK_RE = re.compile(r"https?://[^\s，。]+")


def text_with_links(text: str) -> list[tuple[str, bool]]:
    """The message cut into (text, is_link) pieces, so the inbox can show its links as links."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in LINK_RE.finditer(text):
        if match.start() > at:
            pieces.append((text[at:match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


@routes.get("/dev/sms")
async def sms_inbox_page(request: web.Request) -> web.Response:
    phone = request.query.get("phone") or None
    messages = await sms_inbox(request.app[DEPS], phone)
    return render(request, "dev/sms.html", {
        "messages": messages, "phone": phone or "",
        "pieces": {m.id: text_with_links(m.text) for m in messages}})


@routes.get("/dev/api/sms")
async def sms_inbox_json(request: web.Request) -> web.Response:
    """The inbox, newest first. With `phone` and `wait` (seconds, at most 10): only the
    phone's newest message (of `template`, e.g. `code`, if given), answered as soon as
    there is one whose id is not `after` (empty when none came in time), so a script
    reads a fresh code without polling."""
    deps = request.app[DEPS]
    phone = (request.query.get("phone") or "")[:20] or None
    wait = request.query.get("wait")
    if phone and wait is not None:
        try:
            seconds = float(wait)
        except ValueError:
            raise web.HTTPBadRequest(text="wait: seconds") from None
        arrivals = getattr(deps.sms, "arrivals", None)
        messages = await wait_for_sms(
            deps, arrivals if isinstance(arrivals, SmsArrivals) else None, phone,
            (request.query.get("after") or "")[:40] or None,
            seconds if seconds == seconds else 0.0,  # NaN: no wait
            (request.query.get("template") or "")[:40] or None)
    else:
        messages = await sms_inbox(deps, phone)
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
