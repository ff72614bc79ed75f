"""HR console H5 pages under /console (mobile first, fine on a PC), and /collect links,
one module per area; `forms` holds what they share."""

from __future__ import annotations

from aiohttp import web

from handlers.console import (
    archive,
    batches,
    certification,
    contracts,
    employees,
    enterprise,
    evidence,
    home,
    integration,
    members,
    seals,
    settings,
    templates,
)

AREAS = (home, certification, enterprise, contracts, evidence, members, seals, employees,
         templates, batches, archive,
         settings, integration)


def install(app: web.Application) -> None:
    for area in AREAS:
        app.add_routes(area.routes)
