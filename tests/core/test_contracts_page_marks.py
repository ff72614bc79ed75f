"""Sending with 防抽页 (a verification QR on every page) and 骑缝章 (the seal across every
page's right edge): what the PDF carries, what the page link shows, and that the signed
contract stays valid."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select

from core.contracts import access, page_marks, send
from core.contracts.states import ContractState
from core.contracts.verification import verify_upload
from core.crypto import sha256_hex
from core.errors import InvalidInput
from core.signing.page_marks import page_link, qr_modules
from core.signing.samples import sample_contract_pdf
from storage.models import Contract, ContractDocument
from tests.contract_support import (
    META,
    company,
    parties,
    person,
    sign_as,
    start_tsa,
)
from tests.core.signing.test_page_marks import _modules


@pytest.fixture
async def flow(deps, aiohttp_server):
    await start_tsa(deps, aiohttp_server)
    return await parties(deps)


async def _send(deps, p, *, page_qr=True, cross_seal=False, enterprise_first=True,
                pages=3) -> str:
    signers = ([company(p.seal_id, order=1), person(p.employee_phone, order=2)]
               if enterprise_first else
               [person(p.employee_phone, order=1), company(p.seal_id, order=2)])
    return await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="劳动合同（页码核验）",
        filename="劳动合同.pdf", pdf=sample_contract_pdf(pages), signers=signers,
        meta=META, options=send.Options(page_qr=page_qr, cross_seal=cross_seal))


async def _contract(deps, contract_id: str) -> tuple[Contract, ContractDocument]:
    async with deps.db.sessions() as session:
        contract = await session.get(Contract, contract_id)
        doc = (await session.execute(select(ContractDocument).where(
            ContractDocument.contract_id == contract_id))).scalar_one()
    assert contract is not None
    return contract, doc


def _pages(pdf: bytes) -> list:  # type: ignore[type-arg]
    reader = PdfFileReader(io.BytesIO(pdf))
    return [k.get_object() for k in reader.root["/Pages"]["/Kids"]]


async def test_every_page_links_to_its_own_page_check_by_an_opaque_token(deps, flow) -> None:
    contract_id = await _send(deps, flow)
    contract, doc = await _contract(deps, contract_id)
    token = contract.page_token
    assert contract.page_qr and token and len(token) >= 22
    assert token not in (contract.id, contract.number)
    pdf = (await access.download(deps, flow.admin_id, contract_id)).data
    base = page_marks.verify_link(deps, token)
    assert base.startswith(deps.config.server.base_url.rstrip("/") + "/verify/c/")
    pages = _pages(pdf)
    assert len(pages) == doc.page_count == 3
    for n, page in enumerate(pages, start=1):
        qr = page["/Resources"]["/XObject"]["/LsPageQr"]
        assert _modules(qr) == qr_modules(page_link(base, n))


async def test_tokens_differ_per_contract(deps, flow) -> None:
    first = (await _contract(deps, await _send(deps, flow)))[0].page_token
    second = (await _contract(deps, await _send(deps, flow)))[0].page_token
    assert first != second


async def test_without_the_option_no_page_carries_a_qr(deps, flow) -> None:
    contract_id = await _send(deps, flow, page_qr=False)
    contract, _ = await _contract(deps, contract_id)
    assert not contract.page_qr and contract.page_token is None
    pdf = (await access.download(deps, flow.admin_id, contract_id)).data
    assert all("/XObject" not in p["/Resources"] or "/LsPageQr" not in
               p["/Resources"]["/XObject"] for p in _pages(pdf))


async def test_page_check_shows_page_n_of_m_and_the_current_hash(deps, flow) -> None:
    contract_id = await _send(deps, flow)
    contract, doc = await _contract(deps, contract_id)
    check = await page_marks.page_check(deps, contract.page_token or "", "2")
    assert (check.page, check.pages) == (2, 3)
    assert check.title == "劳动合同（页码核验）" and check.number == contract.number
    assert check.sha256 == doc.current_sha256 and check.state == ContractState.IN_PROGRESS
    assert (await page_marks.page_check(deps, contract.page_token or "", "4")).page is None
    assert (await page_marks.page_check(deps, contract.page_token or "", "x")).page is None


@pytest.mark.parametrize("token", ["", "nope", "a" * 33, "../../etc", "有"])
async def test_unknown_page_tokens_are_not_found(deps, flow, token: str) -> None:
    await _send(deps, flow)
    with pytest.raises(page_marks.PageLinkNotFound):
        await page_marks.page_check(deps, token, "1")


async def test_cross_seal_needs_the_enterprise_to_seal_first(deps, flow) -> None:
    async with deps.db.sessions() as session:
        before = (await session.execute(select(func.count(Contract.id)))).scalar_one()
    with pytest.raises(InvalidInput) as err:
        await _send(deps, flow, cross_seal=True, enterprise_first=False)
    assert err.value.code == "cross_seal_order"
    async with deps.db.sessions() as session:
        assert (await session.execute(select(func.count(Contract.id)))).scalar_one() == before


async def test_sealed_and_signed_contract_with_both_marks_is_valid(deps, outbox, flow) -> None:
    contract_id = await _send(deps, flow, cross_seal=True)
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    outcome = await sign_as(deps, outbox, flow.employee_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED
    pdf = (await access.download(deps, flow.employee_id, contract_id)).data
    for page in _pages(pdf):
        xobjects = page["/Resources"]["/XObject"]
        assert "/LsPageQr" in xobjects and "/LsSealSlice" in xobjects
    result = await verify_upload(deps, pdf)
    assert result.report.verdict == "valid" and result.report.all_valid
    assert [s.modification for s in result.report.signatures] == ["signatures", "none"]
    contract, doc = await _contract(deps, contract_id)
    check = await page_marks.page_check(deps, contract.page_token or "", "3")
    assert check.sha256 == doc.current_sha256 == sha256_hex(pdf)
    assert check.state == ContractState.COMPLETED and check.cross_seal


async def test_without_cross_seal_the_enterprise_draws_no_slices(deps, outbox, flow) -> None:
    contract_id = await _send(deps, flow)
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    pdf = (await access.download(deps, flow.admin_id, contract_id)).data
    assert all("/LsSealSlice" not in p["/Resources"]["/XObject"] for p in _pages(pdf))
