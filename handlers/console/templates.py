"""Templates in the console: the list, upload (PDF or Word .docx) and model import, the
placement editor, replacing the document, the labour-law check and publishing, and sending
one contract."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp import web

from core.contracts.send import Options
from core.contracts.states import REJECT_BY
from core.errors import DomainError, InvalidInput
from core.templates import docx, lines, sending, service
from core.templates.fields import BUSINESS_TYPES, DATE_FORMATS, FILLERS, KINDS, VALUE_KINDS
from core.templates.lawcheck import LawReport
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    deps_of,
    ent_of,
    file_of,
    form_of,
    go_to,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import bounded_int, parse_json, request_meta

routes = web.RouteTableDef()

NOTICES = {"saved": "已保存", "published": "已发布新版本", "replaced": "已更换文件，字段已保留",
           "created": "模板已创建，请在页面上放置字段"}


def _tid(request: web.Request) -> str:
    return request.match_info["tid"]


def _base(request: web.Request) -> str:
    return f"/console/e/{ent_of(request)}/templates"


def _pages(request: web.Request, view: service.TemplateView) -> list[dict[str, Any]]:
    return [{"index": ix, "number": ix + 1, "boxes": [], "ratio": h / w,
             "url": f"{_base(request)}/{view.id}/pages/{ix}.png?v={view.sha256[:12]}"}
            for ix, (w, h) in enumerate(view.page_sizes)]


# ---------------------------------------------------------------- list and create


async def _list_page(request: web.Request, error: DomainError | None = None,
                     form: dict[str, str] | None = None) -> web.Response:
    ctx = await enterprise_page_context(request, "templates")
    items = await service.list_templates(deps_of(request), uid_of(request), ent_of(request))
    return render(request, "console/templates.html", {
        **ctx, "items": items, "types": BUSINESS_TYPES, "error": error, "form": form or {},
        "docx_ok": docx.available(deps_of(request)),
        "can_manage": "templates.manage" in ctx["access"].permissions})


@routes.get("/console/e/{ent}/templates")
async def list_page(request: web.Request) -> web.Response:
    return await _list_page(request)


@routes.post("/console/e/{ent}/templates")
async def create(request: web.Request) -> web.Response:
    uid, deps = uid_of(request), deps_of(request)
    form = await form_of(request)
    upload = form.get("file")
    try:
        tid = await service.create_template(
            deps, uid, ent_of(request), name=text_of(form, "name"),
            business_type=text_of(form, "business_type"),
            filename=getattr(upload, "filename", None), pdf=file_of(form, "file") or b"",
            meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _list_page, err, form={
            "name": text_of(form, "name")[:100], "business_type": text_of(form, "business_type")})
    raise go_to(f"{_base(request)}/{tid}", "saved")


@routes.post("/console/e/{ent}/templates/model")
async def import_model(request: web.Request) -> web.Response:
    uid = uid_of(request)
    await form_of(request)
    try:
        tid = await service.import_model(deps_of(request), uid, ent_of(request),
                                         meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _list_page, err)
    raise go_to(f"{_base(request)}/{tid}", "saved")


# ---------------------------------------------------------------- editor


def _law(report: LawReport | None) -> dict[str, Any] | None:
    return report.as_json() if report is not None else None


async def _editor(request: web.Request, error: DomainError | None = None,
                  law: LawReport | None = None, draft: dict[str, Any] | None = None
                  ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "templates")
    view = await service.get_template(deps, uid, ent, _tid(request))
    versions = await service.list_versions(deps, uid, ent, view.id)
    state = draft or {"fields": [f.as_json() for f in view.fields],
                      "roles": [r.as_json() for r in view.roles]}
    if law is None and isinstance(error, service.LawCheckFailed):
        law = error.report
    return render(request, "console/template_edit.html", {
        **ctx, "t": view, "pages": _pages(request, view), "versions": versions,
        "sizes": [[round(w, 2), round(h, 2)] for w, h in view.page_sizes],
        "state": state, "kinds": KINDS, "fillers": FILLERS, "date_formats": DATE_FORMATS,
        "types": BUSINESS_TYPES, "law": _law(law), "error": error,
        "docx_ok": docx.available(deps),
        "notice": NOTICES.get(request.query.get("ok", "")) or ctx.get("notice"),
        "can_manage": "templates.manage" in ctx["access"].permissions,
        "can_send": "contracts.send" in ctx["access"].permissions,
    })


@routes.get("/console/e/{ent}/templates/{tid}")
async def editor(request: web.Request) -> web.Response:
    return await _editor(request)


@routes.get("/console/e/{ent}/templates/{tid}/pages/{page:\\d+}.png")
async def page_image(request: web.Request) -> web.Response:
    uid = uid_of(request)
    try:
        width = bounded_int(request.query.get("w"), "w", default=800)
    except InvalidInput:
        width = 800
    page = bounded_int(request.match_info["page"], "page", maximum=10_000)
    png = await service.page_image(deps_of(request), uid, ent_of(request), _tid(request), page,
                                   width)
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400"})


@routes.get("/console/e/{ent}/templates/{tid}/lines.json")
async def page_lines(request: web.Request) -> web.Response:
    """Text lines and rules of the draft's pages, for snapping fields in the editor."""
    found = await lines.template_lines(deps_of(request), uid_of(request), ent_of(request),
                                       _tid(request))
    return web.json_response(found, headers={"Cache-Control": "private, max-age=86400"})


def _json_list(form: Any, key: str) -> list[Any]:
    raw = text_of(form, key)
    value = parse_json(raw.encode("utf-8")) if raw else []
    if not isinstance(value, list):
        raise InvalidInput("字段数据格式有误", code="invalid_template_field", field=key)
    return value


