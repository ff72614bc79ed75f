"""Every page an HR user needs is reachable from the home page `/` by following links only:
a crawler through the real app (no typed URLs), logged in as the main admin and as an HR
member."""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from core.contracts import send
from core.enterprise import members as M
from core.enterprise import roles
from core.signing.samples import sample_contract_pdf
from storage.models import Seal
from tests.enterprise_factories import META, certified_enterprise, make_user, user_phone
from tests.factories import get_user, login_as

HREF = re.compile(r'<a\s[^>]*href="([^"]+)"', re.I)
# Not pages: files, the dev tools, and links that leave the app.
SKIP = re.compile(r"(\.(png|pdf|xlsx|img)$)|^/dev/|^/operator|/letter\.pdf$|/download$")
MAX_PAGES = 400


async def crawl(client) -> dict[str, int]:
    """Breadth-first from `/`: {path (with query): status} of every page linked."""
    seen: dict[str, int] = {}
    queue = deque(["/"])
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        response = await client.get(path)
        seen[path] = response.status
        if response.status != 200 or "text/html" not in response.headers.get(
                "Content-Type", ""):
            continue
        html = await response.text()
        for href in HREF.findall(html):
            url = urlsplit(urljoin(path, unescape(href)))
            if url.scheme or url.netloc:
                continue
            target = url.path + (f"?{url.query}" if url.query else "")
            if not SKIP.search(url.path) and target not in seen:
                queue.append(target)
    return seen


@pytest.fixture
async def enterprise(deps):
    ent, admin = await certified_enterprise(deps, name="杭州示例劳务科技有限公司")
    # A draft so the contract list has something to open.
    await send.create_draft(deps, admin, ent, title="劳动合同（草稿）", filename="a.pdf",
                            pdf=sample_contract_pdf(2), meta=META)
    return ent, admin


async def _as(client, deps, user_id: str) -> None:
    user = await get_user(deps, user_id)
    assert user is not None
    logged = await login_as(deps, user)
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"ls_session": logged.session.token})


def _paths(seen: dict[str, int]) -> set[str]:
    return {p.split("?")[0] for p, status in seen.items() if status == 200}


async def test_every_console_page_is_reachable_from_home_as_main_admin(
    client, deps, enterprise
) -> None:
    ent, admin = enterprise
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(
            select(Seal.id).where(Seal.enterprise_id == ent, Seal.kind == "contract")
        )).scalar_one()
    await _as(client, deps, admin)
    seen = await crawl(client)
    assert not [p for p, s in seen.items() if s >= 500], seen
    base = f"/console/e/{ent}"
    needed = {
        "/console", base, f"{base}/contracts", "/console/contracts/new",
        f"{base}/employees", f"{base}/employees/import", f"{base}/employees/qr",
        f"{base}/departments", f"{base}/members", f"{base}/roles", f"{base}/joins",
        f"{base}/seals", f"{base}/seals/{seal_id}", f"{base}/admin", f"{base}/audit",
        f"{base}/settings", "/me/signatures", "/contracts", "/me", f"{base}/archive",
    }
    assert needed <= _paths(seen), sorted(needed - _paths(seen))
    # The draft in the enterprise's list opens on its placement page.
    assert any(p.startswith("/console/contracts/") and p.endswith("/edit")
               for p in _paths(seen))
    assert f"/console/contracts/new?ent={ent}" in seen


async def test_hr_member_reaches_contracts_and_send_from_home(client, deps, enterprise) -> None:
    ent, admin = enterprise
    hr = await make_user(deps, name="赵六")
    async with deps.db.transaction() as tx:
        hr_role = await roles.builtin_role_id(tx, ent, "hr")
    await M.add_member(deps, admin, ent, phone=await user_phone(deps, hr), name="赵六",
                       role_ids=[hr_role], meta=META)
    await _as(client, deps, hr)
    seen = await crawl(client)
    assert not [p for p, s in seen.items() if s >= 500], seen
    base = f"/console/e/{ent}"
    needed = {base, f"{base}/contracts", "/console/contracts/new", f"{base}/employees",
              f"{base}/departments", f"{base}/members", f"{base}/seals", "/me/signatures"}
    assert needed <= _paths(seen), sorted(needed - _paths(seen))
    # Pages HR may not open are not offered (and so never reached).
    assert f"{base}/audit" not in _paths(seen) and f"{base}/joins" not in _paths(seen)
