"""From a published template to a contract (C2, one signer set), and the employee's own
fields (乙方补全) filled on the signing page.

`fill_for_signers` is the one verb that turns (template version, signers, sender values)
into what core.contracts.send.create_and_send takes: the filled PDF, the signer specs with
their boxes, and the employee's pending fields. The single send here and a batch send both
build on it. Every value is written into the PDF before the signature fields are added;
the employee's values are added before anyone signs (check_ready makes the employee sign
first), so no signature ever covers a page that later changes.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts import send as contract_send
from core.contracts.engine import PdfInfo, render_page
from core.contracts.send import Box, SignerSpec
from core.contracts.states import ContractState
from core.cpu import run_cpu
from core.crypto import mask_phone, sha256_hex
from core.enterprise import roles as R
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.files import file_store, read_verified
from core.templates import service
from core.templates.fields import (
    SIGNING_KINDS,
    VALUE_KINDS,
    Field,
    Placement,
    clean_value,
    clean_values,
    first_person,
)
from core.templates.fill import Stamp, fill_pdf
from core.validators import check_person_name, normalize_phone
from storage.models import (
    Contract,
    ContractSigner,
    DocumentHash,
    Employee,
    TemplateContract,
    User,
)
from storage.uow import Tx

PREVIEW_PAGES = 20
PREVIEW_WIDTH = 800
ROSTER_LIMIT = 20


@dataclass(frozen=True)
class Party:
    """A person role's signer."""

    name: str
    phone: str


@dataclass(frozen=True)
class FilledContract:
    version: service.VersionView
    pdf: bytes
    signers: list[SignerSpec]
    # The employee's fields with their boxes in points (TemplateContract.employee_fields).
    pending: list[dict[str, Any]]
    # Index in `signers` of the person who fills them.
    filler_index: int
    # The version's pages: the filled PDF has the pages of the checked template
    # (create_and_send's `produced`).
    info: PdfInfo


def _stamps(version: service.VersionView, fields: list[Field], values: dict[str, str]
            ) -> list[Stamp]:
    out = []
    for f in fields:
        value = values.get(f.key, "")
        if not value:
            continue
        for p in f.placements:
            rect = p.rect(version.page_sizes[p.page])
            out.append(Stamp(p.page, rect, "" if f.kind == "checkbox" else value, f.font_size,
                             check=f.kind == "checkbox"))
    return out


async def _fill(deps: Deps, key: str, sha256: str, stamps: list[Stamp], shared: str = "",
                template: bytes | None = None) -> bytes:
    if template is None:
        template = await asyncio.to_thread(read_verified, file_store(deps), key, sha256)
    return await run_cpu(_fill_sync, template, stamps, deps.config.signing.font_path,
                         deps.config.signing.font_index,
                         deps.config.signing.max_upload_bytes * 2, shared)


def _fill_sync(pdf: bytes, stamps: list[Stamp], font_path: str, font_index: int,
               max_bytes: int, shared: str = "") -> bytes:
    return fill_pdf(pdf, stamps, font_path=font_path, font_index=font_index,
                    max_bytes=max_bytes, shared=shared)


async def template_pdf(deps: Deps, version: service.VersionView) -> bytes:
    """The version's blank PDF (read once by a batch for all its rows)."""
    return await asyncio.to_thread(read_verified, file_store(deps), version.file_key,
                                   version.sha256)


def _parties(version: service.VersionView, parties: dict[str, Party]) -> dict[str, Party]:
    out = {}
    for role in version.roles:
        if role.party != "person":
            continue
        party = parties.get(role.key)
        if party is None:
            raise InvalidInput(f"请填写{role.name}的姓名和手机号", code="no_signers",
                               field="signers")
        out[role.key] = Party(check_person_name(party.name), normalize_phone(party.phone))
    if len({p.phone for p in out.values()}) != len(out):
        raise InvalidInput("同一手机号不能重复添加为签署人", code="duplicate_signer",
                           field="phone")
    return out


