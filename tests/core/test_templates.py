"""Templates through the real services: field rules, filling, the labour-law check,
versions, and sending one contract whose employee fills in their part before signing."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from core.contracts import access, signing
from core.contracts.engine import inspect_pdf
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.files import file_store, read_verified
from core.templates import lawcheck, sending, service
from core.templates.fields import clean_value, fields_of, parse_fields, parse_roles
from core.templates.fill import Stamp, fill_pdf, pdf_text
from core.templates.gate import FillRequired
from storage.models import ContractDocument, SignatureField, TemplateContract, TemplateVersion
from tests.contract_support import META, parties, sign_as, start_tsa
from tests.enterprise_factories import id_number, joined_member
from tests.template_support import basic_fields, place, published_template, short_contract_pdf

ROLES = parse_roles(service.DEFAULT_ROLES)
A4 = [(595.0, 842.0), (595.0, 842.0)]


def _field(**kw):
    base = {"key": "f1", "kind": "text", "label": "姓名", "placements": [place(0, 0.1, 0.1)]}
    return parse_fields([{**base, **kw}], ROLES, A4)[0]


def test_id_number_field_checks_the_gb11643_check_digit() -> None:
    f = _field(kind="id_number", label="身份证号")
    good = id_number()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    assert clean_value(f, good) == good
    with pytest.raises(InvalidInput) as err:
        clean_value(f, bad)
    assert err.value.code == "invalid_id_number"


def test_values_are_checked_by_kind() -> None:
    assert clean_value(_field(kind="date", format="iso"), "2027年1月5日") == "2027-01-05"
    assert clean_value(_field(kind="date"), "2027-01-05") == "2027年01月05日"
    assert clean_value(_field(kind="phone"), "139 0000 1111") == "13900001111"
    assert clean_value(_field(kind="checkbox"), "on") == "✓"
    with pytest.raises(InvalidInput):
        clean_value(_field(kind="number"), "八千")
    with pytest.raises(InvalidInput) as err:
        clean_value(_field(required=True), "")
    assert err.value.code == "field_required"


@pytest.mark.parametrize("placement", [
    place(0, 0.8, 0.1, 0.3),     # runs off the right edge
    place(0, -0.1, 0.1),         # negative
    place(2, 0.1, 0.1),          # no third page
    {"page": 0, "x": "nan", "y": 0.1, "w": 0.2, "h": 0.1},
])
def test_placements_are_fractions_inside_the_page(placement) -> None:
    with pytest.raises(InvalidInput):
        parse_fields([{"key": "f", "kind": "text", "placements": [placement]}], ROLES, A4)


def test_signature_boxes_must_hold_a_stamp_and_belong_to_a_person() -> None:
    with pytest.raises(InvalidInput):  # 0.01 of 842 pt is under 20 pt
        parse_fields([{"key": "s", "kind": "signature", "role": "emp",
                       "placements": [place(0, 0.1, 0.1, 0.3, 0.01)]}], ROLES, A4)
    with pytest.raises(InvalidInput):
        parse_fields([{"key": "s", "kind": "signature", "role": "ent",
                       "placements": [place(0, 0.1, 0.1, 0.3, 0.1)]}], ROLES, A4)


def test_roles_need_an_enterprise_and_a_person() -> None:
    with pytest.raises(InvalidInput):
        parse_roles([{"key": "emp", "party": "person", "name": "乙方", "order": 1}])


def test_a_field_shows_in_several_places_at_the_same_fractions() -> None:
    f = parse_fields(basic_fields(), ROLES, A4)[0]
    assert len(f.placements) == 2
    # Fractions of the page, top-left origin → points, bottom-left origin.
    assert f.placements[0].rect((595.0, 842.0)) == pytest.approx(
        (178.5, 842 - 0.19 * 842, 357.0, 842 - 0.16 * 842), abs=0.01)


def _pdftotext(pdf: bytes) -> str:
    """poppler's reading of the text: an independent check of the embedded font."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def test_filling_keeps_the_page_count_and_the_cjk_text_is_real_text(config) -> None:
    pdf = short_contract_pdf(config, pages=3)
    stamps = [Stamp(0, (180, 700, 400, 720), "王小明", 10.5),
              Stamp(2, (100, 100, 300, 120), "浙江省杭州市西湖区", 10.5),
              Stamp(1, (100, 300, 120, 320), "", 10.5, check=True)]
    out = fill_pdf(pdf, stamps, font_path=config.signing.font_path,
                   font_index=config.signing.font_index, max_bytes=20 << 20)
    before, after = inspect_pdf(pdf, 20 << 20), inspect_pdf(out, 20 << 20)
    assert after.page_count == before.page_count == 3
    assert after.page_sizes == before.page_sizes
    text = _pdftotext(out)
    assert "王小明" in text and "浙江省杭州市西湖区" in text
    assert "王小明" not in _pdftotext(pdf)


