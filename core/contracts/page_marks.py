"""Contract options that mark every page: the verification QR (防抽页) and the cross-page
seal (骑缝章).

防抽页: at sending, each page gets a QR code opening `/verify/c/<token>?p=<page>`; the
token is random (never the contract id or number) and stored on the contract. The QR
codes are drawn before the signature fields are added (send._prepared), so every
signature covers them. `page_check` is what that link shows: the contract, page n of m,
its state and the SHA-256 of the current signed document.

骑缝章: the enterprise's seal is split into one vertical slice per page, drawn at the right
edge of each page inside the enterprise's own signing revision (core.signing.page_marks).
A signature made before it would then see page content change after it, so the enterprise
must seal first: `check_options` refuses any other order at sending.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.context import Deps
from core.contracts import common
from core.contracts.states import CONTRACT_LABELS
from core.cpu import run_cpu
from core.errors import InvalidInput, NotFound
from core.signing.page_marks import add_page_qr
from storage.models import Contract, ContractDocument, Enterprise

if TYPE_CHECKING:
    from core.contracts.send import Options, SignerSpec

TOKEN_BYTES = 16
MAX_TOKEN_CHARS = 32


class PageLinkNotFound(NotFound):
    code = "page_link_not_found"
    message = "核验链接无效，请确认扫描的是本平台合同上的二维码"


def new_token() -> str:
    """An opaque page-link token: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def verify_link(deps: Deps, token: str) -> str:
    """The absolute link of the contract's page verification (without ?p=)."""
    return f"{deps.config.server.base_url.rstrip('/')}/verify/c/{token}"


def check_options(specs: list[SignerSpec], options: Options) -> None:
    """骑缝章 needs an enterprise seal applied before anyone else signs."""
    if not options.cross_seal:
        return
    ent = [s.order for s in specs if s.party == "enterprise"]
    if not ent:
        raise InvalidInput("加盖骑缝章需要企业盖章方", code="cross_seal_no_enterprise",
                           field="cross_seal")
    others = [s.order for s in specs if s.party != "enterprise"]
    if others and min(ent) >= min(others):
        raise InvalidInput("加盖骑缝章时，企业须最先盖章：请把企业的签署顺序排在个人之前",
                           code="cross_seal_order", field="cross_seal")


async def stamp_qr(deps: Deps, pdf: bytes, token: str) -> bytes:
    """The PDF with every page's verification QR (one incremental update)."""
    cfg = deps.config.signing
    return await run_cpu(add_page_qr, bytes(pdf), verify_link(deps, token), cfg.font_path,
                         cfg.font_index, cfg.max_upload_bytes * 2)


@dataclass(frozen=True)
class PageCheck:
    """What a page's QR link shows: enough to compare a paper page with the record."""

    title: str
    number: str
    enterprise_name: str
    page: int | None  # None: the link's page is missing or not a page of this contract
    pages: int
    state: str
    state_label: str
    sha256: str
    signatures: int
    cross_seal: bool


def _page(raw: str | None, pages: int) -> int | None:
    raw = (raw or "").strip()
    # ASCII digits only: str.isdigit() is also true for "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        return None
    page = int(raw)
    return page if 1 <= page <= pages else None


async def page_check(deps: Deps, token: str, page: str | None) -> PageCheck:
    """The contract behind a page QR, by its opaque token; no login needed."""
    if not token or len(token) > MAX_TOKEN_CHARS or not all(
            c.isalnum() or c in "-_" for c in token):
        raise PageLinkNotFound()
    async with deps.db.sessions() as session:
        row = (await session.execute(
            select(Contract, ContractDocument, Enterprise)
            .join(ContractDocument, ContractDocument.contract_id == Contract.id)
            .join(Enterprise, Enterprise.id == Contract.enterprise_id)
            .where(Contract.page_token == token, Contract.page_qr.is_(True))
        )).first()
    if row is None:
        raise PageLinkNotFound()
    contract, doc, ent = row
    state = common.effective_state(contract, deps.clock.now())
    return PageCheck(
        title=contract.title, number=contract.number or "", enterprise_name=ent.name,
        page=_page(page, doc.page_count), pages=doc.page_count, state=state,
        state_label=CONTRACT_LABELS[state], sha256=doc.current_sha256,
        signatures=doc.signature_count, cross_seal=contract.cross_seal,
    )
