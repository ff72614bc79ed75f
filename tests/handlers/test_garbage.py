"""Garbage in, 4xx out: every documented API operation and every H5 form, fed the
malformed input seen in the wild, answers below 500.

The operations come from the OpenAPI document itself, so a new operation is covered
without touching this file. Requests are authenticated as a real administrator of a
certified enterprise (and ids in paths are real where one exists), so the garbage
reaches the handlers' and services' own parsing, not just the login check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core.enterprise import certification as cert
from handlers.csrf import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, _sign
from handlers.middleware import SESSION_COOKIE
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    garbage_images,
    make_user,
    session_token,
    submit,
)

DEEP = 100_000
HUGE_DIGITS = "9" * 4400
GARBAGE_VALUES: list[Any] = [
    "NaN", "Infinity", "1e999", 10**20, -(10**20), HUGE_DIGITS, None, [[[["x"]]]],
    {"a": {"b": {}}}, "x" * 20_000, "\x00\ud800", 1.5,
]
RAW_JSON: list[bytes] = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b'{"amount": NaN, "offset": Infinity}',
    b'{"x": 1' + b"0" * 4400 + b"}",
    HUGE_DIGITS.encode(),
    b"{", b"\xff\xfe\x00", b"null", b"[]", b'"x"', b"",
]
GARBAGE_QUERY = {
    "offset": str(10**20), "limit": "1e20", "page": HUGE_DIGITS, "w": "NaN",
    "q": "x" * 500, "status": "\x00", "tab": "-1", "next": "//evil.example",
}


@dataclass
class Request:
    method: str
    path: str
    label: str
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    params: dict[str, str] | None = None


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "gArBaGe") -> bytes:
    out = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(out) + f"--{boundary}--\r\n".encode()


def broken_multiparts(extra_fields: dict[str, str]) -> Iterator[tuple[str, str, bytes]]:
    """(label, content type, body) of multipart bodies no parser should trust."""
    fields = [(k, None, v.encode()) for k, v in extra_fields.items()]
    yield "multipart-no-boundary", "multipart/form-data", multipart(fields)
    yield ("multipart-empty-boundary", "multipart/form-data; boundary=",
           multipart(fields))
    yield ("multipart-quote-in-filename", "multipart/form-data; boundary=gArBaGe",
           multipart([*fields, ("file", 'a"b.png', b"x")]))
    yield ("multipart-bad-disposition", "multipart/form-data; boundary=gArBaGe",
           b"--gArBaGe\r\nContent-Disposition: attachment; =;;\"\r\n\r\nx\r\n--gArBaGe--\r\n")
    yield ("multipart-no-disposition", "multipart/form-data; boundary=gArBaGe",
           b"--gArBaGe\r\nContent-Type: text/plain\r\n\r\nx\r\n--gArBaGe--\r\n")
    yield ("multipart-unterminated", "multipart/form-data; boundary=gArBaGe",
           b"--gArBaGe\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxxxx")
    yield ("multipart-nested", "multipart/form-data; boundary=gArBaGe",
           b"--gArBaGe\r\nContent-Type: multipart/mixed\r\n"
           b"Content-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--gArBaGe--\r\n")
    yield ("urlencoded-bad", "application/x-www-form-urlencoded",
           b"a=%ZZ&&=&b=%ff%fe&" + b"c=" + b"%00" * 100)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[1]] if ref else schema


def _filler(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    s = _resolve(schema, components)
    if "anyOf" in s:
        s = _resolve(s["anyOf"][0], components)
    kind = s.get("type")
    if "enum" in s:
        return s["enum"][0]
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {},
            "null": None}.get(kind, "x")


def api_requests(document: dict[str, Any], ids: dict[str, str]) -> Iterator[Request]:
    components = document["components"]["schemas"]
    images = garbage_images()
    for template, ops in document["paths"].items():
        for method, op in ops.items():
            names = re.findall(r"{(\w+)}", template)
            paths = {"real-ids": template.format(**{n: ids.get(n, "x") for n in names})}
            if names:
                # One huge id a request: a request line stays under aiohttp's 8 kB limit.
                paths["huge-ids"] = template.format(
                    **{n: HUGE_DIGITS if i == 0 else "1" for i, n in enumerate(names)})
            for path_label, path in paths.items():
                yield Request(method.upper(), path, f"{path_label}+query",
                              params=GARBAGE_QUERY if path_label == "real-ids" else GARBAGE_QUERY
                              | {"page": "1"})
                if method == "get":
                    continue
                content = op.get("requestBody", {}).get("content", {})
                schema = next(iter(content.values()))["schema"] if content else {}
                props = _resolve(schema, components).get("properties", {}) if schema else {}
                for i, raw in enumerate(RAW_JSON):
                    yield Request(method.upper(), path, f"{path_label}+raw-json-{i}",
                                  {"Content-Type": "application/json"}, raw)
                if path_label != "real-ids":
                    continue  # a made-up id is refused before the body matters
                for name in props:
                    base = {k: _filler(v, components) for k, v in props.items()}
                    for value in GARBAGE_VALUES:
                        body = json.dumps({**base, name: value}).encode()
                        yield Request(method.upper(), path, f"{path_label}+{name}={value!r:.20}",
                                      {"Content-Type": "application/json"}, body)
                for label, ctype, body in broken_multiparts({k: "x" for k in props}):
                    yield Request(method.upper(), path, f"{path_label}+{label}",
                                  {"Content-Type": ctype}, body)
                if "multipart/form-data" in content:
                    text = {k: "x" for k in props}
                    for label, image in images.items():
                        parts = [(k, None, v.encode()) for k, v in text.items()]
                        parts += [(k, f"{label}.png", image) for k in props]
                        yield Request(method.upper(), path, f"{path_label}+image-{label}",
                                      {"Content-Type": "multipart/form-data; boundary=gArBaGe"},
                                      multipart(parts))
                    for name in props:
                        for value in ("NaN", HUGE_DIGITS, "[[[[", '{"a":' * 2000, "-1"):
                            parts = [(k, None, (value if k == name else "x").encode())
                                     for k in props]
                            yield Request(method.upper(), path, f"{path_label}+form-{name}",
                                          {"Content-Type": "multipart/form-data; "
                                           "boundary=gArBaGe"}, multipart(parts))


async def _world(deps) -> tuple[str, dict[str, str]]:
    """A certified enterprise's admin (session token) and real ids for path parameters."""
    ent, admin = await certified_enterprise(deps)
    pending = await submit(deps, admin, name="待认证科技有限公司")
    attempt = await cert.start_deposit(
        deps, admin, pending.id, account_name="待认证科技有限公司",
        account_number="6222020200001234", bank_name="工商银行", meta=META)
    await make_user(deps)
    return await session_token(deps, admin), {
        "enterprise_id": ent, "attempt_id": attempt.id, "id": "x", "scene": "x",
        "request_id": "x", "employee_id": "x", "admin": admin,
    }


