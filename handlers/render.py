"""Jinja2 rendering for the H5 pages, with the values every page needs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from core.clock import LOCAL_ZONE
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