async def test_the_labour_law_check_names_the_missing_clauses_and_why(deps) -> None:
    report = lawcheck.check_text(pdf_text(short_contract_pdf(deps.config)))
    assert not report.ok
    assert {c.key for c in report.missing} == {"social_insurance", "protection"}
    reason = next(c for c in report.missing if c.key == "social_insurance").reason
    assert "第十七条" in reason and "社会保险" in reason


async def test_publishing_a_labour_contract_fails_then_passes_once_the_clauses_are_added(
        deps) -> None:
    p = await parties(deps)
    enterprise_id, admin_id = p.enterprise_id, p.admin_id
    tid = await service.create_template(
        deps, admin_id, enterprise_id, name="劳动合同（研发）", business_type="劳动合同",
        filename="合同.pdf", pdf=short_contract_pdf(deps.config), fields=basic_fields(), meta=META)
    with pytest.raises(service.LawCheckFailed) as err:
        await service.publish(deps, admin_id, enterprise_id, tid, meta=META)
    assert "社会保险" in err.value.message and "劳动保护" in err.value.message
    assert err.value.to_dict()["missing"]
    fixed = short_contract_pdf(deps.config, extra=[
        "五、社会保险：甲方依法为乙方缴纳社会保险。",
        "六、劳动保护、劳动条件和职业危害防护：甲方提供符合国家规定的劳动条件和劳动保护，"
        "告知职业危害。"])
    view = await service.replace_pdf(deps, admin_id, enterprise_id, tid, filename="新.pdf",
                                      pdf=fixed, meta=META)
    assert [f.key for f in view.fields] == [f["key"] for f in basic_fields()]  # kept
    version, report = await service.publish(deps, admin_id, enterprise_id, tid, meta=META)
    assert version == 1 and report is not None and report.ok


