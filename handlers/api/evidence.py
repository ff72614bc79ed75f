"""Evidence API (C5, E3, E7): the signing disclosure, a contract's trail, the evidence
report and package, paper-copy requests and batch evidence exports."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts import disclosure, evidence, paper_copies, trail
from core.contracts.evidence import Download, ExportView
from core.contracts.paper_copies import PaperCopyView
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes(tag="evidence")


class DisclosureOut(BaseModel):
    version: str
    title: str
    sections: list[tuple[str, str]]
    shown_at: datetime | None
    accepted_at: datetime | None


class DisclosureIn(BaseModel):
    contract_id: str | None = Field(default=None, max_length=32,
                                    description="the contract being signed, if any")


def _disclosure_out(view: disclosure.DisclosureView) -> DisclosureOut:
    return DisclosureOut(version=view.version, title=view.title,
                         sections=list(view.paragraphs), shown_at=view.shown_at,
                         accepted_at=view.accepted_at)


@api.route("POST", "/signing-disclosure/shown", summary="Show the signing disclosure "
           "(告知, recorded: time, IP, device); the text to display", body=DisclosureIn,
           response=DisclosureOut)
async def disclosure_shown(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, DisclosureIn)
    view = await disclosure.show(request.app[DEPS], session.user_id, body.contract_id,
                                 request_meta(request))
    return reply(_disclosure_out(view))


@api.route("POST", "/signing-disclosure/accept", summary="Accept the signing disclosure "
           "shown before (required before a person's first signing)", body=DisclosureIn,
           response=DisclosureOut)
async def disclosure_accept(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, DisclosureIn)
    view = await disclosure.accept(request.app[DEPS], session.user_id, body.contract_id,
                                   request_meta(request))
    return reply(_disclosure_out(view))


class IntentOut(BaseModel):
    method: str
    phone_masked: str | None
    code_sent_at: datetime | None
    code_entered_at: datetime | None
    ip: str | None
    device: str | None
    sha256_before: str | None
    sha256_after: str | None


class PartyOut(BaseModel):
    signer_id: str
    party: str
    name: str
    state: str
    signed_at: datetime | None
    identity_method: str | None
    identity_at: datetime | None
    disclosure_accepted_at: datetime | None
    intent: IntentOut | None
    certificate_serial: str | None


class EntryOut(BaseModel):
    chain_seq: int
    at: datetime
    action: str
    label: str
    ip: str | None
    hash: str
    prev_hash: str


class VersionOut(BaseModel):
    version: int
    kind: str
    sha256: str
    at: datetime


class TrailOut(BaseModel):
    contract_id: str
    title: str
    state: str
    document_sha256: str
    parties: list[PartyOut]
    versions: list[VersionOut]
    entries: list[EntryOut]


@api.route("GET", "/contracts/{id}/trail", summary="The signing trail (签署轨迹)",
           response=TrailOut)
async def get_trail(request: web.Request) -> web.Response:
    session = require_session(request)
    t = await trail.load_trail(request.app[DEPS], session.user_id, request.match_info["id"])
    checks = [p.identity or p.enterprise_check for p in t.parties]
    return reply(TrailOut(
        contract_id=t.contract_id, title=t.title, state=t.state,
        document_sha256=t.document_sha256,
        parties=[PartyOut(
            signer_id=p.signer_id, party=p.party, name=p.name, state=p.state,
            signed_at=p.signed_at,
            identity_method=check.method if check else None,
            identity_at=check.at if check else None,
            disclosure_accepted_at=p.disclosure_accepted_at,
            intent=IntentOut(**{k: getattr(p.intent, k) for k in IntentOut.model_fields})
            if p.intent else None,
            certificate_serial=p.certificate.serial if p.certificate else None,
        ) for p, check in zip(t.parties, checks, strict=True)],
        versions=[VersionOut(version=v.version, kind=v.kind, sha256=v.sha256, at=v.at)
                  for v in t.versions],
        entries=[EntryOut(chain_seq=e.chain_seq, at=e.at, action=e.action, label=e.label,
                          ip=e.ip, hash=e.hash, prev_hash=e.prev_hash) for e in t.entries],
    ))


def _file(doc: Download, content_type: str) -> web.Response:
    return web.Response(
        body=doc.data, content_type=content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
                 "X-Content-SHA256": doc.sha256, "Cache-Control": "private, no-store"})


@api.route("GET", "/contracts/{id}/evidence-report", summary="The evidence report "
           "(出证报告), a PDF signed by the platform", response_content_type="application/pdf")
async def get_report(request: web.Request) -> web.Response:
    session = require_session(request)
    doc = await evidence.report(request.app[DEPS], session.user_id, request.match_info["id"])
    return _file(doc, "application/pdf")


@api.route("GET", "/contracts/{id}/evidence-package", summary="The evidence package: the "
           "PDF, the report, timestamp tokens, certificate chain, README",
           response_content_type="application/zip")
async def get_package(request: web.Request) -> web.Response:
    session = require_session(request)
    doc = await evidence.package(request.app[DEPS], session.user_id, request.match_info["id"])
    return _file(doc, "application/zip")


class PaperCopyIn(BaseModel):
    note: str = Field(default="", max_length=200,
                      description="how the worker wants the copy (collect, address)")


class PaperCopyOut(BaseModel):
    id: str
    contract_id: str
    contract_title: str
    signer_name: str
    state: str
    state_label: str
    note: str
    requested_at: datetime
    printed_at: datetime | None
    stamped_at: datetime | None
    handed_over_at: datetime | None


class PaperCopyListOut(BaseModel):
    items: list[PaperCopyOut]


def _paper_out(v: PaperCopyView) -> PaperCopyOut:
    return PaperCopyOut(
        id=v.id, contract_id=v.contract_id, contract_title=v.contract_title,
        signer_name=v.signer_name, state=v.state, state_label=v.state_label, note=v.note,
        requested_at=v.requested_at, printed_at=v.printed_at, stamped_at=v.stamped_at,
        handed_over_at=v.handed_over_at)


@api.route("POST", "/contracts/{id}/paper-copy", summary="Ask for a free paper copy "
           "(a person who signed the completed contract)", body=PaperCopyIn,
           response=PaperCopyOut, status=201)
async def request_paper_copy(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, PaperCopyIn)
    view = await paper_copies.request_copy(request.app[DEPS], session.user_id,
                                           request.match_info["id"], body.note,
                                           request_meta(request))
    return reply(_paper_out(view), status=201)


@api.route("GET", "/enterprises/{enterprise_id}/paper-copies", summary="Paper-copy requests "
           "(state: open, done, all)", response=PaperCopyListOut)
async def list_paper_copies(request: web.Request) -> web.Response:
    session = require_session(request)
    items = await paper_copies.list_requests(
        request.app[DEPS], session.user_id, request.match_info["enterprise_id"],
        request.query.get("state", "open"))
    return reply(PaperCopyListOut(items=[_paper_out(v) for v in items]))


class PaperStepIn(BaseModel):
    state: Literal["printed", "stamped", "handed_over"]


@api.route("POST", "/paper-copies/{id}", summary="Mark a paper copy printed, stamped or "
           "handed over (in that order)", body=PaperStepIn, response=PaperCopyOut)
async def advance_paper_copy(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, PaperStepIn)
    view = await paper_copies.advance(request.app[DEPS], session.user_id,
                                      request.match_info["id"], body.state,
                                      request_meta(request))
    return reply(_paper_out(view))


class ExportIn(BaseModel):
    contract_ids: list[str] = Field(min_length=1, max_length=evidence.MAX_EXPORT_CONTRACTS)


class ExportOut(BaseModel):
    id: str
    state: str
    count: int
    size: int | None
    error: str | None
    download_url: str | None


class ExportListOut(BaseModel):
    items: list[ExportOut]


def _export_out(v: ExportView) -> ExportOut:
    return ExportOut(id=v.id, state=v.state, count=v.count, size=v.size, error=v.error,
                     download_url=f"/api/v1/evidence-exports/{v.id}/download"
                     if v.state == "ready" else None)


@api.route("POST", "/enterprises/{enterprise_id}/evidence-exports", summary="Build one .zip "
           "of many contracts' evidence packages (a job; poll the list)", body=ExportIn,
           response=ExportOut, status=202)
async def create_export(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ExportIn)
    view = await evidence.request_export(request.app[DEPS], session.user_id,
                                         request.match_info["enterprise_id"],
                                         body.contract_ids)
    return reply(_export_out(view), status=202)


@api.route("GET", "/enterprises/{enterprise_id}/evidence-exports",
           summary="My batch evidence exports", response=ExportListOut)
async def list_exports(request: web.Request) -> web.Response:
    session = require_session(request)
    items = await evidence.list_exports(request.app[DEPS], session.user_id,
                                        request.match_info["enterprise_id"])
    return reply(ExportListOut(items=[_export_out(v) for v in items]))


@api.route("GET", "/evidence-exports/{id}/download", summary="Download a ready batch export",
           response_content_type="application/zip")
async def download_export(request: web.Request) -> web.Response:
    session = require_session(request)
    doc = await evidence.export_download(request.app[DEPS], session.user_id,
                                         request.match_info["id"])
    return _file(doc, "application/zip")
