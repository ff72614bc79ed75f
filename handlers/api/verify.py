"""Verification API (C6): POST a PDF, get each signature's findings. No login needed."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts import verification
from handlers.api.registry import ApiRoutes, reply
from handlers.h5_verify import read_upload
from handlers.keys import DEPS

api = ApiRoutes(tag="verify")


class VerifyIn(BaseModel):
    """multipart/form-data with the PDF as `file`."""

    file: bytes = Field(description="the PDF to verify (binary part)")


class SignatureOut(BaseModel):
    field_name: str
    signer_name: str | None
    subject: str | None
    serial: str | None
    issuer: str | None
    signing_time: datetime | None
    timestamp_time: datetime | None
    timestamp_authority: str | None
    timestamp_valid: bool | None
    intact: bool
    trusted: bool
    revoked: bool
    revoked_at: datetime | None
    issued_by_us: bool
    certification: bool
    coverage: str = Field(description="entire_file | entire_revision | partial | unclear")
    covers_whole_document: bool
    modification: str | None = Field(
        description="none | validation_data | form_filling | annotations | other")
    modified_after_signing: bool
    modifications_permitted: bool | None
    error: str | None
    valid: bool


class RegisteredOut(BaseModel):
    contract_title: str
    contract_state: str
    contract_state_label: str
    version: int
    kind: str
    latest: bool


class VerifyOut(BaseModel):
    sha256: str
    size: int
    signed: bool
    all_valid: bool
    signatures: list[SignatureOut]
    registered: RegisteredOut | None = Field(
        description="set when the file is byte for byte a version this platform produced")


@api.route("POST", "/verify", summary="Verify the signatures of an uploaded PDF", body=VerifyIn,
           response=VerifyOut, auth=False, upload=True)
async def verify_document(request: web.Request) -> web.Response:
    data = await read_upload(request)
    result = await verification.verify_upload(request.app[DEPS], data)
    return reply(VerifyOut.model_validate(result.to_dict()))