async def _send(client, r: Request, failures: list[str], **extra: Any) -> None:
    headers = {**r.headers, **extra.pop("headers", {})}
    resp = await client.request(r.method, r.path, headers=headers, data=r.data,
                                params=r.params, allow_redirects=False, **extra)
    body = await resp.read()
    if resp.status >= 500:
        failures.append(f"{r.method} {r.path[:80]} [{r.label}] → {resp.status} {body[:120]!r}")


async def test_no_documented_operation_answers_garbage_with_a_5xx(client, deps) -> None:
    _, ids = await _world(deps)
    document = await (await client.get("/api/v1/openapi.json")).json()
    failures: list[str] = []
    sent = 0
    tokens: dict[str, str] = {}
    for r in api_requests(document, ids):
        # A session per operation: logging out or changing the password ends one.
        key = f"{r.method} {r.path}"
        if key not in tokens:
            tokens[key] = await session_token(deps, ids["admin"])
        await _send(client, r, failures, headers={"Authorization": f"Bearer {tokens[key]}"})
        sent += 1
    assert sent > 1500
    assert not failures, f"{len(failures)} of {sent} answered ≥ 500:\n" + "\n".join(failures)


def _form_routes(client) -> list[str]:
    paths = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if (route.method == "POST" and path and not path.startswith(("/api/", "/tsa"))
                and path != "/wechat"):
            paths.add(path)
    return sorted(paths)


