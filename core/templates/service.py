"""Template verbs (C1, E2): create (from a PDF, or a Word .docx converted by
core/templates/docx.py), import the model text, edit roles and fields, replace the
document, check the labour-law clauses, publish immutable versions, list them, page
images.

Every verb checks the member's permission first: `templates.manage` to change a template,
`templates.manage` or `contracts.send` to read one (a sender picks published templates).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core import audit
from core.context import Deps, RequestMeta
from core.contracts import pages
from core.contracts.engine import PdfInfo, inspect_pdf
from core.contracts.send import check_filename, check_size
from core.cpu import run_cpu
from core.crypto import sha256_hex
from core.enterprise import roles as R
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.files import file_store, read_verified
from core.templates import docx, lawcheck
from core.templates.fields import (
    BUSINESS_TYPES,
    LABOUR_CONTRACT,
    Field,
    Role,
    check_ready,
    fields_of,
    parse_fields,
    parse_roles,
    roles_of,
)
from core.templates.fill import pdf_text
from core.templates.model import model_template
from storage.models import BusinessType, Template, TemplateVersion
from storage.uow import Tx

FILE_AREA = "templates"
MAX_TEMPLATES = 500
DEFAULT_ROLES: list[dict[str, Any]] = [
    {"key": "ent", "party": "enterprise", "name": "甲方", "order": 2},
    {"key": "emp", "party": "person", "name": "乙方", "order": 1},
]
STATE_LABELS = {"draft": "草稿", "published": "已发布"}


@dataclass(frozen=True)
class TemplateView:
    id: str
    enterprise_id: str
    name: str
    business_type: str
    state: str
    state_label: str
    filename: str
    sha256: str
    page_sizes: list[tuple[float, float]]
    roles: list[Role]
    fields: list[Field]
    published_version: int
    dirty: bool
    updated_at: datetime

    @property
    def page_count(self) -> int:
        return len(self.page_sizes)


@dataclass(frozen=True)
class VersionView:
    id: str
    template_id: str
    version: int
    name: str
    business_type: str
    sha256: str
    page_sizes: list[tuple[float, float]]
    roles: list[Role]
    fields: list[Field]
    law_check: dict[str, Any] | None
    published_at: datetime
    file_key: str


def _sizes(raw: list[Any]) -> list[tuple[float, float]]:
    return [(float(w), float(h)) for w, h in raw]


def _view(t: Template) -> TemplateView:
    return TemplateView(t.id, t.enterprise_id, t.name, t.business_type, t.state,
                        STATE_LABELS.get(t.state, t.state), t.filename, t.sha256,
                        _sizes(t.page_sizes), roles_of(t.roles), fields_of(t.fields),
                        t.published_version, t.dirty, t.updated_at)


def version_view(v: TemplateVersion) -> VersionView:
    return VersionView(v.id, v.template_id, v.version, v.name, v.business_type, v.sha256,
                       _sizes(v.page_sizes), roles_of(v.roles), fields_of(v.fields),
                       v.law_check, v.published_at, v.file_key)


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("请填写模板名称（100 字以内）", code="invalid_name", field="name")
    return name


def check_business_type(value: str) -> str:
    value = (value or "").strip()
    if value not in BUSINESS_TYPES:
        raise InvalidInput("请选择业务类型", code="invalid_business_type",
                           field="business_type")
    return value


async def require_manage(tx: Tx, user_id: str, enterprise_id: str) -> R.Actor:
    return await R.require_permission(tx, user_id, enterprise_id, R.TEMPLATES_MANAGE)


async def require_read(tx: Tx, user_id: str, enterprise_id: str) -> R.Actor:
    actor = await R.actor_for(tx, user_id, enterprise_id)
    if not (actor.can(R.TEMPLATES_MANAGE) or actor.can(R.CONTRACTS_SEND)):
        raise PermissionDenied("您没有“管理模板”或“发起合同”权限", code="permission_denied")
    return actor


async def business_type_ids(tx: Tx, enterprise_id: str) -> dict[str, str]:
    """The enterprise's business types by name: a template keeps the name, a contract the
    id."""
    return dict((await tx.session.execute(
        select(BusinessType.name, BusinessType.id).where(
            BusinessType.enterprise_id == enterprise_id))).all())


async def business_type_id(tx: Tx, enterprise_id: str, name: str) -> str | None:
    """The id of the enterprise's business type with this name (None when it has none)."""
    return (await business_type_ids(tx, enterprise_id)).get(name)


