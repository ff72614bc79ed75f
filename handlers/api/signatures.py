"""My signatures over JSON: list, add a drawn one, image, default, delete. The same verbs
as the H5 pages under /me/signatures; every call acts on the caller's own signatures."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from core import signatures
from core.errors import InvalidInput, PayloadTooLarge
from core.signing.seals import MAX_SIGNATURE_BYTES
from handlers.api.registry import ApiRoutes, reply
from handlers.keys import DEPS
from handlers.util import read_form, request_meta, require_session, uploaded_file

api = ApiRoutes("signatures")


class SignatureOut(BaseModel):
    id: str
    width: int
    height: int
    is_default: bool
    source: str = Field(description="pad_direct | pad_qr | name_seal (预制人名章)")
    created_at: datetime


class SignaturesOut(BaseModel):
    signatures: list[SignatureOut] = Field(description="the default first, then newest")


class SignatureIn(BaseModel):
    signature: bytes = Field(description="the drawn signature, PNG, at most 2 MB")


class SignatureIdOut(BaseModel):
    id: str


@api.route("GET", "/me/signatures", summary="My signatures", response=SignaturesOut)
async def list_signatures(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await signatures.list_signatures(request.app[DEPS], session.user_id)
    return reply(SignaturesOut(signatures=[SignatureOut(
        id=s.id, width=s.width, height=s.height, is_default=s.is_default, source=s.source,
        created_at=s.created_at) for s in rows]))


@api.route("POST", "/me/signatures", summary="Add a drawn signature (the first becomes "
           "the default)", body=SignatureIn, response=SignatureIdOut, status=201, upload=True)
async def add_signature(request: web.Request) -> web.Response:
    session = require_session(request)
    if not request.content_type.startswith("multipart/form-data"):
        raise InvalidInput("请以 multipart/form-data 上传", code="multipart_required")
    if request.content_length and request.content_length > MAX_SIGNATURE_BYTES + 4096:
        raise PayloadTooLarge("签名图片过大")
    try:
        form = await read_form(request)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge("签名图片过大") from None
    upload = uploaded_file(form, "signature", MAX_SIGNATURE_BYTES)
    if upload is None:
        raise InvalidInput("没有收到签名图片", code="signature_missing", field="signature")
    signature_id = await signatures.add_signature(request.app[DEPS], session.user_id,
                                                  upload[0], request_meta(request))
    return reply(SignatureIdOut(id=signature_id), status=201)


@api.route("GET", "/me/signatures/{signature_id}/image", summary="A signature's PNG",
           response_content_type="image/png")
async def signature_image(request: web.Request) -> web.Response:
    session = require_session(request)
    png = await signatures.signature_png(request.app[DEPS], session.user_id,
                                         request.match_info["signature_id"])
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@api.route("POST", "/me/signatures/{signature_id}/default",
           summary="Use this signature when signing")
async def set_default(request: web.Request) -> web.Response:
    session = require_session(request)
    await signatures.set_default(request.app[DEPS], session.user_id,
                                 request.match_info["signature_id"], request_meta(request))
    return reply()


@api.route("DELETE", "/me/signatures/{signature_id}",
           summary="Delete a signature (signed contracts keep theirs; the name seal stays)")
async def delete_signature(request: web.Request) -> web.Response:
    session = require_session(request)
    await signatures.delete_signature(request.app[DEPS], session.user_id,
                                      request.match_info["signature_id"], request_meta(request))
    return reply()
