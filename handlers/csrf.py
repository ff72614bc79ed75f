"""CSRF protection for cookie-carrying requests: a signed double-submit token.

Every browser gets a random seed cookie; forms carry HMAC(secret, seed). A cross-site
page can make the browser send the cookie but cannot read it to compute the token.
Bearer-token API clients send no cookies and need no token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from handlers.keys import CSRF_COOKIE_KEY, DEPS

CSRF_COOKIE = "ls_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"


def _sign(secret: str, seed: str) -> str:
    return hmac.new(secret.encode(), seed.encode(), hashlib.sha256).hexdigest()


def csrf_seed(request: web.Request) -> str:
    seed = request.get(CSRF_COOKIE_KEY) or request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
    request[CSRF_COOKIE_KEY] = seed
    return seed


def csrf_token_for(request: web.Request) -> str:
    return _sign(request.app[DEPS].config.server.secret_key, csrf_seed(request))


def csrf_valid(request: web.Request, supplied: str | None) -> bool:
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not supplied:
        return False
    expected = _sign(request.app[DEPS].config.server.secret_key, seed)
    return hmac.compare_digest(expected, supplied)