async def sees_business_type(tx: Tx, actor: R.Actor, name: str) -> bool:
    """A member limited to some business types sees only templates of those types (the
    ledger's rule, Actor.sees_type); a type the enterprise does not have is hidden from
    them."""
    if not actor.type_limited:
        return True
    return actor.sees_type(await business_type_id(tx, actor.enterprise_id, name))


async def _require_type(tx: Tx, actor: R.Actor, name: str) -> None:
    if not await sees_business_type(tx, actor, name):
        raise InvalidInput("您无权使用该业务类型", code="business_type_not_found",
                           field="business_type")


async def load(tx: Tx, enterprise_id: str, template_id: str, *, lock: bool = False,
               actor: R.Actor | None = None) -> Template:
    """One template of the enterprise; with `actor`, hidden (NotFound) from a member
    limited away from its business type."""
    if not template_id or len(template_id) > 32:
        raise NotFound("模板不存在", code="template_not_found")
    query = select(Template).where(Template.id == template_id,
                                   Template.enterprise_id == enterprise_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.session.execute(query)).scalar_one_or_none()
    if row is None or (actor is not None
                       and not await sees_business_type(tx, actor, row.business_type)):
        raise NotFound("模板不存在", code="template_not_found")
    return row


async def _log(tx: Tx, deps: Deps, action: str, t: Template, user_id: str,
               data: dict[str, Any] | None, meta: RequestMeta | None) -> None:
    await audit.record(tx, at=deps.clock.now(), action=action, actor_id=user_id,
                       tenant_id=t.enterprise_id, subject_type="template", subject_id=t.id,
                       data=data, meta=meta)


async def _store_pdf(deps: Deps, pdf: bytes) -> tuple[str, str, PdfInfo]:
    check_size(deps, pdf)
    info = await run_cpu(inspect_pdf, bytes(pdf), deps.config.signing.max_upload_bytes)

    def put() -> tuple[str, str]:
        return file_store(deps).put(FILE_AREA, pdf, "pdf"), sha256_hex(pdf)

    key, digest = await asyncio.to_thread(put)
    return key, digest, info


def _source(converted: bool) -> dict[str, str]:
    """What the audit record says about the upload: a .docx converted here, or a PDF."""
    return {"converted_from": "docx"} if converted else {}


async def _delete(deps: Deps, key: str) -> None:
    await asyncio.to_thread(file_store(deps).delete, key)


# ---------------------------------------------------------------- create


