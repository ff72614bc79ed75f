"""The public verification page (C6): upload a PDF, no login, see what each signature says."""

from __future__ import annotations

from aiohttp import web

from core.contracts import page_marks, verification
from core.errors import DomainError, InvalidInput, PayloadTooLarge
from handlers.h5.contracts import local_time
from handlers.keys import DEPS, current_session
from handlers.render import render
from handlers.util import read_form, request_meta, uploaded_file

routes = web.RouteTableDef()


async def read_upload(request: web.Request) -> bytes:
    """The `file` part of a multipart upload, bounded before it is read."""
    limit = verification.max_bytes(request.app[DEPS])
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"文件不能超过 {limit // (1024 * 1024)} MB", code="pdf_too_large")
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("请以 multipart/form-data 上传文件", code="upload_expected")
    post = await read_form(request)
    upload = uploaded_file(post, "file", limit)
    if upload is None:
        raise InvalidInput("请选择要验证的 PDF 文件", code="empty_upload", field="file")
    return upload[0]


async def verify_request(request: web.Request) -> verification.VerificationResult:
    """Read the upload and verify it as this caller (counted against its rate limit)."""
    data = await read_upload(request)
    session = current_session(request)
    return await verification.verify_upload(
        request.app[DEPS], data, meta=request_meta(request),
        user_id=session.user_id if session else None,
    )


@routes.get("/verify")
async def verify_page(request: web.Request) -> web.Response:
    return render(request, "verify/verify.html", {"result": None, "when": local_time})


@routes.post("/verify")
async def verify_submit(request: web.Request) -> web.Response:
    try:
        result = await verify_request(request)
    except DomainError as exc:
        return render(request, "verify/verify.html",
                      {"result": None, "when": local_time, "error": exc}, status=exc.status)
    return render(request, "verify/verify.html", {"result": result, "when": local_time})


@routes.get("/verify/c/{token}")
async def page_link(request: web.Request) -> web.Response:
    """Where a page's QR code (防抽页) leads: the contract, page n of m, state, hash."""
    try:
        check = await page_marks.page_check(request.app[DEPS], request.match_info["token"],
                                            request.query.get("p"))
    except DomainError as exc:
        return render(request, "verify/page.html", {"check": None, "error": exc},
                      status=exc.status)
    return render(request, "verify/page.html", {"check": check})
