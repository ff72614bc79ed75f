"""Verification API (C6): POST a PDF, get each signature's findings. No login needed."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from handlers.api.registry import ApiRoutes, reply
from handlers.h5.verify import verify_request

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
    timestamp_present: bool
    timestamp_own: bool | None = Field(
        description="the token's message imprint is the hash of this signature's value")
    intact: bool
    trusted: bool
    revoked: bool
    revoked_at: datetime | None
    issued_by_us: bool
    certification: bool
    coverage: str = Field(description="entire_file | entire_revision | partial | unclear")
    covers_whole_document: bool
    modification: str | None = Field(
        description="what changed after this signature: none | validation_data | signatures "
                    "(later signatures only) | form_filling | annotations | other")
    modified_after_signing: bool
    changed_fields: list[str] = Field(
        description="form fields (other than later signatures) changed after signing")
    modifications_permitted: bool | None
    error: str | None
    valid: bool = Field(description="no problems: intact, unchanged but for later signatures "
                                    "and validation data, trusted, its own valid timestamp")
    problems: list[str] = Field(
        description="why not valid: signature_unreadable | signature_unverifiable | "
                    "not_intact | modified | not_permitted | revoked | untrusted | "
                    "timestamp_missing | timestamp_invalid | timestamp_foreign")


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
    verdict: str = Field(description="unsigned | broken | modified | untrusted | timestamp | "
                                     "valid (the worst finding over all signatures)")
    signatures: list[SignatureOut]
    registered: RegisteredOut | None = Field(
        description="set when the file is byte for byte a version this platform produced")


@api.route("POST", "/verify", summary="Verify the signatures of an uploaded PDF", body=VerifyIn,
           response=VerifyOut, auth=False, upload=True)
async def verify_document(request: web.Request) -> web.Response:
    result = await verify_request(request)
    return reply(VerifyOut.model_validate(result.to_dict()))