async def create_template(
    deps: Deps, user_id: str, enterprise_id: str, *, name: str, business_type: str,
    filename: str | None, pdf: bytes, meta: RequestMeta,
    roles: list[dict[str, Any]] | None = None, fields: list[dict[str, Any]] | None = None,
) -> str:
    name, business_type = check_name(name), check_business_type(business_type)
    role_list = parse_roles(roles if roles is not None else DEFAULT_ROLES)
    async with deps.db.transaction() as tx:
        await _require_type(tx, await require_manage(tx, user_id, enterprise_id),
                            business_type)
    pdf, filename, converted = await docx.as_pdf(deps, pdf, filename)
    key, digest, info = await _store_pdf(deps, pdf)
    try:
        field_list = parse_fields(fields or [], role_list, list(info.page_sizes))
        async with deps.db.transaction() as tx:
            await _require_type(tx, await require_manage(tx, user_id, enterprise_id),
                                business_type)
            count = (await tx.session.execute(
                select(func.count()).select_from(Template)
                .where(Template.enterprise_id == enterprise_id))).scalar_one()
            if count >= MAX_TEMPLATES:
                raise Conflict(f"模板数量已达上限（{MAX_TEMPLATES} 个）", code="too_many_templates")
            now = deps.clock.now()
            t = Template(
                enterprise_id=enterprise_id, name=name, business_type=business_type,
                state="draft", filename=check_filename(filename), file_key=key, sha256=digest,
                page_sizes=[[round(w, 2), round(h, 2)] for w, h in info.page_sizes],
                roles=[r.as_json() for r in role_list],
                fields=[f.as_json() for f in field_list], published_version=0, dirty=True,
                created_by=user_id, created_at=now, updated_at=now,
            )
            tx.session.add(t)
            await tx.session.flush()
            await _log(tx, deps, "template.created", t, user_id,
                       {"name": name, "business_type": business_type, "sha256": digest,
                        "pages": info.page_count, **_source(converted)}, meta)
            return t.id
    except BaseException:
        await _delete(deps, key)
        raise


async def import_model(deps: Deps, user_id: str, enterprise_id: str, *, name: str = "",
                       meta: RequestMeta) -> str:
    """A new 劳动合同 template from the 人社部 model text, its fields already placed."""
    model = await run_cpu(_model, deps.config.signing.font_path, deps.config.signing.font_index)
    return await create_template(
        deps, user_id, enterprise_id, name=name or "劳动合同（示范文本）",
        business_type=LABOUR_CONTRACT, filename="劳动合同示范文本.pdf", pdf=model[0],
        fields=model[1], meta=meta)


def _model(font_path: str, font_index: int) -> tuple[bytes, list[dict[str, Any]]]:
    m = model_template(font_path=font_path, font_index=font_index)
    return m.pdf, m.fields


def model_pdf_sync(font_path: str, font_index: int) -> bytes:
    """The model text's PDF alone (to replace a template's PDF with it)."""
    return model_template(font_path=font_path, font_index=font_index).pdf


async def model_pdf(deps: Deps) -> bytes:
    return await run_cpu(model_pdf_sync, deps.config.signing.font_path,
                         deps.config.signing.font_index)


# ---------------------------------------------------------------- read


async def list_templates(deps: Deps, user_id: str, enterprise_id: str, *,
                         published_only: bool = False) -> list[TemplateView]:
    async with deps.db.transaction() as tx:
        actor = await require_read(tx, user_id, enterprise_id)
        query = select(Template).where(Template.enterprise_id == enterprise_id)
        if published_only:
            query = query.where(Template.published_version > 0)
        rows = (await tx.session.execute(
            query.order_by(Template.updated_at.desc(), Template.id).limit(MAX_TEMPLATES)
        )).scalars().all()
        # A member limited to some business types sees the templates of those types.
        ids = await business_type_ids(tx, enterprise_id) if actor.type_limited else {}
        return [_view(t) for t in rows
                if not actor.type_limited or actor.sees_type(ids.get(t.business_type))]


async def get_template(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                       ) -> TemplateView:
    async with deps.db.transaction() as tx:
        actor = await require_read(tx, user_id, enterprise_id)
        return _view(await load(tx, enterprise_id, template_id, actor=actor))


async def list_versions(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                        ) -> list[VersionView]:
    async with deps.db.transaction() as tx:
        actor = await require_read(tx, user_id, enterprise_id)
        await load(tx, enterprise_id, template_id, actor=actor)
        rows = (await tx.session.execute(
            select(TemplateVersion).where(TemplateVersion.template_id == template_id)
            .order_by(TemplateVersion.version.desc()).limit(200)
        )).scalars().all()
        return [version_view(v) for v in rows]


