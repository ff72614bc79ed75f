"""My-signatures pages through the real app: login guard, QR pad, CSRF, status polling."""

from __future__ import annotations

import re

from aiohttp import FormData
from yarl import URL

from core.context import RequestMeta
from core.sessions import start_session
from storage.models import User
from tests.core.test_signatures import drawn_png

CSRF_RE = re.compile(r'(?:name="_csrf" value|data-csrf)="([^"]+)"')


async def logged_in(client, deps, phone: str = "13900000009") -> str:
    async with deps.db.transaction() as tx:
        user = User(phone=phone, created_at=deps.clock.now())
        tx.session.add(user)
        await tx.session.flush()
        issued = await start_session(tx, deps, user, "password", RequestMeta())
    client.session.cookie_jar.update_cookies({"ls_session": issued.token})
    return user.id


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def pad_form(csrf: str | None, png: bytes) -> FormData:
    form = FormData()
    if csrf is not None:
        form.add_field("_csrf", csrf)
    form.add_field("signature", png, filename="signature.png", content_type="image/png")
    return form


async def test_signatures_page_asks_to_log_in_first(client) -> None:
    response = await client.get("/me/signatures", allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert (location.path, location.query["next"]) == ("/login", "/me/signatures")


async def test_pc_shows_a_qr_and_the_phone_pad_fills_it(client, deps) -> None:
    await logged_in(client, deps)
    page = await (await client.get("/me/signatures")).text()
    handover_page = await client.post("/me/signatures/handover", data={"_csrf": csrf_of(page)})
    html = await handover_page.text()
    assert handover_page.status == 200 and "<svg" in html
    status_url = re.search(r'data-status-url="([^"]+)"', html).group(1)
    pad_url = re.search(r"/pad/[A-Za-z0-9_-]+", deps.config.server.base_url + html)
    assert (await (await client.get(status_url)).json())["status"] == "waiting"

    # The phone: a different browser with no session, only the QR's link.
    phone_cookies = client.session.cookie_jar
    phone_cookies.clear()
    pad = await client.get(pad_url.group(0))
    pad_html = await pad.text()
    assert pad.status == 200 and 'id="pad-canvas"' in pad_html
    submit = await client.post(pad_url.group(0), data=pad_form(csrf_of(pad_html), drawn_png()))
    assert submit.status == 200 and (await submit.json())["ok"] is True

    await logged_in(client, deps, "13900000010")  # a stranger can't poll the owner's status
    assert (await client.get(status_url)).status == 404


async def test_pad_upload_without_csrf_is_refused(client, deps) -> None:
    await logged_in(client, deps)
    await client.get("/me/signatures/new")  # receives the CSRF seed cookie
    response = await client.post(
        "/me/signatures/new", data=pad_form(None, drawn_png()),
        headers={"Accept": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "csrf_failed"


async def test_direct_pad_stores_a_signature_shown_on_the_list(client, deps) -> None:
    await logged_in(client, deps)
    html = await (await client.get("/me/signatures/new")).text()
    response = await client.post("/me/signatures/new", data=pad_form(csrf_of(html), drawn_png()))
    signature_id = (await response.json())["id"]
    listing = await (await client.get("/me/signatures")).text()
    assert f"/me/signatures/{signature_id}.png" in listing
    image = await client.get(f"/me/signatures/{signature_id}.png")
    assert image.content_type == "image/png"


async def test_not_a_png_gets_a_clear_message(client, deps) -> None:
    await logged_in(client, deps)
    html = await (await client.get("/me/signatures/new")).text()
    response = await client.post(
        "/me/signatures/new", data=pad_form(csrf_of(html), b"not an image"),
        headers={"Accept": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "signature_invalid"


async def test_expired_qr_link_shows_a_chinese_page(client, deps, clock) -> None:
    await logged_in(client, deps)
    page = await (await client.get("/me/signatures")).text()
    html = await (await client.post("/me/signatures/handover",
                                    data={"_csrf": csrf_of(page)})).text()
    pad_path = re.search(r"/pad/[A-Za-z0-9_-]+", html).group(0)
    clock.advance(minutes=6)
    response = await client.get(pad_path)
    assert response.status == 409
    assert "二维码已过期" in await response.text()
