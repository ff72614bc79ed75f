"""Jinja2 rendering for the H5 pages, with the values every page needs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from core.clock import LOCAL_ZONE
from core.errors import ProviderUnavailable
from handlers.csrf import csrf_token_for
from handlers.keys import DEPS, TEMPLATES, current_session

H5_DIR = Path(__file__).resolve().parent.parent / "h5"


def local_time(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """`{{ dt|local }}` / `{{ dt|local('%m-%d %H:%M') }}`: a datetime in Beijing time.

    Naive datetimes are taken as UTC (how they are stored); dates are shown as they are;
    None shows as nothing.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(LOCAL_ZONE).strftime(fmt)
    if isinstance(value, date):
        return value.strftime(fmt)
    return str(value)


def build_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(H5_DIR / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    return env


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    env = request.app[TEMPLATES]
    deps = request.app[DEPS]
    values = {
        "request": request,
        "session": current_session(request),
        "csrf_token": csrf_token_for(request),
        "dev_mode": deps.config.server.dev_mode,
        "error": None,
        "form": {},
        "static": lambda filename: str(
            request.app.router["static"].url_for(filename=filename)
        ),
    }
    values.update(context or {})
    html = env.get_template(template).render(**values)
    return web.Response(text=html, content_type="text/html", status=status)


def provider_page(request: web.Request, url: str) -> web.Response:
    """Send the browser to an outside provider's page (the face check) after a form post.

    Not a redirect: the pages' CSP (form-action 'self') applies to a form's redirects, and
    the provider lives on another origin. The page navigates by script (h5/static/
    provider-go.js), with a link as the fallback.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProviderUnavailable("身份核验服务返回的地址无效，请稍后重试")
    response = render(request, "provider_redirect.html", {"provider_url": url})
    response.headers["Cache-Control"] = "no-store"
    return response