async def fill_for_signers(
    deps: Deps, version: service.VersionView, parties: dict[str, Party],
    raw_values: dict[str, object], *, seal_id: str | None = None, shared: str = "",
    template: bytes | None = None,
) -> FilledContract:
    """The contract for one signer set: sender values checked and written, boxes placed.

    `shared`: a batch's characters, for its one font subset (core.templates.fill);
    `template`: the version's PDF when the caller has read it already."""
    people = _parties(version, parties)
    values = clean_values(version.fields, raw_values, "sender")
    pdf = await _fill(deps, version.file_key, version.sha256,
                      _stamps(version, version.fields, values), shared, template)
    specs: list[SignerSpec] = []
    for role in version.roles:
        boxes = tuple(
            Box(p.page, p.rect(version.page_sizes[p.page]),
                date_format=f.format if f.kind == "sign_date" else "")
            for f in version.fields if f.role == role.key and f.kind in SIGNING_KINDS
            for p in f.placements
        )
        if role.party == "enterprise":
            specs.append(SignerSpec("enterprise", boxes, seal_id=seal_id, order=role.order))
        else:
            person = people[role.key]
            specs.append(SignerSpec("person", boxes, name=person.name, phone=person.phone,
                                    order=role.order))
    filler = first_person(version.roles)
    pending = [
        {"key": f.key, "kind": f.kind, "label": f.label, "required": f.required,
         "format": f.format, "font_size": f.font_size, "default": f.default,
         "boxes": [[p.page, *p.rect(version.page_sizes[p.page])] for p in f.placements]}
        for f in version.fields if f.kind in VALUE_KINDS and f.filler == "employee"
    ]
    return FilledContract(version, pdf, specs, pending,
                          next(i for i, r in enumerate(version.roles) if r.key == filler.key),
                          PdfInfo(len(version.page_sizes), tuple(
                              (float(w), float(h)) for w, h in version.page_sizes)))


def origin_recorder(deps: Deps, filled: FilledContract) -> contract_send.OnSent:
    """The create_and_send hook that records the template version (and the employee's
    pending fields) in the sending transaction."""

    async def record(tx: Tx, contract: Contract, rows: list[ContractSigner]) -> None:
        v = filled.version
        tx.session.add(TemplateContract(
            contract_id=contract.id, template_id=v.template_id, version_id=v.id,
            version=v.version, employee_fields=filled.pending,
            employee_signer_id=rows[filled.filler_index].id if filled.pending else None,
            created_at=deps.clock.now(),
        ))
        await common.log(tx, deps, "contract.from_template", contract, actor_id=None,
                         data={"template_id": v.template_id, "version": v.version,
                               "employee_fields": [f["key"] for f in filled.pending]})

    return record


async def _version(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                   ) -> service.VersionView:
    return (await _version_and_type(deps, user_id, enterprise_id, template_id))[0]


async def _version_and_type(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                            ) -> tuple[service.VersionView, str | None]:
    """The latest published version (hidden from a member limited away from its business
    type) and the id of the enterprise's business type of that name, which the contract
    gets (None: the enterprise has no such type, and the contract gets the default)."""
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        version = service.version_view(
            await service.latest_version(tx, enterprise_id, template_id, actor=actor))
        return version, await service.business_type_id(tx, enterprise_id,
                                                       version.business_type)


