"""The page lines for snapping, through the real app: the console's lines.json next to the
page images and the API's /lines, with the template permissions and tenant isolation."""

from __future__ import annotations

from core.templates import service
from tests.contract_support import META, parties
from tests.enterprise_factories import joined_member, session_token
from tests.factories import get_user, login_as
from tests.template_support import published_template


async def _console_login(client, deps, user_id: str) -> None:
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, user_id)})


async def _api_headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def _blank_under(found: dict, field: dict) -> dict:
    place = field["placements"][0]
    rules = [ln for ln in found["pages"][place["page"]] if ln["kind"] == "rule"]
    return min(rules, key=lambda ln: abs(ln["y"] - (place["y"] + place["h"])))


async def test_the_console_serves_the_draft_lines_and_refuses_other_enterprises(
        client, deps) -> None:
    p, other = await parties(deps), await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    view = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    await _console_login(client, deps, p.admin_id)
    url = f"/console/e/{p.enterprise_id}/templates/{tid}/lines.json"
    resp = await client.get(url)
    assert resp.status == 200, await resp.text()
    found = await resp.json()
    assert found["template_id"] == tid and found["version"] == 0
    assert found["sha256"] == view.sha256 and not found["truncated"]
    assert len(found["pages"]) == view.page_count
    name = next(f.as_json() for f in view.fields if f.key == "emp_name")
    assert abs(_blank_under(found, name)["y"] - (name["placements"][0]["y"]
                                                 + name["placements"][0]["h"])) < 0.01
    # Cached by the file's hash: the second answer is the same.
    assert await (await client.get(url)).json() == found

    await _console_login(client, deps, other.admin_id)
    for path in (url, f"/console/e/{other.enterprise_id}/templates/{tid}/lines.json"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 404, path


async def test_the_api_serves_a_versions_lines_with_the_read_permission(client, deps) -> None:
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates/{tid}/lines"
    h = await _api_headers(deps, p.admin_id)
    r = await client.get(base, headers=h)
    assert r.status == 200, await r.text()
    draft = await r.json()
    r = await client.get(f"{base}?version=1", headers=h)
    assert r.status == 200, await r.text()
    v1 = await r.json()
    assert v1["version"] == 1 and v1["pages"] == draft["pages"]
    assert {ln["kind"] for page in v1["pages"] for ln in page} == {"rule", "text"}

    assert (await client.get(f"{base}?version=2", headers=h)).status == 404
    assert (await client.get(f"{base}?version=abc", headers=h)).status == 400
    assert (await client.get(base)).status == 401

    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    assert (await client.get(base, headers=await _api_headers(deps, staff))).status == 403
    other = await parties(deps)
    outsider = await joined_member(deps, other.enterprise_id, other.admin_id, "hr")
    outsider_h = await _api_headers(deps, outsider)
    assert (await client.get(base, headers=outsider_h)).status == 404
    r = await client.get(f"/api/v1/enterprises/{other.enterprise_id}/templates/{tid}/lines",
                         headers=outsider_h)
    assert r.status == 404 and (await r.json())["error"]["code"] == "template_not_found"