@routes.post("/console/e/{ent}/templates/{tid}/save")
async def save(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    draft: dict[str, Any] | None = None
    try:
        fields, roles = _json_list(form, "fields_json"), _json_list(form, "roles_json")
        draft = {"fields": fields, "roles": roles}
        await service.update_template(
            deps_of(request), uid, ent_of(request), _tid(request),
            name=text_of(form, "name"), business_type=text_of(form, "business_type"),
            roles=roles or None, fields=fields, meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _editor, err, draft=draft)
    if text_of(form, "then") == "publish":
        return await _publish(request, uid)
    raise go_to(f"{_base(request)}/{_tid(request)}", "saved")


async def _publish(request: web.Request, uid: str) -> web.Response:
    try:
        await service.publish(deps_of(request), uid, ent_of(request), _tid(request),
                              meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _editor, err)
    raise go_to(f"{_base(request)}/{_tid(request)}", "published")


@routes.post("/console/e/{ent}/templates/{tid}/publish")
async def publish(request: web.Request) -> web.Response:
    uid = uid_of(request)
    await form_of(request)
    return await _publish(request, uid)


@routes.post("/console/e/{ent}/templates/{tid}/check")
async def check(request: web.Request) -> web.Response:
    uid = uid_of(request)
    await form_of(request)
    report = await service.law_check(deps_of(request), uid, ent_of(request), _tid(request))
    return await _editor(request, law=report)


@routes.post("/console/e/{ent}/templates/{tid}/file")
async def replace_file(request: web.Request) -> web.Response:
    uid, deps = uid_of(request), deps_of(request)
    form = await form_of(request)
    try:
        filename: str | None = "劳动合同示范文本.pdf"
        if text_of(form, "use_model") == "1":
            pdf = await service.model_pdf(deps)
        else:
            pdf, filename = file_of(form, "file") or b"", getattr(form.get("file"), "filename",
                                                                  None)
        await service.replace_pdf(deps, uid, ent_of(request), _tid(request),
                                  filename=filename, pdf=pdf, meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _editor, err)
    raise go_to(f"{_base(request)}/{_tid(request)}", "replaced")


# ---------------------------------------------------------------- send one


def _values(form: Any, version: service.VersionView) -> dict[str, object]:
    return {f.key: text_of(form, f"v_{f.key}") for f in version.fields
            if f.kind in VALUE_KINDS and f.filler == "sender"}


def _person_roles(version: service.VersionView) -> list[Any]:
    return [r for r in version.roles if r.party == "person"]


async def _send_page(request: web.Request, error: DomainError | None = None,
                     form: dict[str, str] | None = None,
                     preview: list[str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "templates")
    view = await service.get_template(deps, uid, ent, _tid(request))
    versions = await service.list_versions(deps, uid, ent, view.id)
    if not versions:
        raise go_to(f"{_base(request)}/{view.id}")
    version = versions[0]
    form = dict(form or {})
    q = request.query.get("q", "")[:40]
    roster = await sending.search_roster(deps, uid, ent, q) if "q" in request.query else []
    picked = request.query.get("employee", "")
    person_roles = _person_roles(version)
    if picked and not form:
        person = await sending.roster_person(deps, uid, ent, picked)
        first = person_roles[0].key
        form[f"name_{first}"], form[f"phone_{first}"] = person.name, person.phone
        for k, v in sending.suggested_values(version, sending.Party(person.name,
                                                                    person.phone)).items():
            form[f"v_{k}"] = v
    return render(request, "console/template_send.html", {
        **ctx, "t": view, "v": version, "form": form, "error": error, "roster": roster,
        "reject_choices": REJECT_BY,
        "q": q, "searched": "q" in request.query, "person_roles": person_roles,
        "sender_fields": [f for f in version.fields
                          if f.kind in VALUE_KINDS and f.filler == "sender"],
        "employee_fields": [f for f in version.fields
                            if f.kind in VALUE_KINDS and f.filler == "employee"],
        "kinds": KINDS, "preview": preview,
    })


@routes.get("/console/e/{ent}/templates/{tid}/send")
async def send_page(request: web.Request) -> web.Response:
    return await _send_page(request)


def _deadline(deps: Any, text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,4}", text):
        raise InvalidInput("截止天数须为数字", code="invalid_deadline", field="deadline")
    return deps.clock.now() + timedelta(days=int(text))


@routes.post("/console/e/{ent}/templates/{tid}/send")
async def send_submit(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    kept = {k: text_of(form, k)[:200] for k in form if isinstance(form.get(k), str)
            and k != "_csrf"}
    try:
        versions = await service.list_versions(deps, uid, ent, _tid(request))
        if not versions:
            raise InvalidInput("模板还没有发布", code="template_not_published")
        version = versions[0]
        values = _values(form, version)
        if text_of(form, "action") == "preview":
            _, images = await sending.preview(deps, uid, ent, _tid(request), values)
            return await _send_page(request, form=kept, preview=images)
        parties = {r.key: sending.Party(text_of(form, f"name_{r.key}"),
                                        text_of(form, f"phone_{r.key}"))
                   for r in _person_roles(version)}
        contract_id = await sending.send_from_template(
            deps, uid, ent, _tid(request), parties=parties, values=values,
            title=text_of(form, "title"), deadline=_deadline(deps, text_of(form, "deadline")),
            meta=request_meta(request),
            options=Options(page_qr=text_of(form, "page_qr") == "1",
                            cross_seal=text_of(form, "cross_seal") == "1",
                            reject_by=text_of(form, "reject_by") or "all"))
    except DomainError as err:
        return await refused(request, _send_page, err, form=kept)
    raise web.HTTPSeeOther(f"/contracts/{contract_id}?done=sent")

