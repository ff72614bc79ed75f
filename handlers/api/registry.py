"""JSON API routes declared once, with their request/response models.

The same declaration mounts the route and describes it in the OpenAPI document, so the
document cannot drift from the code; a test still checks both directions.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from core.errors import InvalidInput, PayloadTooLarge
from handlers.keys import DEPS
from handlers.util import json_body, read_form, uploaded_file

PREFIX = "/api/v1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    auth: bool
    status: int
    upload: bool
    response_content_type: str
    query: type[BaseModel] | None = None


class ApiRoutes:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes: list[ApiRoute] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        auth: bool = True,
        status: int = 200,
        upload: bool = False,
        response_content_type: str = "application/json",
        query: type[BaseModel] | None = None,
    ) -> Callable[[Handler], Handler]:
        """`query` documents the query parameters (each field one optional parameter);
        the handler parses them itself."""

        def register(handler: Handler) -> Handler:
            self.routes.append(
                ApiRoute(
                    method.upper(), path, handler, summary, self.tag, body, response, auth,
                    status, upload, response_content_type, query,
                )
            )
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for r in self.routes:
            app.router.add_route(r.method, PREFIX + r.path, r.handler)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: Any) -> None:
    """Refuse strings no column can store: a lone UTF-16 surrogate (JSON allows "\\ud800")
    or a NUL (PostgreSQL text refuses it). The body is already bounded in size and depth."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise InvalidInput("请求中含有无法识别的字符", code="invalid_text")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_text(v)
    elif isinstance(value, list):
        for v in value:
            _check_text(v)


async def parse(request: web.Request, model: type[M]) -> M:
    """Validate a JSON body; pydantic errors become 400 invalid_input via the middleware."""
    body = await json_body(request)
    _check_text(body)
    return model.model_validate(body)


class OkOut(BaseModel):
    """The answer of an operation that has nothing else to say."""

    ok: bool = True


def reply(data: BaseModel | dict[str, Any] | None = None, status: int = 200) -> web.Response:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return web.json_response(data if data is not None else {"ok": True}, status=status)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable code"},
                "message": {"type": "string", "description": "Chinese message for the user"},
                "field": {"type": "string"},
                "retry_after": {"type": "integer"},
            },
        }
    },
}


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document(groups: Iterable[ApiRoutes], *, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    tags: list[dict[str, str]] = []
    for group in groups:
        tags.append({"name": group.tag})
        for r in group.routes:
            op: dict[str, Any] = {
                "summary": r.summary,
                "tags": [r.tag],
                "operationId": r.handler.__name__,
                "responses": {
                    "4XX": {
                        "description": "refused; see error.code",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                },
            }
            ok: dict[str, Any] = {"description": "OK"}
            if r.response is not None:
                ok["content"] = {r.response_content_type: {"schema": _schema_ref(r.response,
                                                                                 components)}}
            elif r.response_content_type != "application/json":
                ok["content"] = {r.response_content_type: {"schema": {"type": "string",
                                                                      "format": "binary"}}}
            op["responses"][str(r.status)] = ok
            if r.body is not None:
                media = "multipart/form-data" if r.upload else "application/json"
                op["requestBody"] = {
                    "required": True,
                    "content": {media: {"schema": _schema_ref(r.body, components)}},
                }
            if r.auth:
                op["security"] = [{"bearer": []}, {"cookie": []}]
            params: list[dict[str, Any]] = [
                {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for part in r.path.split("/")
                if part.startswith("{") and part.endswith("}")
            ]
            if r.query is not None:
                schema = r.query.model_json_schema()
                for name, prop in schema.get("properties", {}).items():
                    desc = prop.pop("description", None)
                    prop.pop("title", None)
                    param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                                             "schema": prop}
                    if desc:
                        param["description"] = desc
                    params.append(param)
            if params:
                op["parameters"] = params
            paths.setdefault(PREFIX + r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LaborSign API",
            "version": version,
            "description": "电子劳动合同平台 JSON API; errors are {\"error\": {code, message}}",
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "token from POST /api/v1/auth/login/*, or an "
                                          "enterprise API key (lsk_…)"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "ls_session",
                           "description": "browser session; unsafe methods need X-CSRF-Token"},
            },
        },
    }


async def multipart_form(request: web.Request, *, plain_ok: bool = False) -> Any:
    """An upload's form: 400 `multipart_required` for another body (a plain form too when
    `plain_ok`, for a call whose file is optional), 413 past the request size limit."""
    plain = plain_ok and request.content_type == "application/x-www-form-urlencoded"
    if not request.content_type.startswith("multipart/form-data") and not plain:
        raise InvalidInput("请以 multipart/form-data 上传", code="multipart_required")
    try:
        return await read_form(request)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge() from None


async def upload_fields(request: web.Request, file_field: str, *, limit: int | None = None,
                        required: bool = True, plain_ok: bool = False
                        ) -> tuple[dict[str, str], bytes | None]:
    """The text fields and one file of an upload. The file is read up to `limit` + 1 bytes
    (default: the request size limit; each service checks its own, lower, one); missing
    and `required` is 400 `empty_upload`."""
    form = await multipart_form(request, plain_ok=plain_ok)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    cap = limit if limit is not None else request.app[DEPS].config.server.max_body_bytes
    upload = uploaded_file(form, file_field, cap)
    if upload is None and required:
        raise InvalidInput("请选择要上传的文件", code="empty_upload", field=file_field)
    return fields, upload[0] if upload else None


def flag(value: str | None) -> bool:
    """A true/false form field: 1, true, yes or on."""
    return (value or "").lower() in {"1", "true", "yes", "on"}


async def required_upload(request: web.Request, file_field: str, *, limit: int | None = None
                          ) -> tuple[dict[str, str], bytes]:
    """`upload_fields` for a call that needs its file."""
    fields, upload = await upload_fields(request, file_field, limit=limit)
    if upload is None:  # upload_fields has refused it already; this narrows the type
        raise InvalidInput("请选择要上传的文件", code="empty_upload", field=file_field)
    return fields, upload
