"""The public verification page and API: a plain verdict, and bounded work for anyone."""

from __future__ import annotations

import time

import pytest
from aiohttp import FormData

from core.signing.samples import sample_contract_pdf
from tests.core.signing import pdfs
from tests.core.signing.test_verify import rewrite_timestamp, two_party
from tests.handlers.test_contracts_h5 import csrf_of


def _form(data: bytes, csrf: str | None = None) -> FormData:
    form = FormData()
    if csrf is not None:
        form.add_field("_csrf", csrf)
    form.add_field("file", data, filename="contract.pdf", content_type="application/pdf")
    return form


async def _page(client, data: bytes) -> tuple[int, str]:
    csrf = csrf_of(await (await client.get("/verify")).text())
    response = await client.post("/verify", data=_form(data, csrf))
    return response.status, await response.text()


@pytest.fixture(scope="module")
def many_signatures() -> bytes:
    # 40 signatures: the kind of file that took the shared pool 40 s with 80.
    return pdfs.self_signed_many(sample_contract_pdf(1), 40)


async def test_page_names_the_form_field_changed_after_signing(client, deps) -> None:
    signed = await two_party(client, deps, pdfs.with_text_field(
        sample_contract_pdf(3), "salary", "10000"))
    status, html = await _page(client, pdfs.with_text_field_filled(signed, "salary", "1"))
    assert status == 200 and "所有签名有效" not in html
    assert 'data-verdict="modified"' in html and "文件在签署后被改动过" in html
    assert "签署后表单内容被修改（salary）" in html


@pytest.mark.parametrize(("edit", "says"), [
    ("strip", "没有时间戳"),
    ("corrupt", "时间戳已损坏或不可信"),
    ("borrow", "时间戳不属于这个签名"),
])
async def test_page_says_what_is_wrong_with_the_timestamp(client, deps, edit, says) -> None:
    status, html = await _page(client, rewrite_timestamp(await two_party(client, deps), edit))
    assert status == 200 and 'data-verdict="timestamp"' in html
    assert "签署时间没有可靠的证明" in html and says in html


async def test_api_reports_problems_and_the_verdict(client, deps) -> None:
    tampered = rewrite_timestamp(await two_party(client, deps), "borrow")
    report = await (await client.post("/api/v1/verify", data=_form(tampered))).json()
    assert report["all_valid"] is False and report["verdict"] == "timestamp"
    assert [s["problems"] for s in report["signatures"]] == [[], ["timestamp_foreign"]]


async def test_too_many_signatures_are_refused_at_once(client, many_signatures) -> None:
    started = time.monotonic()
    response = await client.post("/api/v1/verify", data=_form(many_signatures))
    elapsed = time.monotonic() - started
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "pdf_too_many_revisions"
    assert elapsed < 0.5, elapsed


async def test_page_explains_a_file_too_complex_to_verify(client, many_signatures) -> None:
    status, html = await _page(client, many_signatures)
    assert status == 413 and "修订次数过多" in html


async def test_anonymous_verification_is_rate_limited_per_ip(client, deps) -> None:
    junk = b"%PDF-1.7\n" + b"x" * 200  # refused after it was counted
    statuses = [(await client.post("/api/v1/verify", data=_form(junk))).status
                for _ in range(10)]
    assert 429 in statuses
    allowed = deps.config.verify.per_ip_per_minute
    assert statuses[:allowed] == [400] * allowed and set(statuses[allowed:]) == {429}
    response = await client.post("/api/v1/verify", data=_form(junk))
    assert "Retry-After" in response.headers
    assert (await response.json())["error"]["code"] == "rate_limited"