async def test_no_form_answers_garbage_with_a_5xx_even_with_a_valid_csrf_token(
    client, deps, config
) -> None:
    _, ids = await _world(deps)
    seed = "garbage-test-seed"
    csrf = _sign(config.server.secret_key, seed)
    routes = _form_routes(client)
    assert len(routes) > 20
    images = garbage_images()
    failures: list[str] = []
    for template in routes:
        # A session per form: /logout and a password change end one.
        client.session.cookie_jar.update_cookies(
            {SESSION_COOKIE: await session_token(deps, ids["admin"]), CSRF_COOKIE: seed})
        path = re.sub(r"{(\w+)}", lambda m: ids.get(m[1], ids["enterprise_id"]
                                                       if m[1] == "ent" else "x"), template)
        fields = {CSRF_FIELD: csrf, "page": HUGE_DIGITS, "offset": str(10**20),
                  "amount": "NaN", "deadline_days": "1e999", "order_1": "NaN"}
        for label, ctype, body in broken_multiparts(fields):
            # The CSRF check reads the form itself (no header) ...
            await _send(client, Request("POST", path, f"{label}+csrf-in-body",
                                        {"Content-Type": ctype}, body), failures)
            # ... and with the token in the header, the handler does.
            await _send(client, Request("POST", path, f"{label}+csrf-header",
                                        {"Content-Type": ctype, CSRF_HEADER: csrf}, body),
                        failures)
        for label in ("ztxt", "iccp", "truncated-jpeg", "bomb", "random"):
            image = images[label]
            parts = [(k, None, v.encode()) for k, v in fields.items()]
            parts += [(name, f"{label}.png", image)
                      for name in ("file", "image", "licence", "letter", "photo", "png",
                                   "signature", "seal")]
            await _send(client, Request(
                "POST", path, f"image-{label}",
                {"Content-Type": "multipart/form-data; boundary=gArBaGe", CSRF_HEADER: csrf},
                multipart(parts)), failures)
        for raw in RAW_JSON[:4]:
            await _send(client, Request("POST", path, "json", {
                "Content-Type": "application/json", CSRF_HEADER: csrf}, raw), failures)
    assert not failures, f"{len(failures)} answered ≥ 500:\n" + "\n".join(failures)


async def test_no_page_answers_a_garbage_query_or_path_with_a_5xx(client, deps) -> None:
    _, ids = await _world(deps)
    client.session.cookie_jar.update_cookies(
        {SESSION_COOKIE: await session_token(deps, ids["admin"])})
    failures: list[str] = []
    templates = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "GET" and path and not path.startswith(("/api/", "/static")):
            templates.add(path)
    assert len(templates) > 20
    for template in sorted(templates):
        # A page number of 4,400 digits (/contracts/{id}/pages/{page}.png) and the like.
        names = re.findall(r"{(\w+)", template)
        for fill in (HUGE_DIGITS, "x"):
            # The huge value in the last parameter only: the request line stays < 8 kB.
            path = re.sub(r"{(\w+)(?::[^}]*)?}", lambda m, fill=fill, last=(names or [""])[-1]:
                          ids["enterprise_id"] if m[1] == "ent" else fill if m[1] == last
                          else "x", template)
            await _send(client, Request("GET", path, f"path={fill[:5]}", params=GARBAGE_QUERY
                                        if fill == "x" else None), failures)
    assert not failures, f"{len(failures)} answered ≥ 500:\n" + "\n".join(failures)
