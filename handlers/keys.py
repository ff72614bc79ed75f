"""AppKeys shared by handler modules (typed access to what the composition root built)."""

from __future__ import annotations

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from core.context import Deps
from core.integration.api_keys import ApiKeyGrant
from core.outbox import OutboxWorker
from core.sessions import CurrentSession

DEPS = web.AppKey("deps", Deps)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
OUTBOX = web.AppKey("outbox", OutboxWorker)

# Per-request values (set by middlewares).
# None: no session (anonymous), set so later code can tell "checked" from "not yet".
SESSION_KEY: web.RequestKey[CurrentSession | None] = web.RequestKey("ls_session")
CSRF_COOKIE_KEY = web.RequestKey("ls_csrf_seed", str)
# Set when the request authenticated with an API key (not a person's session).
API_KEY_KEY: web.RequestKey[ApiKeyGrant] = web.RequestKey("ls_api_key")
# The submitted form, read once (handlers.util.read_form) by the CSRF check or a handler.
FORM_KEY = web.RequestKey("ls_form", MultiDictProxy)


def current_session(request: web.Request) -> CurrentSession | None:
    return request.get(SESSION_KEY)
