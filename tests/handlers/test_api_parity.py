"""The rest of the console over the JSON API: certification by every method (face,
authorisation letter, resubmit, revoke, the licence), the admin appeal, API-key management
(a logged-in member only, never another key), the audit log export, and an endpoint that
switched itself off. Each operation once as someone allowed and once refused; the
refusals come from core, as in the console."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp import FormData
from openpyxl import load_workbook
from sqlalchemy import update

from core.enterprise import certification as cert
from core.enterprise import dashboard as D
from core.enterprise import departments as DP
from core.enterprise.operators import create_operator
from core.integration import api_keys as K
from core.integration import webhooks as W
from storage.models import Member, WebhookEndpoint
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    deposit_amount,
    enterprise_input,
    joined_member,
    make_user,
    png_bytes,
    session_token,
    submit,
    user_phone,
)

API = "/api/v1"


async def _h(deps, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await session_token(deps, user_id)}"}


async def _ok(resp, status: int = 200) -> Any:
    body = await resp.json() if resp.content_type == "application/json" else None
    assert resp.status == status, body
    return body


async def _refused(resp, status: int, code: str) -> None:
    body = await resp.json()
    assert resp.status == status and body["error"]["code"] == code, body


async def _key_headers(deps, user_id: str, ent: str, scope: str = "admin") -> dict[str, str]:
    _view, token = await K.create_key(deps, user_id, ent, name="对接系统", scope=scope,
                                      meta=META)
    return {"Authorization": f"Bearer {token}"}


def _photo_form(field: str, data: bytes, **fields: str) -> FormData:
    form = FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field(field, data, filename="x.png", content_type="image/png")
    return form


# ---------------------------------------------------------------- certification


async def test_face_start_and_result(client, deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    body = await _ok(await client.post(f"{API}/enterprises/{ent.id}/certification/face",
                                       headers=await _h(deps, user), json={}), 201)
    assert body["attempt"]["method"] == "legal_rep_face"
    assert "/dev/identity/face/" in body["redirect_url"]
    attempt = body["attempt"]["id"]
    done = await _ok(await client.post(f"{API}/certification-attempts/{attempt}/face/result",
                                       headers=await _h(deps, user)))
    assert done["state"] == "passed"
    stranger = await _h(deps, await make_user(deps))
    await _refused(await client.post(f"{API}/enterprises/{ent.id}/certification/face",
                                     headers=stranger, json={}), 404, "enterprise_not_found")
    await _refused(await client.post(f"{API}/certification-attempts/{attempt}/face/result",
                                     headers=stranger), 404, "attempt_not_found")


async def test_get_attempt(client, deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_letter(deps, user, ent.id, META)
    body = await _ok(await client.get(f"{API}/certification-attempts/{attempt.id}",
                                      headers=await _h(deps, user)))
    assert (body["method"], body["state"]) == ("auth_letter", "pending")
    await _refused(await client.get(f"{API}/certification-attempts/{attempt.id}",
                                    headers=await _h(deps, await make_user(deps))),
                   404, "attempt_not_found")


async def test_letter_start_download_upload_and_image(client, deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    h = await _h(deps, user)
    stranger = await _h(deps, await make_user(deps))
    await _refused(await client.post(f"{API}/enterprises/{ent.id}/certification/letter",
                                     headers=stranger, json={}), 404, "enterprise_not_found")
    body = await _ok(await client.post(f"{API}/enterprises/{ent.id}/certification/letter",
                                       headers=h, json={"purpose": "certify"}), 201)
    attempt = body["id"]
    resp = await client.get(f"{API}/certification-attempts/{attempt}/letter.pdf", headers=h)
    assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
    await _refused(await client.get(f"{API}/certification-attempts/{attempt}/letter.pdf",
                                    headers=stranger), 404, "attempt_not_found")
    # Nothing uploaded yet; a JSON body is not an upload.
    await _refused(await client.get(f"{API}/certification-attempts/{attempt}/letter-image",
                                    headers=h), 404, "letter_missing")
    await _refused(await client.post(f"{API}/certification-attempts/{attempt}/letter",
                                     headers=h, json={}), 400, "multipart_required")
    await _refused(await client.post(f"{API}/certification-attempts/{attempt}/letter",
                                     headers=stranger, data=_photo_form("photo", png_bytes())),
                   404, "attempt_not_found")
    await _refused(await client.post(f"{API}/certification-attempts/{attempt}/letter",
                                     headers=h, data=_photo_form("photo", b"not an image")),
                   415, "unsupported_image")
    up = await _ok(await client.post(f"{API}/certification-attempts/{attempt}/letter",
                                     headers=h, data=_photo_form("photo", png_bytes())))
    assert up["state"] == "awaiting_review"
    resp = await client.get(f"{API}/certification-attempts/{attempt}/letter-image", headers=h)
    assert resp.status == 200 and resp.content_type == "image/png"
    await _refused(await client.get(f"{API}/certification-attempts/{attempt}/letter-image",
                                    headers=stranger), 404, "attempt_not_found")


async def test_resubmit_after_rejection(client, deps) -> None:
    user = await make_user(deps)
    op = await make_user(deps)
    await create_operator(deps, await user_phone(deps, op))
    ent = await submit(deps, user)
    fields = {k: str(v) for k, v in vars(enterprise_input(name="改名科技有限公司")).items()}
    # Not rejected (yet): nothing to resubmit.
    await _refused(await client.post(f"{API}/enterprises/{ent.id}/certification/resubmit",
                                     headers=await _h(deps, user),
                                     data=_photo_form("licence", png_bytes(), **fields)),
                   409, "enterprise_illegal_transition")
    attempt = await cert.start_letter(deps, user, ent.id, META)
    await cert.upload_letter(deps, user, attempt.id, png_bytes(), META)
    await cert.review_letter(deps, op, attempt.id, False, "公章不清晰", META)
    await _refused(await client.post(f"{API}/enterprises/{ent.id}/certification/resubmit",
                                     headers=await _h(deps, await make_user(deps)),
                                     data=_photo_form("licence", png_bytes(), **fields)),
                   404, "enterprise_not_found")
    form = FormData()
    for k, v in fields.items():  # the licence may stay as it was
        form.add_field(k, v)
    body = await _ok(await client.post(f"{API}/enterprises/{ent.id}/certification/resubmit",
                                       headers=await _h(deps, user), data=form))
    assert (body["state"], body["name"], body["rejection_reason"]) == (
        "certifying", "改名科技有限公司", None)


async def test_revoke_certification(client, deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await _refused(await client.post(f"{API}/enterprises/{ent.id}/certification/revoke",
                                     headers=await _h(deps, await make_user(deps))),
                   404, "enterprise_not_found")
    body = await _ok(await client.post(f"{API}/enterprises/{ent.id}/certification/revoke",
                                       headers=await _h(deps, user)))
    assert body["state"] == "revoked"
    done, admin = await certified_enterprise(deps)
    await _refused(await client.post(f"{API}/enterprises/{done}/certification/revoke",
                                     headers=await _h(deps, admin)), 409, "was_certified")


async def test_licence_image(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    resp = await client.get(f"{API}/enterprises/{ent}/licence", headers=await _h(deps, admin))
    assert resp.status == 200 and resp.content_type == "image/png"
    staff = await joined_member(deps, ent, admin, "employee")
    await _refused(await client.get(f"{API}/enterprises/{ent}/licence",
                                    headers=await _h(deps, staff)), 403, "permission_denied")


async def test_no_api_key_certifies_appeals_or_hands_over(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    key = await _key_headers(deps, admin, ent)
    for method, path in (("POST", "/certification/letter"), ("POST", "/certification/face"),
                         ("POST", "/certification/revoke"), ("GET", "/certification"),
                         ("POST", "/appeal"), ("POST", "/admin-transfer/code")):
        resp = await client.request(method, f"{API}/enterprises/{ent}{path}", headers=key,
                                    json={})
        await _refused(resp, 403, "api_key_not_allowed")
    # The licence is the enterprise's own data: a key may read it.
    assert (await client.get(f"{API}/enterprises/{ent}/licence", headers=key)).status == 200


# ---------------------------------------------------------------- admin appeal


async def test_appeal_then_prove_by_deposit(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    claimant = await make_user(deps, name="周九")
    h = await _h(deps, claimant)
    # A method for an appeal needs an open appeal.
    await _refused(await client.post(f"{API}/enterprises/{ent}/certification/letter",
                                     headers=h, json={"purpose": "appeal"}),
                   404, "appeal_not_found")
    body = await _ok(await client.post(f"{API}/enterprises/{ent}/appeal", headers=h), 201)
    assert (body["kind"], body["state"], body["from_user_id"]) == ("appeal", "pending", admin)
    attempt = await _ok(await client.post(
        f"{API}/enterprises/{ent}/certification/deposit", headers=h,
        json={"account_name": "测试科技有限公司", "account_number": "6222020200009999",
              "bank_name": "建设银行", "purpose": "appeal"}), 201)
    assert attempt["purpose"] == "appeal"
    await _ok(await client.post(f"{API}/certification-attempts/{attempt['id']}/deposit",
                                headers=h,
                                json={"amount": await deposit_amount(deps, attempt["id"])}))
    mine = await _ok(await client.get(f"{API}/me/appeals", headers=h))
    assert [a["state"] for a in mine["appeals"]] == ["done"]
    ents = await _ok(await client.get(f"{API}/enterprises", headers=h))
    assert [e["main_admin_id"] for e in ents["joined"]] == [claimant]


async def test_appeal_refusals(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    unverified = await make_user(deps, verified=False)
    await _refused(await client.post(f"{API}/enterprises/{ent}/appeal",
                                     headers=await _h(deps, unverified)),
                   403, "identity_required")
    await _refused(await client.post(f"{API}/enterprises/{ent}/appeal",
                                     headers=await _h(deps, admin)), 409, "already_admin")
    assert (await _ok(await client.get(f"{API}/me/appeals",
                                       headers=await _h(deps, admin))))["appeals"] == []


# ---------------------------------------------------------------- API keys


async def test_api_keys_list_create_revoke(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    h = await _h(deps, admin)
    made = await _ok(await client.post(f"{API}/enterprises/{ent}/api-keys", headers=h,
                                       json={"name": "人事系统", "scope": "employees"}), 201)
    token = made["token"]
    assert token.startswith("lsk_") and made["key"]["prefix"] == token[:12]
    listed = await _ok(await client.get(f"{API}/enterprises/{ent}/api-keys", headers=h))
    assert [(k["id"], k["scope"], k["revoked_at"]) for k in listed["keys"]] == [
        (made["key"]["id"], "employees", None)]
    assert token not in str(listed)  # shown once, never again
    key_h = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{API}/enterprises/{ent}/members", headers=key_h)).status == 200
    await _ok(await client.delete(f"{API}/enterprises/{ent}/api-keys/{made['key']['id']}",
                                  headers=h))
    assert (await client.get(f"{API}/enterprises/{ent}/members", headers=key_h)).status == 401
    await _refused(await client.post(f"{API}/enterprises/{ent}/api-keys", headers=h,
                                     json={"name": "x", "scope": "root"}), 400,
                   "invalid_scope")
    await _refused(await client.delete(f"{API}/enterprises/{ent}/api-keys/nope", headers=h),
                   404, "api_key_not_found")


async def test_api_keys_need_enterprise_manage(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    hr = await _h(deps, await joined_member(deps, ent, admin, "hr"))
    view, _ = await K.create_key(deps, admin, ent, name="甲", scope="read", meta=META)
    await _refused(await client.get(f"{API}/enterprises/{ent}/api-keys", headers=hr),
                   403, "permission_denied")
    await _refused(await client.post(f"{API}/enterprises/{ent}/api-keys", headers=hr,
                                     json={"name": "乙", "scope": "read"}),
                   403, "permission_denied")
    await _refused(await client.delete(f"{API}/enterprises/{ent}/api-keys/{view.id}",
                                       headers=hr), 403, "permission_denied")


async def test_an_api_key_cannot_list_make_or_revoke_keys(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    key = await _key_headers(deps, admin, ent, "admin")
    other, _ = await K.create_key(deps, admin, ent, name="另一个", scope="read", meta=META)
    await _refused(await client.get(f"{API}/enterprises/{ent}/api-keys", headers=key),
                   403, "api_key_not_allowed")
    await _refused(await client.post(f"{API}/enterprises/{ent}/api-keys", headers=key,
                                     json={"name": "自我复制", "scope": "admin"}),
                   403, "api_key_not_allowed")
    await _refused(await client.delete(f"{API}/enterprises/{ent}/api-keys/{other.id}",
                                       headers=key), 403, "api_key_not_allowed")
    assert [k.revoked_at for k in await K.list_keys(deps, admin, ent)] == [None, None]


# ---------------------------------------------------------------- audit export


async def test_audit_export_xlsx_and_csv(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    hr = await joined_member(deps, ent, admin, "hr")
    async with deps.db.transaction() as tx:  # a name a spreadsheet would run
        await tx.session.execute(update(Member).where(Member.user_id == hr)
                                 .values(display_name='=HYPERLINK("http://x","点")'))
    await DP.add_department(deps, hr, ent, "联系13812345678", None, META)
    h = await _h(deps, admin)
    resp = await client.get(f"{API}/enterprises/{ent}/audit/export", headers=h)
    assert resp.status == 200 and "spreadsheetml" in resp.content_type
    assert resp.headers["Cache-Control"] == "private, no-store"
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    rows = [[c or "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == list(D.AUDIT_EXPORT_HEADER)
    assert int(resp.headers["X-Row-Count"]) == len(rows) - 1 > 3
    first = rows[1]  # newest first
    assert (first[2], first[3]) == ("新建部门", "department.created")
    assert first[4] == '\'=HYPERLINK("http://x","点")'
    assert "138****5678" in first[7] and "13812345678" not in str(rows)
    resp = await client.get(f"{API}/enterprises/{ent}/audit/export?format=csv", headers=h)
    assert resp.status == 200 and resp.content_type == "text/csv"
    text = (await resp.read()).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == list(D.AUDIT_EXPORT_HEADER) and lines[1][4].startswith("'=")
    assert len(lines) == len(rows)
    # Filters as on the page: by member.
    members = await _ok(await client.get(f"{API}/enterprises/{ent}/members", headers=h))
    hr_member = next(m["id"] for m in members["members"] if m["user_id"] == hr)
    resp = await client.get(f"{API}/enterprises/{ent}/audit/export?format=csv&member_id="
                            f"{hr_member}", headers=h)
    mine = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))[1:]
    assert mine[0][3] == "department.created" and 0 < len(mine) < len(lines) - 1
    assert {r[4] for r in mine} == {'\'=HYPERLINK("http://x","点")'}


async def test_audit_export_refusals(client, deps, monkeypatch) -> None:
    ent, admin = await certified_enterprise(deps)
    hr = await joined_member(deps, ent, admin, "hr")  # no audit.view
    await _refused(await client.get(f"{API}/enterprises/{ent}/audit/export",
                                    headers=await _h(deps, hr)), 403, "permission_denied")
    h = await _h(deps, admin)
    await _refused(await client.get(f"{API}/enterprises/{ent}/audit/export?format=pdf",
                                    headers=h), 400, "invalid_format")
    await _refused(await client.get(f"{API}/enterprises/{ent}/audit/export?from=yesterday",
                                    headers=h), 400, "invalid_date")
    monkeypatch.setattr(D, "AUDIT_EXPORT_LIMIT", 2)
    await _refused(await client.get(f"{API}/enterprises/{ent}/audit/export", headers=h),
                   400, "export_too_large")


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("普通文本", "普通文本"), ("电话 13912345678。", "电话 139****5678。"),
    ("编号 913100001234567890", "编号 913100001234567890"),
])
def test_export_cells_are_text_and_phones_masked(value: str, cell: str) -> None:
    assert D.export_cell(value) == cell


# ---------------------------------------------------------------- webhooks switched off


async def test_an_endpoint_switched_off_by_failures_reads_so_and_is_switched_on(
        client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    made = await W.create_endpoint(deps, admin, ent, url="http://127.0.0.1:9/hook",
                                   event_types=["contract.sent"], meta=META)
    async with deps.db.transaction() as tx:
        await tx.session.execute(update(WebhookEndpoint).values(
            enabled=False, disabled_reason="failing", disabled_at=deps.clock.now(),
            consecutive_failures=W.AUTO_DISABLE_AFTER))
    h = await _h(deps, admin)
    listed = await _ok(await client.get(f"{API}/enterprises/{ent}/webhooks", headers=h))
    [e] = listed["endpoints"]
    assert (e["enabled"], e["disabled_reason"], e["consecutive_failures"]) == (
        False, "failing", W.AUTO_DISABLE_AFTER)
    hr = await _h(deps, await joined_member(deps, ent, admin, "hr"))
    await _refused(await client.patch(f"{API}/enterprises/{ent}/webhooks/{made.endpoint.id}",
                                      headers=hr, json={"enabled": True}),
                   403, "permission_denied")
    page = await client.get(f"/console/e/{ent}/settings/webhooks",
                            cookies={"ls_session": await session_token(deps, admin)})
    html = await page.text()
    assert 'id="webhook-auto-disabled"' in html and "已自动停用" in html
    back = await _ok(await client.patch(f"{API}/enterprises/{ent}/webhooks/{made.endpoint.id}",
                                        headers=h, json={"enabled": True}))
    assert (back["enabled"], back["disabled_reason"], back["consecutive_failures"]) == (
        True, None, 0)


async def test_console_audit_export_links_and_download(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    cookies = {"ls_session": await session_token(deps, admin)}
    html = await (await client.get(f"/console/e/{ent}/audit?from=2020-01-01",
                                   cookies=cookies)).text()
    assert f'href="/console/e/{ent}/audit/export.xlsx?from=2020-01-01"' in html
    resp = await client.get(f"/console/e/{ent}/audit/export.csv?from=2020-01-01",
                            cookies=cookies)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment; filename*=UTF-8''" in resp.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert "企业认证通过" in {r[2] for r in lines[1:]}
    hr = await joined_member(deps, ent, admin, "hr")
    resp = await client.get(f"/console/e/{ent}/audit/export.xlsx",
                            cookies={"ls_session": await session_token(deps, hr)})
    assert resp.status == 403


# ---------------------------------------------------------------- found in the inventory


async def test_template_page_image(client, deps) -> None:
    from core.templates import service
    from tests.contract_support import parties

    p = await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    base = f"{API}/enterprises/{p.enterprise_id}/templates/{tid}/pages"
    h = await _h(deps, p.admin_id)
    resp = await client.get(f"{base}/0?w=300", headers=h)
    assert resp.status == 200 and resp.content_type == "image/png"
    assert (await resp.read()).startswith(b"\x89PNG")
    await _refused(await client.get(f"{base}/0?w=99999", headers=h), 400, "invalid_input")
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    await _refused(await client.get(f"{base}/0", headers=await _h(deps, staff)),
                   403, "permission_denied")


async def test_batch_pending_seals(client, deps, outbox, aiohttp_server) -> None:
    from sqlalchemy import select

    from core.templates import batch, sending
    from storage.models import BatchRow
    from tests.batch_support import header_of, model_row, sheet_with
    from tests.contract_support import parties, sign_as, start_tsa
    from tests.enterprise_factories import new_phone
    from tests.template_support import published_template

    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    header = header_of((await batch.sheet(deps, p.admin_id, p.enterprise_id, tid))[1])
    data = sheet_with(header, [model_row("张三", p.employee_phone), model_row("王五", new_phone())])
    bid = await batch.draft_from_xlsx(deps, p.admin_id, p.enterprise_id, tid, data, META)
    await batch.confirm(deps, p.admin_id, p.enterprise_id, bid, META)
    await outbox.drain()
    url = f"{API}/enterprises/{p.enterprise_id}/batches/{bid}/pending-seals"
    h = await _h(deps, p.sealer_id)
    assert (await _ok(await client.get(url, headers=h)))["contract_ids"] == []
    async with deps.db.sessions() as s:
        cid = (await s.execute(select(BatchRow.contract_id).where(
            BatchRow.batch_id == bid, BatchRow.phone == p.employee_phone))).scalar_one()
    await sending.fill_employee_fields(deps, p.employee_id, cid,
                                       {"emp_address": "杭州市天目山路1号"}, META)
    await sign_as(deps, outbox, p.employee_id, cid)
    assert (await _ok(await client.get(url, headers=h)))["contract_ids"] == [cid]
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    await _refused(await client.get(url, headers=await _h(deps, staff)), 403,
                   "permission_denied")
