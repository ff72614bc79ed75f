"""What every console page shares: who is asking, reading forms, redirects with a fixed
notice, and re-rendering a refused form with its message.

Thin handlers: parse the form → call one core service → render or redirect. A refused form
re-renders its page with the Chinese message; a successful one redirects (303) with a
fixed notice key, so nothing the user typed is reflected from the URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from core.errors import DomainError, PayloadTooLarge
from handlers.keys import DEPS, current_session
from handlers.util import read_form, uploaded_file

Page = Callable[..., Awaitable[web.Response]]

NOTICES = {
    "submitted": "已提交，请选择一种方式完成企业认证",
    "revoked": "已撤销认证申请",
    "resubmitted": "已重新提交，请继续认证",
    "certified": "企业认证已完成",
    "code_sent": "验证码已发送，请查看手机短信",
    "rep_code_sent": "授权码已发送至法定代表人手机",
    "paid": "已向对公账户打款，请查询到账金额后填写",
    "uploaded": "已上传，等待平台审核",
    "saved": "已保存",
    "joined": "申请已提交，请等待企业管理员审核",
    "join_revoked": "已撤销加入申请",
    "added": "已添加",
    "added_collecting": "已添加，信息采集链接已通过短信发送给员工，填写后进入“待审核”",
    "added_pending_review": "已添加，请在“待审核”中核对后通过",
    "removed": "已移除",
    "approved": "已通过",
    "rejected": "已驳回",
    "transferred": "主管理员已更换，您已转为“员工”角色",
    "imported": "导入成功",
    "archived": "已归档",
    "batch_discarded": "已放弃该批次，上传的文件已删除",
    "appeal": "申诉已发起，请选择一种方式证明您对企业的控制权",
    "redelivered": "已重新投递，结果请稍后刷新查看",
    "key_revoked": "密钥已吊销，使用它的请求将被拒绝",
}


def uid_of(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return session.user_id


def go_to(path: str, notice: str | None = None) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?ok={notice}" if notice else path)


def notice_of(request: web.Request) -> str | None:
    return NOTICES.get(request.query.get("ok", ""))


async def form_of(request: web.Request) -> MultiDictProxy[Any]:
    try:
        return await read_form(request)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge() from None


def text_of(form: MultiDictProxy[Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


# More than any upload the console takes (letters 15 MB); each service checks its own limit.
MAX_UPLOAD = 20 * 1024 * 1024


def file_of(form: MultiDictProxy[Any], key: str) -> bytes | None:
    upload = uploaded_file(form, key, MAX_UPLOAD)
    return (upload[0] or None) if upload else None


def ent_of(request: web.Request) -> str:
    return request.match_info["ent"]


async def refused(request: web.Request, page: Page, err: DomainError,
                   **kw: Any) -> web.Response:
    response = await page(request, error=err, **kw)
    response.set_status(err.status)
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def deps_of(request: web.Request) -> Any:
    return request.app[DEPS]