async def latest_version(tx: Tx, enterprise_id: str, template_id: str,
                         actor: R.Actor | None = None) -> TemplateVersion:
    t = await load(tx, enterprise_id, template_id, actor=actor)
    if t.published_version < 1:
        raise Conflict("模板还没有发布，发布后才能用来发起合同", code="template_not_published")
    return (await tx.session.execute(
        select(TemplateVersion).where(TemplateVersion.template_id == template_id,
                                      TemplateVersion.version == t.published_version)
    )).scalar_one()


async def page_image(deps: Deps, user_id: str, enterprise_id: str, template_id: str,
                     page: int, width: int) -> bytes:
    async with deps.db.transaction() as tx:
        actor = await require_read(tx, user_id, enterprise_id)
        t = await load(tx, enterprise_id, template_id, actor=actor)
        key, digest, count = t.file_key, t.sha256, len(t.page_sizes)
    if not 0 <= page < count:
        raise InvalidInput("页码超出范围", code="page_out_of_range", field="page")
    return await pages.page_png(deps, key, digest, page, width)


async def template_pdf(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                       ) -> bytes:
    async with deps.db.transaction() as tx:
        actor = await require_read(tx, user_id, enterprise_id)
        t = await load(tx, enterprise_id, template_id, actor=actor)
        key, digest = t.file_key, t.sha256
    return await asyncio.to_thread(read_verified, file_store(deps), key, digest)


# ---------------------------------------------------------------- edit


async def update_template(
    deps: Deps, user_id: str, enterprise_id: str, template_id: str, *,
    name: str | None = None, business_type: str | None = None,
    roles: list[dict[str, Any]] | None = None, fields: list[dict[str, Any]] | None = None,
    meta: RequestMeta,
) -> TemplateView:
    """Change the draft: name, business type, roles and fields (all checked together)."""
    async with deps.db.transaction() as tx:
        actor = await require_manage(tx, user_id, enterprise_id)
        t = await load(tx, enterprise_id, template_id, lock=True, actor=actor)
        role_list = parse_roles(roles) if roles is not None else roles_of(t.roles)
        raw_fields = fields if fields is not None else t.fields
        field_list = parse_fields(raw_fields, role_list, _sizes(t.page_sizes))
        if name is not None:
            t.name = check_name(name)
        if business_type is not None:
            t.business_type = check_business_type(business_type)
            await _require_type(tx, actor, t.business_type)
        t.roles = [r.as_json() for r in role_list]
        t.fields = [f.as_json() for f in field_list]
        t.dirty, t.updated_at = True, deps.clock.now()
        await _log(tx, deps, "template.updated", t, user_id,
                   {"name": t.name, "business_type": t.business_type,
                    "fields": len(field_list), "roles": len(role_list)}, meta)
        return _view(t)


async def replace_pdf(deps: Deps, user_id: str, enterprise_id: str, template_id: str, *,
                      filename: str | None, pdf: bytes, meta: RequestMeta) -> TemplateView:
    """A new PDF (or a .docx, converted) under the same fields: positions are fractions of
    the page, so they stay where they were; a field on a page the new PDF no longer has is
    refused by name."""
    async with deps.db.transaction() as tx:
        actor = await require_manage(tx, user_id, enterprise_id)
        await load(tx, enterprise_id, template_id, actor=actor)
    pdf, filename, converted = await docx.as_pdf(deps, pdf, filename)
    key, digest, info = await _store_pdf(deps, pdf)
    try:
        async with deps.db.transaction() as tx:
            actor = await require_manage(tx, user_id, enterprise_id)
            t = await load(tx, enterprise_id, template_id, lock=True, actor=actor)
            lost = [f.label for f in fields_of(t.fields)
                    if any(p.page >= info.page_count for p in f.placements)]
            if lost:
                raise InvalidInput(
                    f"新文件只有 {info.page_count} 页，字段“{'、'.join(lost[:5])}”所在的页不存在，"
                    "请先移动或删除这些字段", code="fields_off_page", field="file")
            field_list = parse_fields(t.fields, roles_of(t.roles), list(info.page_sizes))
            old_key, old_used = t.file_key, await _key_in_versions(tx, t.id, t.file_key)
            t.file_key, t.sha256, t.filename = key, digest, check_filename(filename)
            t.page_sizes = [[round(w, 2), round(h, 2)] for w, h in info.page_sizes]
            t.fields = [f.as_json() for f in field_list]
            t.dirty, t.updated_at = True, deps.clock.now()
            await _log(tx, deps, "template.pdf_replaced", t, user_id,
                       {"sha256": digest, "pages": info.page_count, **_source(converted)},
                       meta)
            view = _view(t)
    except BaseException:
        await _delete(deps, key)
        raise
    if not old_used:
        await _delete(deps, old_key)
    return view


