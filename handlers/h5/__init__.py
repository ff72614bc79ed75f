"""The employee's H5 pages (mobile first, inside WeChat or any browser): accounts and
login, the real-name check, signatures, contracts, verification, onboarding, and the PC
login by QR code."""

from __future__ import annotations

from aiohttp import web

from handlers.h5 import (
    accounts,
    contracts,
    evidence,
    identity,
    onboarding,
    qr_login,
    signatures,
    tasks,
    verify,
)

# In the order they were always mounted (a route matches first come, first served).
AREAS = (identity, accounts, qr_login, signatures, contracts, evidence, verify, onboarding,
         tasks)


def install(app: web.Application) -> None:
    for area in AREAS:
        app.add_routes(area.routes)
