"""The JSON API reaches what the console does: departments, roles, business types, member
edit and removal with hand-over, the audit log, the dashboard, seals, employees and my
signatures. Each operation once as someone allowed and once as a member (or person)
without the permission; the permission lives in core, so both answers come from there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData

from core import signatures
from core.enterprise import departments as DP
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import roles as R
from core.enterprise import seals as S
from tests.core.test_signatures import drawn_png
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    joined_member,
    make_user,
    new_phone,
    png_bytes,
    session_token,
    unique_id_number,
    user_phone,
)
from tests.factories import last_code

API = "/api/v1"


@dataclass
class World:
    ent: str
    admin: str
    admin_h: dict[str, str]
    hr: str  # builtin hr: employees and departments, no members/roles/seals/audit management
    hr_h: dict[str, str]
    staff: str  # builtin employee: enterprise.view only
    staff_h: dict[str, str]
    legal_h: dict[str, str]  # audit.view, no employee management
    outsider_h: dict[str, str]

    def url(self, tail: str) -> str:
        return f"{API}/enterprises/{self.ent}{tail}"


async def _bearer(deps, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await session_token(deps, user_id)}"}


@pytest.fixture
async def w(deps) -> World:
    ent, admin = await certified_enterprise(deps)
    hr = await joined_member(deps, ent, admin, "hr")
    staff = await joined_member(deps, ent, admin, "employee")
    legal = await joined_member(deps, ent, admin, "legal")
    outsider = await make_user(deps)
    return World(ent, admin, await _bearer(deps, admin), hr, await _bearer(deps, hr), staff,
                 await _bearer(deps, staff), await _bearer(deps, legal),
                 await _bearer(deps, outsider))


async def _ok(resp, status: int = 200) -> Any:
    body = await resp.json() if resp.content_type == "application/json" else None
    assert resp.status == status, body
    return body


async def _refused(resp, status: int = 403, code: str = "permission_denied") -> None:
    body = await resp.json()
    assert resp.status == status and body["error"]["code"] == code, body


async def _member_id(deps, w: World, user_id: str) -> str:
    members = await M.list_members(deps, w.admin, w.ent)
    return next(m.id for m in members if m.user_id == user_id)


def _image_form(field: str, data: bytes, **fields: str) -> FormData:
    form = FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field(field, data, filename="x.png", content_type="image/png")
    return form


# ---------------------------------------------------------------- dashboard


async def test_dashboard(client, deps, w) -> None:
    await E.onboard_employee(deps, w.admin, w.ent, {"name": "员工甲", "phone": new_phone()},
                             META, send_link=True)
    body = await _ok(await client.get(w.url("/dashboard"), headers=w.staff_h))
    assert body["members"] == 4 and body["collecting"] == 1 and len(body["months"]) == 6
    assert body["can_review"] is False and body["to_seal"] == []
    await _refused(await client.get(w.url("/dashboard"), headers=w.outsider_h), 404,
                   "enterprise_not_found")


# ---------------------------------------------------------------- departments


async def test_list_departments(client, deps, w) -> None:
    top = await DP.add_department(deps, w.admin, w.ent, "研发部", None, META)
    await DP.add_department(deps, w.admin, w.ent, "后端组", top.id, META)
    body = await _ok(await client.get(w.url("/departments"), headers=w.hr_h))
    assert [(d["path"], d["depth"]) for d in body["departments"]] == [
        ("研发部", 0), ("研发部/后端组", 1)]
    await _refused(await client.get(w.url("/departments"), headers=w.staff_h))


async def test_add_department(client, deps, w) -> None:
    body = await _ok(await client.post(w.url("/departments"), headers=w.hr_h,
                                       json={"name": "销售部"}), 201)
    child = await _ok(await client.post(w.url("/departments"), headers=w.hr_h,
                                        json={"name": "华东区", "parent_id": body["id"]}), 201)
    assert child["parent_id"] == body["id"]
    await _refused(await client.post(w.url("/departments"), headers=w.hr_h,
                                     json={"name": "销售部"}), 409, "department_exists")
    await _refused(await client.post(w.url("/departments"), headers=w.legal_h,
                                     json={"name": "法务部"}))
    # JSON may spell a lone surrogate or a NUL; no column can store either.
    for bad in ("\ud800", "部\x00门"):
        await _refused(await client.post(w.url("/departments"), headers=w.hr_h,
                                         json={"name": "法务部", "parent_id": bad}), 400,
                       "invalid_text")
    assert [d.name for d in await DP.department_tree(deps, w.admin, w.ent)] == [
        "销售部", "华东区"]


async def test_rename_department(client, deps, w) -> None:
    d = await DP.add_department(deps, w.admin, w.ent, "研发部", None, META)
    await _ok(await client.patch(w.url(f"/departments/{d.id}"), headers=w.hr_h,
                                 json={"name": "技术部"}))
    await _refused(await client.patch(w.url(f"/departments/{d.id}"), headers=w.legal_h,
                                      json={"name": "别的部"}))
    assert [n.name for n in await DP.department_tree(deps, w.admin, w.ent)] == ["技术部"]


async def test_move_department(client, deps, w) -> None:
    a = await DP.add_department(deps, w.admin, w.ent, "甲部", None, META)
    b = await DP.add_department(deps, w.admin, w.ent, "乙部", None, META)
    await _ok(await client.post(w.url(f"/departments/{b.id}/move"), headers=w.hr_h,
                                json={"parent_id": a.id}))
    await _refused(await client.post(w.url(f"/departments/{a.id}/move"), headers=w.hr_h,
                                     json={"parent_id": b.id}), 409, "department_cycle")
    await _refused(await client.post(w.url(f"/departments/{b.id}/move"), headers=w.legal_h,
                                     json={"parent_id": None}))
    tree = {n.name: n for n in await DP.department_tree(deps, w.admin, w.ent)}
    assert tree["乙部"].parent_id == a.id


async def test_delete_department(client, deps, w) -> None:
    d = await DP.add_department(deps, w.admin, w.ent, "临时部", None, META)
    await _refused(await client.delete(w.url(f"/departments/{d.id}"), headers=w.legal_h))
    await _ok(await client.delete(w.url(f"/departments/{d.id}"), headers=w.hr_h))
    assert await DP.department_tree(deps, w.admin, w.ent) == []
    await _refused(await client.delete(w.url(f"/departments/{d.id}"), headers=w.hr_h), 404,
                   "department_not_found")


# ---------------------------------------------------------------- roles & business types


async def test_list_roles(client, deps, w) -> None:
    body = await _ok(await client.get(w.url("/roles"), headers=w.hr_h))
    assert {r["builtin"] for r in body["roles"]} >= {"main_admin", "hr", "employee"}
    assert "audit.view" in body["permissions"]
    await _refused(await client.get(w.url("/roles"), headers=w.staff_h))


async def test_create_role(client, deps, w) -> None:
    body = await _ok(await client.post(w.url("/roles"), headers=w.admin_h, json={
        "name": "审计员", "permissions": ["audit.view", "enterprise.view"]}), 201)
    assert body["permissions"] == ["audit.view", "enterprise.view"]
    await _refused(await client.post(w.url("/roles"), headers=w.admin_h, json={
        "name": "坏角色", "permissions": ["nope"]}), 400, "invalid_permissions")
    await _refused(await client.post(w.url("/roles"), headers=w.hr_h, json={
        "name": "越权", "permissions": ["audit.view"]}))


async def test_update_role(client, deps, w) -> None:
    role = await M.save_role(deps, w.admin, w.ent, role_id=None, name="审计员",
                             permissions=["audit.view"], meta=META)
    body = await _ok(await client.put(w.url(f"/roles/{role.id}"), headers=w.admin_h, json={
        "name": "审计专员", "permissions": ["audit.view", "seals.view"]}))
    assert body["name"] == "审计专员" and body["permissions"] == ["audit.view", "seals.view"]
    await _refused(await client.put(w.url(f"/roles/{role.id}"), headers=w.hr_h, json={
        "name": "改名", "permissions": ["audit.view"]}))


async def test_delete_role(client, deps, w) -> None:
    role = await M.save_role(deps, w.admin, w.ent, role_id=None, name="临时角色",
                             permissions=["audit.view"], meta=META)
    await _refused(await client.delete(w.url(f"/roles/{role.id}"), headers=w.hr_h))
    await _ok(await client.delete(w.url(f"/roles/{role.id}"), headers=w.admin_h))
    assert role.id not in {r.id for r in await M.list_roles(deps, w.admin, w.ent)}


async def test_list_business_types(client, deps, w) -> None:
    body = await _ok(await client.get(w.url("/business-types"), headers=w.staff_h))
    names = [b["name"] for b in body["business_types"]]
    assert names[:len(R.DEFAULT_BUSINESS_TYPES)] == list(R.DEFAULT_BUSINESS_TYPES)
    await _refused(await client.get(w.url("/business-types"), headers=w.outsider_h), 404,
                   "enterprise_not_found")


async def test_add_business_type(client, deps, w) -> None:
    body = await _ok(await client.post(w.url("/business-types"), headers=w.admin_h,
                                       json={"name": "培训协议"}), 201)
    assert body["name"] == "培训协议"
    await _refused(await client.post(w.url("/business-types"), headers=w.hr_h,
                                     json={"name": "竞业协议"}))
    names = [b.name for b in await M.list_business_types(deps, w.admin, w.ent)]
    assert "培训协议" in names and "竞业协议" not in names


# ---------------------------------------------------------------- members


async def test_update_member(client, deps, w) -> None:
    roles = {r.builtin: r.id for r in await M.list_roles(deps, w.admin, w.ent)}
    mid = await _member_id(deps, w, w.staff)
    body = await _ok(await client.patch(w.url(f"/members/{mid}"), headers=w.admin_h, json={
        "role_ids": [roles["legal"]], "display_name": "新名字"}))
    assert body["role_ids"] == [roles["legal"]] and body["display_name"] == "新名字"
    await _refused(await client.patch(w.url(f"/members/{mid}"), headers=w.hr_h, json={
        "role_ids": [roles["admin"]]}))


async def test_handover_items(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    mid = await _member_id(deps, w, w.staff)
    await S.grant_seal(deps, w.admin, w.ent, seal.id, mid, META)
    body = await _ok(await client.get(w.url(f"/members/{mid}/handover-items"),
                                      headers=w.admin_h))
    assert [i["key"] for i in body["items"]] == [f"seal:{seal.id}"]
    await _refused(await client.get(w.url(f"/members/{mid}/handover-items"), headers=w.hr_h))


async def test_remove_member_with_handover(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    mid = await _member_id(deps, w, w.staff)
    heir = await _member_id(deps, w, w.hr)
    await S.grant_seal(deps, w.admin, w.ent, seal.id, mid, META)
    url = w.url(f"/members/{mid}/remove")
    await _refused(await client.post(url, headers=w.admin_h, json={}), 409,
                   "handover_required")
    await _refused(await client.post(url, headers=w.hr_h, json={"all_to": heir}))
    body = await _ok(await client.post(url, headers=w.admin_h, json={"all_to": heir}))
    assert body["status"] == "removed"
    assert heir in (await S.get_seal(deps, w.admin, w.ent, seal.id)).grantee_member_ids


# ---------------------------------------------------------------- audit log


async def test_audit_log(client, deps, w) -> None:
    await DP.add_department(deps, w.admin, w.ent, "研发部", None, META)
    body = await _ok(await client.get(w.url("/audit"), headers=w.legal_h,
                                      params={"limit": "2"}))
    assert len(body["entries"]) == 2 and body["entries"][0]["action"] == "department.created"
    older = await _ok(await client.get(w.url("/audit"), headers=w.legal_h,
                                       params={"before_seq": str(body["next_before_seq"])}))
    assert all(e["seq"] < body["next_before_seq"] for e in older["entries"])
    mine = await _ok(await client.get(w.url("/audit"), headers=w.legal_h, params={
        "member_id": await _member_id(deps, w, w.hr)}))
    assert [e["action"] for e in mine["entries"]] == ["join.requested"]
    await _refused(await client.get(w.url("/audit"), headers=w.legal_h,
                                    params={"from": "昨天"}), 400, "invalid_date")
    await _refused(await client.get(w.url("/audit"), headers=w.hr_h))


# ---------------------------------------------------------------- seals


async def test_create_seal(client, deps, w) -> None:
    form = _image_form("image", png_bytes((200, 200)), name="财务专用章", kind="custom")
    body = await _ok(await client.post(w.url("/seals"), headers=w.admin_h, data=form), 201)
    assert body["kind"] == "custom" and body["status"] == "enabled"
    form = _image_form("image", png_bytes((200, 200)), name="越权章", kind="custom")
    await _refused(await client.post(w.url("/seals"), headers=w.hr_h, data=form))
    assert [s.name for s in await S.list_seals(deps, w.admin, w.ent)].count("越权章") == 0


async def test_get_seal(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    body = await _ok(await client.get(w.url(f"/seals/{seal.id}"), headers=w.hr_h))
    assert body["id"] == seal.id and body["kind_label"]
    await _refused(await client.get(w.url(f"/seals/{seal.id}"), headers=w.staff_h))


async def test_seal_image(client, deps, w) -> None:
    seal = await S.create_seal(deps, w.admin, w.ent, name="图章", kind="custom",
                               image=png_bytes((200, 200)), meta=META)
    resp = await client.get(w.url(f"/seals/{seal.id}/image"), headers=w.hr_h)
    assert resp.status == 200 and (await resp.read())[:4] == b"\x89PNG"
    await _refused(await client.get(w.url(f"/seals/{seal.id}/image"), headers=w.staff_h))


async def test_replace_seal_image(client, deps, w) -> None:
    seal = await S.create_seal(deps, w.admin, w.ent, name="图章", kind="custom",
                               image=png_bytes((200, 200)), meta=META)
    url = w.url(f"/seals/{seal.id}/image")
    await _ok(await client.post(url, headers=w.admin_h,
                                data=_image_form("image", png_bytes((300, 300)))))
    await _refused(await client.post(url, headers=w.admin_h, data=_image_form("other", b"x")),
                   400, "empty_upload")
    await _refused(await client.post(url, headers=w.hr_h,
                                     data=_image_form("image", png_bytes((300, 300)))))


async def test_seal_status(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    url = w.url(f"/seals/{seal.id}/status")
    body = await _ok(await client.post(url, headers=w.admin_h, json={"enabled": False}))
    assert body["status"] == "disabled"
    await _refused(await client.post(url, headers=w.hr_h, json={"enabled": True}))
    assert (await S.get_seal(deps, w.admin, w.ent, seal.id)).status == "disabled"


async def test_seal_auto_sign(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    url = w.url(f"/seals/{seal.id}/auto-sign")
    body = await _ok(await client.post(url, headers=w.admin_h, json={"auto_sign": True}))
    assert body["auto_sign"] is True
    await _refused(await client.post(url, headers=w.hr_h, json={"auto_sign": False}))


async def test_grant_seal(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    mid = await _member_id(deps, w, w.staff)
    url = w.url(f"/seals/{seal.id}/grants")
    body = await _ok(await client.post(url, headers=w.admin_h, json={"member_id": mid}))
    assert mid in body["grantee_member_ids"]
    await _refused(await client.post(url, headers=w.hr_h,
                                     json={"member_id": await _member_id(deps, w, w.hr)}))


async def test_revoke_seal_grant(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    mid = await _member_id(deps, w, w.staff)
    await S.grant_seal(deps, w.admin, w.ent, seal.id, mid, META)
    url = w.url(f"/seals/{seal.id}/grants/{mid}")
    await _refused(await client.delete(url, headers=w.hr_h))
    body = await _ok(await client.delete(url, headers=w.admin_h))
    assert mid not in body["grantee_member_ids"]
    await _refused(await client.delete(url, headers=w.admin_h), 404, "grant_not_found")


async def test_seal_usage_log(client, deps, w) -> None:
    seal = (await S.list_seals(deps, w.admin, w.ent))[0]
    await S.set_seal_status(deps, w.admin, w.ent, seal.id, False, META)
    body = await _ok(await client.get(w.url(f"/seals/{seal.id}/usage"), headers=w.hr_h))
    assert "seal.disabled" in {e["action"] for e in body["entries"]}
    await _refused(await client.get(w.url(f"/seals/{seal.id}/usage"), headers=w.staff_h))


# ---------------------------------------------------------------- employees


async def _pending(deps, w: World, name: str = "员工甲") -> str:
    start = (deps.clock.now().date() - timedelta(days=30)).isoformat()
    e = await E.onboard_employee(deps, w.admin, w.ent, {
        "name": name, "phone": new_phone(), "id_number": unique_id_number(),
        "position": "专员", "start_date": start}, META, send_link=False)
    return e.id


async def _active(deps, w: World, name: str = "员工甲") -> str:
    eid = await _pending(deps, w, name)
    await E.review_employee(deps, w.admin, w.ent, eid, approve=True, meta=META)
    return eid


async def test_bulk_approve(client, deps, w) -> None:
    ids = [await _pending(deps, w, n) for n in ("员工甲", "员工乙")]
    await _refused(await client.post(w.url("/employees/approve"), headers=w.legal_h,
                                     json={"ids": ids}))
    body = await _ok(await client.post(w.url("/employees/approve"), headers=w.hr_h,
                                       json={"ids": [*ids, "x"]}))
    assert body == {"approved": 2}
    assert {(await E.get_employee(deps, w.admin, w.ent, i)).status for i in ids} == {"active"}


async def test_get_employee(client, deps, w) -> None:
    eid = await _active(deps, w)
    body = await _ok(await client.get(w.url(f"/employees/{eid}"), headers=w.hr_h))
    assert body["name"] == "员工甲" and body["status"] == "active"
    await _refused(await client.get(w.url(f"/employees/{eid}"), headers=w.staff_h))


async def test_edit_employee(client, deps, w) -> None:
    eid = await _active(deps, w)
    phone = new_phone()
    body = await _ok(await client.put(w.url(f"/employees/{eid}"), headers=w.hr_h, json={
        "name": "员工丙", "phone": phone, "position": "工程师"}))
    assert body["name"] == "员工丙" and body["phone"] == phone and body["position"] == "工程师"
    await _refused(await client.put(w.url(f"/employees/{eid}"), headers=w.hr_h, json={
        "name": "员工丙", "phone": "123"}), 400, "invalid_employee")
    await _refused(await client.put(w.url(f"/employees/{eid}"), headers=w.legal_h, json={
        "name": "员工丁", "phone": phone}))


async def test_transfer_employee(client, deps, w) -> None:
    eid = await _active(deps, w)
    d = await DP.add_department(deps, w.admin, w.ent, "研发部", None, META)
    url = w.url(f"/employees/{eid}/transfer")
    body = await _ok(await client.post(url, headers=w.hr_h, json={"department_id": d.id}))
    assert body["department"] == "研发部"
    await _refused(await client.post(url, headers=w.legal_h, json={"department_id": d.id}))


async def test_resign_employee(client, deps, w, clock) -> None:
    eid = await _active(deps, w)
    url = w.url(f"/employees/{eid}/resign")
    today = clock.now().date().isoformat()
    await _refused(await client.post(url, headers=w.legal_h, json={"resign_date": today}))
    body = await _ok(await client.post(url, headers=w.hr_h, json={"resign_date": today}))
    assert body["status"] == "resigned" and body["resign_date"] == today


async def test_resend_collection_link(client, deps, w, outbox) -> None:
    eid = (await E.onboard_employee(deps, w.admin, w.ent, {"name": "员工甲",
                                                          "phone": new_phone()},
                                    META, send_link=True)).id
    url = w.url(f"/employees/{eid}/collection-link")
    await _refused(await client.post(url, headers=w.legal_h, json={}))
    body = await _ok(await client.post(url, headers=w.hr_h, json={}))
    assert body["status"] == "collecting"


# ---------------------------------------------------------------- my signatures


async def _signature(deps, user_id: str) -> str:
    return await signatures.add_signature(deps, user_id, drawn_png(), META)


async def test_list_signatures(client, deps, w) -> None:
    sid = await _signature(deps, w.staff)
    body = await _ok(await client.get(f"{API}/me/signatures", headers=w.staff_h))
    assert [s["id"] for s in body["signatures"] if s["source"] != "name_seal"] == [sid]
    others = await _ok(await client.get(f"{API}/me/signatures", headers=w.hr_h))
    assert sid not in {s["id"] for s in others["signatures"]}


async def test_add_signature(client, deps, w) -> None:
    body = await _ok(await client.post(f"{API}/me/signatures", headers=w.staff_h,
                                       data=_image_form("signature", drawn_png())), 201)
    assert body["id"]
    await _refused(await client.post(f"{API}/me/signatures", headers=w.staff_h,
                                     data=_image_form("other", drawn_png())), 400,
                   "signature_missing")
    assert len([s for s in await signatures.list_signatures(deps, w.hr)
                if s.source != "name_seal"]) == 0


async def test_signature_image(client, deps, w) -> None:
    sid = await _signature(deps, w.staff)
    resp = await client.get(f"{API}/me/signatures/{sid}/image", headers=w.staff_h)
    assert resp.status == 200 and (await resp.read())[:4] == b"\x89PNG"
    await _refused(await client.get(f"{API}/me/signatures/{sid}/image", headers=w.hr_h), 404,
                   "signature_not_found")


async def test_default_signature(client, deps, w) -> None:
    first, second = await _signature(deps, w.staff), await _signature(deps, w.staff)
    await _refused(await client.post(f"{API}/me/signatures/{second}/default", headers=w.hr_h),
                   404, "signature_not_found")
    await _ok(await client.post(f"{API}/me/signatures/{second}/default", headers=w.staff_h))
    body = await _ok(await client.get(f"{API}/me/signatures", headers=w.staff_h))
    assert {s["id"]: s["is_default"] for s in body["signatures"]}[second] is True
    assert first != second


async def test_delete_signature(client, deps, w) -> None:
    sid = await _signature(deps, w.staff)
    await _refused(await client.delete(f"{API}/me/signatures/{sid}", headers=w.hr_h), 404,
                   "signature_not_found")
    await _ok(await client.delete(f"{API}/me/signatures/{sid}", headers=w.staff_h))
    body = await _ok(await client.get(f"{API}/me/signatures", headers=w.staff_h))
    assert sid not in {s["id"] for s in body["signatures"]}


async def test_import_template(client, deps, w) -> None:
    resp = await client.get(w.url("/employees/import-template"), headers=w.hr_h)
    assert resp.status == 200 and (await resp.read())[:2] == b"PK"
    assert resp.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    await _refused(await client.get(w.url("/employees/import-template"), headers=w.staff_h))


# ---------------------------------------------------------------- settings & admin change


async def test_change_enterprise_info(client, deps, w) -> None:
    url = f"{API}/enterprises/{w.ent}"
    await _refused(await client.patch(url, headers=w.hr_h, json={"address": "别处"}), 403,
                   "main_admin_only")
    body = await _ok(await client.patch(url, headers=w.admin_h,
                                        json={"address": "上海市浦东新区世纪大道 100 号"}))
    assert body["state"] == "certified"


async def test_onboarding_fields(client, deps, w) -> None:
    body = await _ok(await client.get(w.url("/onboarding-fields"), headers=w.hr_h))
    assert body["fields"][:2] == ["name", "phone"] and "email" in body["catalogue"]
    await _refused(await client.get(w.url("/onboarding-fields"), headers=w.staff_h))


async def test_set_onboarding_fields(client, deps, w) -> None:
    body = await _ok(await client.put(w.url("/onboarding-fields"), headers=w.hr_h,
                                      json={"fields": ["email", "position"]}))
    assert body["fields"] == ["name", "phone", "position", "email"]
    await _refused(await client.put(w.url("/onboarding-fields"), headers=w.hr_h,
                                    json={"fields": ["shoe_size"]}), 400, "invalid_field")
    await _refused(await client.put(w.url("/onboarding-fields"), headers=w.legal_h,
                                    json={"fields": ["email"]}))
    assert await E.onboarding_fields(deps, w.admin, w.ent) == ["name", "phone", "position",
                                                               "email"]


async def test_admin_transfer_code(client, deps, w, outbox) -> None:
    body = await _ok(await client.post(w.url("/admin-transfer/code"), headers=w.admin_h))
    assert "*" in body["phone_masked"]
    await _refused(await client.post(w.url("/admin-transfer/code"), headers=w.hr_h), 403,
                   "main_admin_only")


async def test_admin_transfer(client, deps, w, outbox) -> None:
    await _ok(await client.post(w.url("/admin-transfer/code"), headers=w.admin_h))
    code = await last_code(deps, outbox, await user_phone(deps, w.admin))
    heir = await _member_id(deps, w, w.hr)
    await _refused(await client.post(w.url("/admin-transfer"), headers=w.hr_h, json={
        "code": code, "new_member_id": heir}), 403, "main_admin_only")
    body = await _ok(await client.post(w.url("/admin-transfer"), headers=w.admin_h, json={
        "code": code, "new_member_id": heir}))
    assert body["to_user_id"] == w.hr and body["state"] == "done"
    assert (await M.my_access(deps, w.hr, w.ent)).is_main_admin


# ---------------------------------------------------------------- my join requests


async def test_my_join_requests(client, deps, w) -> None:
    applicant = await make_user(deps)
    await M.request_join(deps, applicant, w.ent, "加入", META)
    body = await _ok(await client.get(f"{API}/me/join-requests",
                                      headers=await _bearer(deps, applicant)))
    assert [(r["enterprise_id"], r["state"]) for r in body["requests"]] == [(w.ent, "pending")]
    others = await _ok(await client.get(f"{API}/me/join-requests", headers=w.outsider_h))
    assert others["requests"] == []


async def test_revoke_join_request(client, deps, w) -> None:
    applicant = await make_user(deps)
    req = await M.request_join(deps, applicant, w.ent, "加入", META)
    url = f"{API}/me/join-requests/{req.id}/revoke"
    await _refused(await client.post(url, headers=w.admin_h), 404, "join_not_found")
    body = await _ok(await client.post(url, headers=await _bearer(deps, applicant)))
    assert body["state"] == "revoked"
