"""Enterprise settings and the audit log."""

from __future__ import annotations

from datetime import date
from typing import Any

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
from handlers.console.labels import AUDIT_ACTIONS, AUDIT_DETAILS, DETAIL_VALUES
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


# The audit log speaks codes; people read these. Unknown codes show as 其他操作.
def _audit_entry(row: D.AuditRow) -> dict[str, Any]:
    purpose, _, step = row.action.partition(".")
    if purpose in ("certify", "appeal") and step in AUDIT_ACTIONS:
        label = ("管理员申诉：" if purpose == "appeal" else "") + AUDIT_ACTIONS[step]
    else:
        label = AUDIT_ACTIONS.get(row.action, "其他操作")
    details = [f"{AUDIT_DETAILS[k]}：{DETAIL_VALUES.get(str(v), v)}"
               for k, v in row.data.items()
               if k in AUDIT_DETAILS and isinstance(v, str | int) and v != ""]
    actor = row.actor_name or ("其他用户" if row.actor_id else "系统")
    return {"seq": row.seq, "at": row.at, "label": label, "actor": actor,
            "details": "；".join(details)}


@routes.get("/console/e/{ent}/audit")
async def audit_page(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "audit")
    q = request.query
    rows = await D.audit_log(deps, uid, ent, member_id=q.get("member") or None,
                             seal_id=q.get("seal") or None, date_from=_day(q.get("from", "")),
                             date_to=_day(q.get("to", "")))
    return render(request, "console/audit.html", {
        **ctx, "rows": [_audit_entry(r) for r in rows],
        "members": await M.list_members(deps, uid, ent, True),
        "seals": await S.list_seals(deps, uid, ent),
        "filters": {k: q.get(k, "")[:40] for k in ("member", "seal", "from", "to")},
    })
