"""Malformed console send forms come back as a 400 page with a Chinese message, not a 500,
and leave the draft unsent."""

from __future__ import annotations

from tests.handlers.test_contracts_h5 import (  # noqa: F401
    app_flow,
    as_user,
    csrf_of,
    upload_draft,
)


async def _draft(client, deps, flow) -> tuple[str, str]:
    await as_user(client, deps, flow.admin_id)
    _, edit_url = await upload_draft(client, flow, "劳动合同（坏输入）", pages=2)
    edit_html = await (await client.get(edit_url)).text()
    return edit_url.split("/")[3], csrf_of(edit_html)


def _form(flow, csrf: str, **extra: str) -> dict[str, str]:
    return {"_csrf": csrf, "party_0": "enterprise", "seal_0": flow.seal_id, "order_0": "2",
            "boxes_0": "2,72,110,242,250", "party_1": "person", "name_1": "张三",
            "phone_1": flow.employee_phone, "order_1": "1",
            "boxes_1": "2,330,170,500,250", **extra}


async def test_non_finite_box_page_is_a_clear_400(client, deps, app_flow) -> None:  # noqa: F811
    contract_id, csrf = await _draft(client, deps, app_flow)
    for page in ("nan", "inf", "-inf"):
        response = await client.post(
            f"/console/contracts/{contract_id}/send",
            data=_form(app_flow, csrf, boxes_1=f"{page},330,170,500,250"),
            allow_redirects=False)
        assert response.status == 400, page
        assert "签署位置格式应为" in await response.text()
    edit = await client.get(f"/console/contracts/{contract_id}/edit", allow_redirects=False)
    assert edit.status == 200  # still a draft


async def test_huge_deadline_days_is_a_clear_400(client, deps, app_flow) -> None:  # noqa: F811
    contract_id, csrf = await _draft(client, deps, app_flow)
    response = await client.post(
        f"/console/contracts/{contract_id}/send",
        data=_form(app_flow, csrf, deadline_days="99999999999"), allow_redirects=False)
    assert response.status == 400
    assert "截止时间须在现在之后一年以内" in await response.text()
    edit = await client.get(f"/console/contracts/{contract_id}/edit", allow_redirects=False)
    assert edit.status == 200  # still a draft
