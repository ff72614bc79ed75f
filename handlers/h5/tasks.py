"""A multi-document task on the phone (E5): read each document, then one SMS code signs
them all (core.contracts.signing.request_sign_many / confirm_sign_many)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from core.contracts import access, signing
from core.errors import DomainError, InvalidInput
from core.templates import tasks
from handlers.keys import DEPS, current_session
from handlers.render import render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()


def _user(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
    return session.user_id


def _tid(request: web.Request) -> str:
    return request.match_info["id"]


async def _page(request: web.Request, user_id: str, *, step: str = "start",
                error: DomainError | None = None, notice: str | None = None,
                status: int = 200) -> web.Response:
    view = await tasks.view_task(request.app[DEPS], user_id, _tid(request))
    return render(request, "contracts/task.html", {
        "t": view, "step": step, "error": error, "notice": notice,
        "done": view.done or request.query.get("done") == "1"}, status=status)


async def _ready(request: web.Request, user_id: str, view: tasks.TaskView) -> None:
    """The real-name check and a signature first, then back to the task."""
    if not view.docs:
        return
    first = await access.view_contract(request.app[DEPS], user_id, view.docs[0].contract_id)
    back = quote(f"/tasks/{view.id}", safe="")
    if not first.identity_verified:
        raise web.HTTPFound(f"/identity?next={back}")
    if not first.has_signature:
        raise web.HTTPFound(f"/me/signatures?next={back}")


@routes.get("/tasks/{id}")
async def task_page(request: web.Request) -> web.Response:
    user_id = _user(request)
    view = await tasks.view_task(request.app[DEPS], user_id, _tid(request))
    if view.signable:
        await _ready(request, user_id, view)
    return await _page(request, user_id)


@routes.post("/tasks/{id}/code")
async def task_code(request: web.Request) -> web.Response:
    user_id = _user(request)
    form = await form_data(request)
    deps = request.app[DEPS]
    try:
        if form.get("read") != "1":
            raise InvalidInput("请先逐份阅读并勾选“我已阅读全部文件”", code="read_required",
                               field="read")
        ids = tasks.check_all_signable(await tasks.view_task(deps, user_id, _tid(request)))
        sent = await signing.request_sign_many(deps, user_id, ids, request_meta(request))
    except signing.SignatureRequired:
        raise web.HTTPSeeOther(
            f"/me/signatures?next={quote('/tasks/' + _tid(request), safe='')}") from None
    except DomainError as exc:
        return await _page(request, user_id, error=exc, status=exc.status)
    return await _page(request, user_id, step="code",
                       notice=f"验证码已发送至 {sent.phone_masked}")


@routes.post("/tasks/{id}/confirm")
async def task_confirm(request: web.Request) -> web.Response:
    user_id = _user(request)
    form = await form_data(request)
    deps = request.app[DEPS]
    try:
        view = await tasks.view_task(deps, user_id, _tid(request))
        ids = [d.contract_id for d in view.docs if d.my_state in ("pending", "signing")]
        if not ids:
            raise web.HTTPSeeOther(f"/tasks/{view.id}?done=1")
        await signing.confirm_sign_many(deps, user_id, ids, form.get("code", ""),
                                        request_meta(request))
    except InvalidInput as exc:
        return await _page(request, user_id, step="code", error=exc, status=exc.status)
    except DomainError as exc:
        return await _page(request, user_id, error=exc, status=exc.status)
    raise web.HTTPSeeOther(f"/tasks/{_tid(request)}?done=1")