async def test_publishing_freezes_a_version_and_contracts_keep_theirs(
        deps, outbox, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    contract_id = await sending.send_from_template(
        deps, p.admin_id, p.enterprise_id, tid,
        parties={"emp": sending.Party("张三", p.employee_phone)},
        values={"ent_name": "杭州示例劳务科技有限公司", "ent_code": "91330000MA0000000X",
                "ent_rep": "李四", "ent_address": "杭州市", "emp_name": "张三",
                "emp_id": id_number(), "emp_phone": p.employee_phone}, meta=META)
    await service.update_template(deps, p.admin_id, p.enterprise_id, tid, name="劳动合同 v2",
                                  meta=META)
    version, _ = await service.publish(deps, p.admin_id, p.enterprise_id, tid, meta=META)
    assert version == 2
    versions = await service.list_versions(deps, p.admin_id, p.enterprise_id, tid)
    assert [(v.version, v.name) for v in versions] == [(2, "劳动合同 v2"),
                                                        (1, "劳动合同（示范文本）")]
    assert await sending.contract_origin(deps, contract_id) == (tid, 1)
    async with deps.db.sessions() as s:
        assert len((await s.execute(select(TemplateVersion))).scalars().all()) == 2


async def test_sending_fills_sender_values_and_the_employee_fills_theirs_before_signing(
        deps, outbox, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    contract_id = await sending.send_from_template(
        deps, p.admin_id, p.enterprise_id, tid,
        parties={"emp": sending.Party("张三", p.employee_phone)},
        values={"ent_name": "杭州示例劳务科技有限公司", "ent_code": "91330000MA0000000X",
                "ent_rep": "李四", "ent_address": "杭州市西湖区", "emp_name": "张三",
                "emp_id": id_number(), "emp_phone": p.employee_phone}, meta=META)
    async with deps.db.sessions() as s:
        doc = (await s.execute(select(ContractDocument).where(
            ContractDocument.contract_id == contract_id))).scalar_one()
        names = sorted((await s.execute(select(SignatureField.field_name).where(
            SignatureField.contract_id == contract_id))).scalars())
    assert any("__date_ymd_cn" in n for n in names) and len(names) == 4
    pdf = read_verified(file_store(deps), doc.file_key, doc.current_sha256)
    assert doc.page_count == 4 and inspect_pdf(pdf, 50 << 20).page_count == 4
    assert "杭州示例劳务科技有限公司" in pdf_text(pdf).replace(" ", "")

    with pytest.raises(FillRequired):
        await signing.request_sign(deps, p.employee_id, contract_id, META)
    form = await sending.fill_form(deps, p.employee_id, contract_id)
    assert form is not None and [f.key for f in form.fields] == ["emp_address"]
    with pytest.raises(InvalidInput):  # required
        await sending.fill_employee_fields(deps, p.employee_id, contract_id, {}, META)
    with pytest.raises(PermissionDenied):  # not the employee
        await sending.fill_employee_fields(deps, p.sealer_id, contract_id,
                                           {"emp_address": "x"}, META)
    await sending.fill_employee_fields(deps, p.employee_id, contract_id,
                                       {"emp_address": "浙江省杭州市天目山路100号"}, META)
    assert await sending.fill_form(deps, p.employee_id, contract_id) is None

    await sign_as(deps, outbox, p.employee_id, contract_id)
    await outbox.drain()
    await sign_as(deps, outbox, p.sealer_id, contract_id)
    await outbox.drain()
    view = await access.view_contract(deps, p.employee_id, contract_id)
    assert view.state == "completed"
    signed = (await access.download(deps, p.employee_id, contract_id)).data
    text = pdf_text(signed).replace(" ", "")
    assert "浙江省杭州市天目山路100号" in text
    async with deps.db.sessions() as s:
        link = await s.get(TemplateContract, contract_id)
        assert link is not None and link.employee_filled_at is not None


async def test_only_template_managers_change_templates(deps) -> None:
    p = await parties(deps)
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    with pytest.raises(PermissionDenied):
        await service.import_model(deps, staff, p.enterprise_id, meta=META)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    with pytest.raises(PermissionDenied):
        await service.get_template(deps, staff, p.enterprise_id, tid)


async def test_an_unpublished_template_cannot_send(deps) -> None:
    p = await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    with pytest.raises(Conflict) as err:
        await sending.send_from_template(
            deps, p.admin_id, p.enterprise_id, tid,
            parties={"emp": sending.Party("张三", p.employee_phone)}, values={}, meta=META)
    assert err.value.code == "template_not_published"


async def test_employee_fields_require_the_employee_to_sign_first(deps) -> None:
    p = await parties(deps)
    tid = await service.create_template(
        deps, p.admin_id, p.enterprise_id, name="保密协议", business_type="保密协议",
        filename="nda.pdf", pdf=short_contract_pdf(deps.config), fields=basic_fields(), meta=META)
    await service.update_template(
        deps, p.admin_id, p.enterprise_id, tid,
        roles=[{"key": "ent", "party": "enterprise", "name": "甲方", "order": 1},
               {"key": "emp", "party": "person", "name": "乙方", "order": 1}], meta=META)
    with pytest.raises(InvalidInput) as err:
        await service.publish(deps, p.admin_id, p.enterprise_id, tid, meta=META)
    assert err.value.code == "template_incomplete"
    view = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    assert fields_of([f.as_json() for f in view.fields]) == view.fields
