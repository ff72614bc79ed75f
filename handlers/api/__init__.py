"""The JSON API under /api/v1: one module per area, each with its ApiRoutes."""

from __future__ import annotations

from aiohttp import web

from handlers.api.registry import PREFIX, ApiRoutes, openapi_document

VERSION = "1.0.0"


def api_groups() -> list[ApiRoutes]:
    """Every API area. A new module adds its `api` here."""
    from handlers.api import (
        archive,
        auth,
        batches,
        certification,
        contracts,
        enterprise,
        evidence,
        identity,
        integration,
        meta,
        onboarding,
        organisation,
        seals,
        signatures,
        staff,
        templates,
        verify,
    )

    return [meta.api, auth.api, identity.api, contracts.api, evidence.api, verify.api,
            enterprise.api, certification.api, onboarding.api, integration.api, templates.api,
            batches.api,
            # After onboarding: its /employees/qr is matched before /employees/{employee_id}.
            organisation.api, seals.api, staff.api, signatures.api, archive.api]


def install_api(app: web.Application) -> None:
    groups = api_groups()
    for group in groups:
        group.install(app)
    document = openapi_document(groups, version=VERSION)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get(PREFIX + "/openapi.json", openapi_json)
