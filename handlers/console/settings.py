"""Enterprise settings and the audit log."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from core.contracts import reminders
from core.enterprise import certification as C
from core.enterprise import dashboard as D
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import seals as S
from core.errors import DomainError
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    deps_of,
    ent_of,
    form_of,
    go_to,
    refused,
    text_of,
    uid_of,
)
from handlers.console.labels import audit_label
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()


async def _settings_page(request: web.Request, error: DomainError | None = None
                         ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "settings")
    return render(request, "console/settings.html", {
        **ctx, "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "always": E.ALWAYS, "error": error,
        "reminders": await reminders.reminder_schedule(deps, uid, ent),
        "bounds": {"first": reminders.FIRST_DAYS, "every": reminders.EVERY_DAYS,
                   "max": reminders.MAX_TIMES},
    })


@routes.get("/console/e/{ent}/settings")
async def settings_page(request: web.Request) -> web.Response:
    return await _settings_page(request)


@routes.post("/console/e/{ent}/settings")
async def settings_save(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, ent, meta = deps_of(request), ent_of(request), request_meta(request)
    try:
        action = text_of(form, "action")
        if action == "fields":
            await E.set_onboarding_fields(deps, uid, ent, form.getall("fields", []), meta)
        elif action == "reminders":
            await reminders.set_reminder_schedule(
                deps, uid, ent, enabled=text_of(form, "enabled") == "1",
                first_days=_small_int(text_of(form, "first_days")),
                every_days=_small_int(text_of(form, "every_days")),
                max_times=_small_int(text_of(form, "max_times")), meta=meta)
        else:
            rep = text_of(form, "legal_rep_name") or None
            await C.change_enterprise_info(
                deps, uid, ent, name=text_of(form, "name") or None,
                credit_code=text_of(form, "credit_code") or None,
                address=text_of(form, "address") or None, legal_rep_name=rep,
                legal_rep_id_number=text_of(form, "legal_rep_id_number") or None if rep else None,
                meta=meta)
    except DomainError as err:
        return await refused(request, _settings_page, err)
    raise go_to(f"/console/e/{ent}/settings", "saved")


def _small_int(value: str) -> int | None:
    """A day count from the form; the service checks its bounds (None: not a number)."""
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 4 else None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _audit_entry(row: D.AuditRow) -> dict[str, Any]:
    text = audit_label(row)
    return {"seq": row.seq, "at": row.at, "label": text.action, "actor": text.actor,
            "details": text.details}


@routes.get("/console/e/{ent}/audit")
async def audit_page(request: web.Request) -> web.Response:
    return await _audit_page(request)


async def _audit_page(request: web.Request, error: DomainError | None = None
                      ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "audit")
    q = request.query
    rows = await D.audit_log(deps, uid, ent, member_id=q.get("member") or None,
                             seal_id=q.get("seal") or None, date_from=_day(q.get("from", "")),
                             date_to=_day(q.get("to", "")))
    filters = {k: q.get(k, "")[:40] for k in ("member", "seal", "from", "to")}
    return render(request, "console/audit.html", {
        **ctx, "rows": [_audit_entry(r) for r in rows],
        "members": await M.list_members(deps, uid, ent, True),
        "seals": await S.list_seals(deps, uid, ent), "filters": filters,
        "export_query": urlencode({k: v for k, v in filters.items() if v}),
        "error": error,
    })

@routes.get("/console/e/{ent}/audit/export.{fmt:xlsx|csv}")
async def audit_export(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    q = request.query
    try:
        export = await D.export_audit_log(
            deps, uid, ent, fmt=request.match_info["fmt"], member_id=q.get("member") or None,
            seal_id=q.get("seal") or None, date_from=_day(q.get("from", "")),
            date_to=_day(q.get("to", "")), label=audit_label)
    except DomainError as err:
        return await _audit_page(request, err)
    return web.Response(body=export.data, headers={
        "Content-Type": export.content_type,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(export.filename)}",
        "Cache-Control": "private, no-store"})
