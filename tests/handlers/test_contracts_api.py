"""The contracts and verify JSON API: send, list, code, sign (idempotent), reject, revoke,
download, verify; refusals as 4xx JSON with stable codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from aiohttp import FormData

from core.contracts import access
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import parties
from tests.core.signing.pdfs import encrypted_pdf, hybrid_xref_pdf, with_changed_page_content
from tests.enterprise_factories import user_phone
from tests.factories import get_user, last_code, login_as


@pytest.fixture
async def api_flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def create_form(p, pdf: bytes | None = None, signers: list | None = None) -> FormData:
    form = FormData()
    form.add_field("enterprise_id", p.enterprise_id)
    form.add_field("title", "劳动合同（API）")
    form.add_field("signers", json.dumps(signers if signers is not None else [
        {"party": "person", "name": "张三", "phone": p.employee_phone, "order": 1,
         "boxes": [{"page": 3, "rect": list(EMPLOYEE_BOX)}]},
        {"party": "enterprise", "seal_id": p.seal_id, "order": 2,
         "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]},
    ]))
    form.add_field("file", pdf if pdf is not None else sample_contract_pdf(3),
                   filename="contract.pdf", content_type="application/pdf")
    return form


async def create(client, deps, p, **kw) -> dict:
    response = await client.post("/api/v1/contracts", data=create_form(p, **kw),
                                 headers=await headers(deps, p.admin_id))
    assert response.status == 201, await response.text()
    return await response.json()


async def sign(client, deps, outbox, user_id: str, contract_id: str) -> dict:
    h = await headers(deps, user_id)
    sent = await client.post(f"/api/v1/contracts/{contract_id}/sign/code", json={}, headers=h)
    assert sent.status == 200, await sent.text()
    code = await last_code(deps, outbox, await user_phone(deps, user_id))
    response = await client.post(f"/api/v1/contracts/{contract_id}/sign", json={"code": code},
                                 headers=h)
    assert response.status == 200, await response.text()
    return await response.json()


@pytest.mark.parametrize("storage_backend", ["local", "s3"])
async def test_full_flow_over_the_api(client, deps, outbox, api_flow, config,
                                      storage_backend, request) -> None:
    created = await create(client, deps, api_flow)
    assert created["state"] == "in_progress"
    assert [s["state"] for s in created["signers"]] == ["pending", "waiting"]
    listed = await (await client.get("/api/v1/contracts?tab=to_sign",
                                     headers=await headers(deps, api_flow.employee_id))).json()
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert (await sign(client, deps, outbox, api_flow.employee_id, created["id"]))[
        "state"] == "signed"
    done = await sign(client, deps, outbox, api_flow.sealer_id, created["id"])
    assert done["contract_state"] == "completed"
    pdf = await client.get(f"/api/v1/contracts/{created['id']}/document",
                           headers=await headers(deps, api_flow.employee_id))
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    body = await pdf.read()
    form = FormData()
    form.add_field("file", body, filename="signed.pdf", content_type="application/pdf")
    report = await (await client.post("/api/v1/verify", data=form)).json()
    assert report["all_valid"] and len(report["signatures"]) == 2
    assert report["registered"]["contract_state"] == "completed"
    assert report["signatures"][-1]["covers_whole_document"]
    # With object storage on, nothing of the contract landed on local disk.
    assert deps.files.name == storage_backend
    assert _local_pdfs(config) == (storage_backend == "local")
    # A stored copy changed behind our back is refused, not served.
    key, _, _ = await access.document_for_pages(deps, api_flow.employee_id, created["id"])
    _overwrite(request, config, key, body + b"%tampered")
    refused = await client.get(f"/api/v1/contracts/{created['id']}/document",
                               headers=await headers(deps, api_flow.employee_id))
    assert refused.status == 503
    assert (await refused.json())["error"]["code"] == "file_integrity"


def _local_pdfs(config) -> bool:
    return any(Path(config.storage.file_dir).rglob("*.pdf"))


def _overwrite(request, config, key: str, data: bytes) -> None:
    """Change a stored object directly, the way a faulty disk or a bucket admin might."""
    if config.storage.backend == "local":
        (Path(config.storage.file_dir) / key).write_bytes(data)
    else:
        request.getfixturevalue("s3_server").client().put_object(
            Bucket=config.storage.bucket, Key=f"{config.storage.key_prefix}/{key}", Body=data)


async def test_signing_twice_is_idempotent(client, deps, outbox, api_flow) -> None:
    created = await create(client, deps, api_flow)
    h = await headers(deps, api_flow.employee_id)
    await client.post(f"/api/v1/contracts/{created['id']}/sign/code", json={}, headers=h)
    code = await last_code(deps, outbox, api_flow.employee_phone)
    first = await client.post(f"/api/v1/contracts/{created['id']}/sign", json={"code": code},
                              headers=h)
    second = await client.post(f"/api/v1/contracts/{created['id']}/sign",
                               json={"code": code}, headers=h)
    assert first.status == second.status == 200
    view = await (await client.get(f"/api/v1/contracts/{created['id']}", headers=h)).json()
    assert view["version"] == 2  # prepared (1) + one signature


@pytest.mark.parametrize("pdf, code", [
    (b"%PDF-1.7 but nothing else " * 10, "pdf_invalid"),
    (b"not a pdf", "pdf_invalid"),
    (None, "pdf_encrypted"),
    (None, "pdf_unsupported"),
])
async def test_bad_uploads_are_refused_and_write_nothing(
    client, deps, api_flow, pdf, code
) -> None:
    if code == "pdf_encrypted":
        pdf = encrypted_pdf()
    elif code == "pdf_unsupported":
        pdf = hybrid_xref_pdf()
    response = await client.post("/api/v1/contracts", data=create_form(api_flow, pdf=pdf),
                                 headers=await headers(deps, api_flow.admin_id))
    assert response.status == 400
    assert (await response.json())["error"]["code"] in (code, "pdf_truncated")
    listed = await (await client.get("/api/v1/contracts?tab=initiated",
                                     headers=await headers(deps, api_flow.admin_id))).json()
    assert listed["items"] == []


async def test_a_box_off_the_page_is_refused(client, deps, api_flow) -> None:
    signers = [{"party": "person", "name": "张三", "phone": api_flow.employee_phone,
                "boxes": [{"page": 9, "rect": [10, 10, 100, 100]}]}]
    response = await client.post("/api/v1/contracts",
                                 data=create_form(api_flow, signers=signers),
                                 headers=await headers(deps, api_flow.admin_id))
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "signature_field_invalid"


async def test_only_senders_may_send(client, deps, api_flow) -> None:
    response = await client.post("/api/v1/contracts", data=create_form(api_flow),
                                 headers=await headers(deps, api_flow.employee_id))
    assert response.status == 404  # not a member: the enterprise is not revealed


async def test_reject_and_revoke(client, deps, api_flow) -> None:
    first = await create(client, deps, api_flow)
    second = await create(client, deps, api_flow)
    rejected = await client.post(f"/api/v1/contracts/{first['id']}/reject",
                                 json={"reason": "岗位不符"},
                                 headers=await headers(deps, api_flow.employee_id))
    assert (await rejected.json())["state"] == "rejected"
    not_mine = await client.post(f"/api/v1/contracts/{second['id']}/revoke",
                                 json={"reason": "x"},
                                 headers=await headers(deps, api_flow.employee_id))
    assert not_mine.status == 404
    revoked = await client.post(f"/api/v1/contracts/{second['id']}/revoke",
                                json={"reason": "发错了"},
                                headers=await headers(deps, api_flow.admin_id))
    assert (await revoked.json())["state"] == "revoked"
    again = await client.post(f"/api/v1/contracts/{second['id']}/sign/code", json={},
                              headers=await headers(deps, api_flow.employee_id))
    assert again.status == 409


async def test_sign_code_is_rate_limited(client, deps, api_flow) -> None:
    created = await create(client, deps, api_flow)
    h = await headers(deps, api_flow.employee_id)
    first = await client.post(f"/api/v1/contracts/{created['id']}/sign/code", json={}, headers=h)
    second = await client.post(f"/api/v1/contracts/{created['id']}/sign/code", json={},
                               headers=h)
    assert first.status == 200 and second.status == 429
    assert "Retry-After" in second.headers


async def test_verify_rejects_tampered_copies(client, deps, outbox, api_flow) -> None:
    created = await create(client, deps, api_flow)
    await sign(client, deps, outbox, api_flow.employee_id, created["id"])
    await sign(client, deps, outbox, api_flow.sealer_id, created["id"])
    pdf = await (await client.get(f"/api/v1/contracts/{created['id']}/document",
                                  headers=await headers(deps, api_flow.admin_id))).read()
    flipped = bytearray(pdf)
    at = pdf.index(b"LABOUR CONTRACT")
    flipped[at] ^= 0x01
    appended = with_changed_page_content(pdf)
    for tampered in (bytes(flipped), appended):
        form = FormData()
        form.add_field("file", tampered, filename="t.pdf", content_type="application/pdf")
        report = await (await client.post("/api/v1/verify", data=form)).json()
        assert not report["all_valid"] and report["registered"] is None


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, b"%PDF-1.7\n" + b"x" * 200])
async def test_verify_answers_garbage_with_4xx(client, data) -> None:
    form = FormData()
    form.add_field("file", data, filename="x.pdf", content_type="application/pdf")
    response = await client.post("/api/v1/verify", data=form)
    assert 400 <= response.status < 500
    assert "code" in (await response.json())["error"]


async def test_verify_refuses_a_huge_upload(client, deps) -> None:
    from core.contracts.verification import max_bytes

    form = FormData()
    form.add_field("file", io.BytesIO(b"%PDF-" + b"0" * (max_bytes(deps) + 10)),
                   filename="big.pdf", content_type="application/pdf")
    response = await client.post("/api/v1/verify", data=form)
    assert response.status == 413


async def test_an_unsigned_pdf_is_reported_as_unsigned(client) -> None:
    form = FormData()
    form.add_field("file", sample_contract_pdf(1), filename="x.pdf",
                   content_type="application/pdf")
    report = await (await client.post("/api/v1/verify", data=form)).json()
    assert report["signed"] is False and report["signatures"] == []