async def _key_in_versions(tx: Tx, template_id: str, key: str) -> bool:
    found = (await tx.session.execute(
        select(TemplateVersion.id).where(TemplateVersion.template_id == template_id,
                                         TemplateVersion.file_key == key).limit(1)
    )).scalar_one_or_none()
    return found is not None


# ---------------------------------------------------------------- check and publish


async def law_check(deps: Deps, user_id: str, enterprise_id: str, template_id: str
                    ) -> lawcheck.LawReport:
    pdf = await template_pdf(deps, user_id, enterprise_id, template_id)
    text = await run_cpu(pdf_text, pdf)
    return lawcheck.check_text(text)


class LawCheckFailed(Conflict):
    code = "law_check_failed"
    message = "劳动合同缺少《劳动合同法》第十七条规定的必备条款"
    report: lawcheck.LawReport | None = None

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self.report is not None:
            body["missing"] = [c.as_json() for c in self.report.missing]
        return body


async def publish(deps: Deps, user_id: str, enterprise_id: str, template_id: str, *,
                  meta: RequestMeta) -> tuple[int, lawcheck.LawReport | None]:
    """Freeze the draft as the next version. A 劳动合同 must pass the clause check first;
    the refusal names the missing clauses (LawCheckFailed.report)."""
    async with deps.db.transaction() as tx:
        actor = await require_manage(tx, user_id, enterprise_id)
        t = await load(tx, enterprise_id, template_id, actor=actor)
        check_ready(roles_of(t.roles), fields_of(t.fields))
        is_labour, sha = t.business_type == LABOUR_CONTRACT, t.sha256
    report = None
    if is_labour:
        report = await law_check(deps, user_id, enterprise_id, template_id)
        if not report.ok:
            names = "、".join(c.label for c in report.missing) or "正文（未能读取到文字）"
            err = LawCheckFailed(f"劳动合同缺少必备条款：{names}。请补充后再发布，"
                                 "或导入人社部劳动合同示范文本")
            err.report = report
            raise err
    async with deps.db.transaction() as tx:
        actor = await require_manage(tx, user_id, enterprise_id)
        t = await load(tx, enterprise_id, template_id, lock=True, actor=actor)
        if t.sha256 != sha or (t.business_type == LABOUR_CONTRACT) != is_labour:
            raise Conflict("模板刚被修改，请重新发布", code="template_changed")
        check_ready(roles_of(t.roles), fields_of(t.fields))
        if not t.dirty and t.published_version > 0:
            return t.published_version, report
        now = deps.clock.now()
        version = t.published_version + 1
        tx.session.add(TemplateVersion(
            template_id=t.id, enterprise_id=t.enterprise_id, version=version, name=t.name,
            business_type=t.business_type, filename=t.filename, file_key=t.file_key,
            sha256=t.sha256, page_sizes=t.page_sizes, roles=t.roles, fields=t.fields,
            law_check=report.as_json() if report else None, published_by=user_id,
            published_at=now,
        ))
        t.published_version, t.state, t.dirty, t.updated_at = version, "published", False, now
        await _log(tx, deps, "template.published", t, user_id,
                   {"version": version, "sha256": t.sha256,
                    "law_check": None if report is None else report.ok}, meta)
        return version, report
