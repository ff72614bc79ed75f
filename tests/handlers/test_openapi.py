"""The OpenAPI document and the mounted routes describe the same API."""

import re

from handlers.api.registry import PREFIX


async def test_every_api_route_is_documented_and_every_documented_route_exists(client) -> None:
    document = await (await client.get(f"{PREFIX}/openapi.json")).json()
    documented = {
        (method.upper(), path)
        for path, ops in document["paths"].items()
        for method in ops
    }
    mounted = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(PREFIX)
        and route.method != "HEAD"
        and route.resource.canonical != f"{PREFIX}/openapi.json"
    }
    assert mounted, "no API routes mounted"
    assert documented == mounted


async def test_document_is_openapi_3(client) -> None:
    document = await (await client.get(f"{PREFIX}/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert "Error" in document["components"]["schemas"]


async def test_every_authenticated_operation_answers_401_to_an_anonymous_caller(client) -> None:
    document = await (await client.get(f"{PREFIX}/openapi.json")).json()
    checked, wrong = 0, []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            if not op.get("security"):
                continue
            url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
            resp = await client.request(method.upper(), url, json={})
            body = await resp.json() if resp.content_type == "application/json" else {}
            checked += 1
            if resp.status != 401 or body.get("error", {}).get("code") != "unauthenticated":
                wrong.append((method.upper(), path, resp.status, body))
    assert checked > 20, "the document lists too few authenticated operations"
    assert wrong == []