async def preview(deps: Deps, user_id: str, enterprise_id: str, template_id: str,
                  raw_values: dict[str, object], *, pages: int = PREVIEW_PAGES
                  ) -> tuple[bytes, list[str]]:
    """The filled PDF as it will be sent (sender values only) and its first `pages` pages
    (at most PREVIEW_PAGES) as PNG data URLs for the console."""
    version = await _version(deps, user_id, enterprise_id, template_id)
    values = clean_values(version.fields, raw_values, "sender")
    pdf = await _fill(deps, version.file_key, version.sha256,
                      _stamps(version, version.fields, values))
    images = []
    for page in range(min(len(version.page_sizes), pages, PREVIEW_PAGES)):
        png = await run_cpu(render_page, pdf, page, PREVIEW_WIDTH)
        images.append("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    return pdf, images


async def send_from_template(
    deps: Deps, user_id: str, enterprise_id: str, template_id: str, *,
    parties: dict[str, Party], values: dict[str, object], title: str = "",
    deadline: datetime | None = None, seal_id: str | None = None, meta: RequestMeta,
    options: contract_send.Options | None = None,
) -> str:
    """Send one contract from the template's latest published version, of the template's
    business type. `options`: the page marks (防抽页 QR, 骑缝章) chosen when sending."""
    version, type_id = await _version_and_type(deps, user_id, enterprise_id, template_id)
    filled = await fill_for_signers(deps, version, parties, values, seal_id=seal_id)
    person = next(s for s in filled.signers if s.party == "person")
    return await contract_send.create_and_send(
        deps, user_id, enterprise_id,
        title=(title or "").strip() or f"{version.name}（{person.name}）"[:100],
        filename=f"{version.name}.pdf", pdf=filled.pdf, signers=filled.signers,
        deadline=deadline, meta=meta, on_sent=origin_recorder(deps, filled),
        business_type_id=type_id, options=options, produced=filled.info,
    )


# ---------------------------------------------------------------- roster


@dataclass(frozen=True)
class RosterPerson:
    id: str
    name: str
    phone: str
    phone_masked: str
    position: str


async def search_roster(deps: Deps, user_id: str, enterprise_id: str, q: str
                        ) -> list[RosterPerson]:
    """Active employees matching a name or phone fragment, for picking a signer."""
    q = (q or "").strip()[:40]
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        query = select(Employee).where(Employee.enterprise_id == enterprise_id,
                                       Employee.status == "active")
        if q:
            query = query.where(Employee.name.contains(q, autoescape=True)
                                | Employee.phone.contains(q, autoescape=True))
        rows = (await tx.session.execute(
            query.order_by(Employee.name, Employee.id).limit(ROSTER_LIMIT))).scalars().all()
        return [RosterPerson(e.id, e.name, e.phone, mask_phone(e.phone), e.position or "")
                for e in rows]


async def roster_person(deps: Deps, user_id: str, enterprise_id: str, employee_id: str
                        ) -> RosterPerson:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        e = await tx.session.get(Employee, employee_id) if employee_id else None
        if e is None or e.enterprise_id != enterprise_id or e.status != "active":
            raise NotFound("员工不存在或未在职", code="employee_not_found")
        return RosterPerson(e.id, e.name, e.phone, mask_phone(e.phone), e.position or "")


def suggested_values(version: service.VersionView, party: Party) -> dict[str, str]:
    """Sender fields of the person role that the picked employee already answers."""
    person = first_person(version.roles)
    out: dict[str, str] = {}
    for f in version.fields:
        if f.filler != "sender" or f.role != person.key:
            continue
        if f.kind == "phone":
            out[f.key] = party.phone
        elif f.kind == "text" and ("姓名" in f.label or "劳动者" in f.label
                                   or f.key.endswith("name")):
            out[f.key] = party.name
    return out


# ---------------------------------------------------------------- employee fills


@dataclass(frozen=True)
class FillForm:
    contract_id: str
    title: str
    fields: list[Field]


def _pending_fields(link: TemplateContract) -> list[Field]:
    # The boxes are in points already; only the page matters to a Field here.
    return [Field(f["key"], f["kind"], f["label"], "", "employee", bool(f["required"]),
                  float(f["font_size"]), f.get("format", ""),
                  tuple(Placement(int(b[0]), 0, 0, 0, 0) for b in f["boxes"]),
                  f.get("default", ""))
            for f in link.employee_fields]


async def _employee_link(tx: Tx, user_id: str, contract_id: str, *, lock: bool = False
                         ) -> tuple[Contract, TemplateContract | None, ContractSigner | None]:
    contract = await common.load_contract(tx, contract_id, lock=lock)
    link = await tx.session.get(TemplateContract, contract_id)
    if link is None or link.employee_signer_id is None:
        return contract, None, None
    signer = await tx.session.get(ContractSigner, link.employee_signer_id)
    user = await tx.session.get(User, user_id)
    if signer is None or user is None or not common.is_person_signer(signer, user):
        return contract, None, None
    return contract, link, signer


async def fill_form(deps: Deps, user_id: str, contract_id: str) -> FillForm | None:
    """The fields this user still has to fill in before signing, or None."""
    async with deps.db.transaction() as tx:
        contract, link, _ = await _employee_link(tx, user_id, contract_id)
        if link is None or contract.state != ContractState.IN_PROGRESS:
            return None
        return FillForm(contract.id, contract.title, _pending_fields(link))


async def fill_employee_fields(deps: Deps, user_id: str, contract_id: str,
                               raw: dict[str, object], meta: RequestMeta) -> None:
    """Write the employee's values into the contract (a new document version, before any
    signature) and let them sign."""
    async with deps.db.transaction() as tx:
        contract, link, _ = await _employee_link(tx, user_id, contract_id)
        if link is None:
            raise PermissionDenied("没有需要您填写的内容", code="nothing_to_fill")
        if contract.state != ContractState.IN_PROGRESS:
            raise Conflict("合同当前不能填写", code="contract_not_signable")
        doc = await common.load_document(tx, contract_id)
        if doc.signature_count:
            raise Conflict("合同已有签名，不能再填写", code="contract_already_signed")
        fields = _pending_fields(link)
        pending, key, sha = list(link.employee_fields), doc.file_key, doc.current_sha256
    values = {f.key: clean_value(f, raw.get(f.key, f.default)) for f in fields}
    stamps = [
        Stamp(int(b[0]), (float(b[1]), float(b[2]), float(b[3]), float(b[4])),
              "" if spec["kind"] == "checkbox" else values[spec["key"]],
              float(spec["font_size"]), check=spec["kind"] == "checkbox")
        for spec in pending if values.get(spec["key"]) for b in spec["boxes"]
    ]
    filled = await _fill(deps, key, sha, stamps)
    new_key, digest = await asyncio.to_thread(
        lambda: (common.store(deps).put(common.FILE_AREA, filled, "pdf"), sha256_hex(filled)))
    try:
        async with deps.db.transaction() as tx:
            contract, link, _ = await _employee_link(tx, user_id, contract_id, lock=True)
            doc = await common.load_document(tx, contract_id, lock=True)
            if link is None or doc.current_sha256 != sha or doc.signature_count:
                raise Conflict("合同已被更新，请刷新后重试", code="contract_changed")
            now = deps.clock.now()
            doc.file_key, doc.current_sha256, doc.size = new_key, digest, len(filled)
            doc.version, doc.updated_at = doc.version + 1, now
            tx.session.add(DocumentHash(sha256=digest, contract_id=contract.id,
                                        version=doc.version, kind="filled", created_at=now))
            link.employee_signer_id, link.employee_filled_at = None, now
            contract.updated_at = now
            await common.log(tx, deps, "contract.fields_filled", contract, actor_id=user_id,
                             data={"fields": sorted(k for k, v in values.items() if v),
                                   "document_sha256": digest}, meta=meta)
    except BaseException:
        await asyncio.to_thread(common.store(deps).delete, new_key)
        raise


async def contract_origin(deps: Deps, contract_id: str) -> tuple[str, int] | None:
    """(template id, version) a contract came from; no permission check: callers check
    theirs on the contract first."""
    async with deps.db.transaction() as tx:
        link = await tx.session.get(TemplateContract, contract_id)
        return None if link is None else (link.template_id, link.version)

