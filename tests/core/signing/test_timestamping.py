"""The HTTP timestamp client the signing workers use."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from core.context import Deps
from core.errors import DomainError
from core.signing import service
from core.signing.pdf import FieldSpec, prepare_document, sign_document
from core.signing.ports import TimeStamperSpec
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from core.signing.verify import verify_pdf
from tests.core.signing.factories import enterprise_signer, person_signer

FIELDS = [FieldSpec("enterprise", 2, ENTERPRISE_BOX), FieldSpec("employee", 2, EMPLOYEE_BOX)]


async def _tsa(aiohttp_client, deps: Deps, requests: list[int], content_type: str) -> str:
    """The built-in TSA behind a handler that counts what reaches it."""

    async def handle(request: web.Request) -> web.Response:
        requests.append(1)
        reply = await service.timestamp_response(deps, await request.read())
        return web.Response(body=reply, content_type=content_type)

    app = web.Application()
    app.router.add_post("/tsa", handle)
    client = await aiohttp_client(app)
    return str(client.make_url("/tsa"))


async def _sign_twice(deps: Deps, tsa: TimeStamperSpec) -> bytes:
    doc = prepare_document(sample_contract_pdf(3), FIELDS)
    validation = await service.validation_material(deps)
    ent = await enterprise_signer(deps, doc)
    first = await asyncio.to_thread(
        sign_document, doc, "enterprise", ent, timestamper=tsa, validation=validation
    )
    emp = await person_signer(deps, first)
    return await asyncio.to_thread(
        sign_document, first, "employee", emp, timestamper=tsa, validation=validation
    )


async def test_a_worker_asks_the_tsa_once_per_signature_after_the_first(
    aiohttp_client, deps: Deps
) -> None:
    requests: list[int] = []
    tsa = HttpTimeStamperSpec(
        await _tsa(aiohttp_client, deps, requests, "application/timestamp-reply")
    )
    signed = await _sign_twice(deps, tsa)
    report = await asyncio.to_thread(verify_pdf, signed, await service.trust_anchors(deps))
    assert report.all_valid and all(s.timestamp_valid for s in report.signatures)
    # One throw-away token to learn the TSA's certificates, then one token per signature.
    assert len(requests) == 3


async def test_a_reply_that_is_not_a_timestamp_is_a_clear_error(
    aiohttp_client, deps: Deps
) -> None:
    tsa = HttpTimeStamperSpec(await _tsa(aiohttp_client, deps, [], "text/html"))
    with pytest.raises(DomainError) as caught:
        await _sign_twice(deps, tsa)
    assert caught.value.code == "tsa_unavailable"


async def test_an_unreachable_tsa_is_a_clear_error(deps: Deps) -> None:
    with pytest.raises(DomainError) as caught:
        await _sign_twice(deps, HttpTimeStamperSpec("http://127.0.0.1:1/tsa", timeout=2))
    assert caught.value.code == "tsa_unavailable"


async def test_without_a_tsa_url_the_built_in_tsa_signs_in_the_worker(deps: Deps) -> None:
    from core.contracts import engine
    from core.signing.timestamping import LocalTimeStamperSpec

    assert deps.timestamper is None and not deps.config.signing.tsa_url
    spec = engine.timestamper(deps)
    # No HTTP round trip through the server: the worker process signs the token itself,
    # with the same TSA certificate that POST /tsa answers with.
    assert isinstance(spec, LocalTimeStamperSpec)
    assert spec.tsa_cert_der == service.engine(deps).tsa().tsa_cert.dump()
    signed = await _sign_twice(deps, spec)
    report = await asyncio.to_thread(verify_pdf, signed, await service.trust_anchors(deps))
    assert report.all_valid and len(report.signatures) == 2
    assert all(s.timestamp_valid and s.timestamp_own for s in report.signatures)


async def test_a_configured_tsa_url_is_asked_over_http(deps: Deps) -> None:
    from dataclasses import replace

    from core.contracts import engine

    deps.config = replace(deps.config, signing=replace(deps.config.signing,
                                                       tsa_url="https://tsa.example/tsr"))
    spec = engine.timestamper(deps)
    assert isinstance(spec, HttpTimeStamperSpec) and spec.url == "https://tsa.example/tsr"
