"""Employees (B5): onboarding fields, onboarding, information collection, review, roster.

Status: collecting (信息采集中) → pending_review → active | rejected; rejected →
pending_review (the employee corrects through a fresh link); active → resigned.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select

from core import outbox
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher, mask_bank_card, mask_id_number
from core.enterprise import roles as R
from core.enterprise.common import cipher, log
from core.enterprise.departments import all_departments, flatten
from core.errors import Conflict, InvalidInput, NotFound
from core.integration import events
from core.sms import queue_sms
from core.statemachine import StateMachine
from core.validators import (
    check_person_name,
    normalize_email,
    normalize_id_card,
    normalize_phone,
)
from core.wechat.notify import notify_person
from storage.models import Employee, OnboardingTemplate
from storage.uow import Tx


class EmployeeStatus(StrEnum):
    COLLECTING = "collecting"
    PENDING_REVIEW = "pending_review"
    ACTIVE = "active"
    REJECTED = "rejected"
    RESIGNED = "resigned"


EMPLOYEE_SM = StateMachine(
    "employee",
    {
        EmployeeStatus.COLLECTING: frozenset(
            {EmployeeStatus.COLLECTING, EmployeeStatus.PENDING_REVIEW}
        ),
        EmployeeStatus.PENDING_REVIEW: frozenset(
            {EmployeeStatus.ACTIVE, EmployeeStatus.REJECTED}
        ),
        EmployeeStatus.REJECTED: frozenset(
            {EmployeeStatus.PENDING_REVIEW, EmployeeStatus.COLLECTING}
        ),
        EmployeeStatus.ACTIVE: frozenset({EmployeeStatus.RESIGNED}),
        EmployeeStatus.RESIGNED: frozenset(),
    },
)
STATUS_LABELS = {"collecting": "信息采集中", "pending_review": "待审核", "active": "在职",
                 "rejected": "已驳回", "resigned": "已离职"}

# The onboarding field catalogue: key → label. name and phone are always collected.
FIELDS: dict[str, str] = {
    "name": "姓名",
    "phone": "手机号",
    "id_number": "身份证号",
    "department": "部门",
    "position": "岗位",
    "start_date": "入职日期",
    "bank_card": "工资卡号",
    "emergency_contact": "紧急联系人",
    "emergency_phone": "紧急联系人电话",
    "address": "现住址",
    "email": "邮箱",
    "education": "学历",
}
ALWAYS = ("name", "phone")
COLUMN_FIELDS = ("name", "phone", "id_number", "department", "position", "start_date")
COLLECT_TTL = timedelta(days=7)
# A worker who joined by the onboarding QR and was approved gets the contract of the QR's
# template (E4): the job is core.templates.onboarding.deliver.
ONBOARDING_CONTRACT_KIND = "onboarding.contract"


# ---------------------------------------------------------------- validation


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip().replace("/", "-").replace(".", "-")
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if not m:
        raise ValueError("日期格式应为 2026-01-31")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError("日期无效") from None


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()[:limit]


def clean_values(
    raw: Mapping[str, object], enabled: Sequence[str], dept_lookup: Mapping[str, str],
    c: FieldCipher, *, require_all: bool,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate catalogue values → (column/field values, errors by field key).

    Pure (no database): used by onboarding, the collection form and the Excel import.
    """
    out: dict[str, Any] = {"fields": {}}
    errors: dict[str, str] = {}
    keys = [k for k in FIELDS if k in ALWAYS or k in enabled]
    for key in keys:
        value = raw.get(key)
        text = _text(value, 200) if not isinstance(value, date | datetime) else "x"
        if not text:
            if key == "department" and not dept_lookup:
                continue  # no departments yet: nothing to choose from
            if key in ALWAYS or require_all:
                errors[key] = f"请填写{FIELDS[key]}"
            continue
        try:
            if key == "name":
                out["name"] = check_person_name(text)
            elif key == "phone":
                out["phone"] = normalize_phone(text)
            elif key == "id_number":
                number = normalize_id_card(text)
                out.update(id_type="id_card", id_number_cipher=c.encrypt(number),
                           id_number_hash=c.lookup_hash(number),
                           id_number_masked=mask_id_number(number))
            elif key == "department":
                dept_id = dept_lookup.get(text)
                if dept_id is None:
                    raise ValueError(f"部门“{text}”不存在，请先在部门管理中添加")
                out["department_id"] = dept_id
            elif key == "position":
                out["position"] = text[:60]
            elif key == "start_date":
                out["start_date"] = parse_date(value)
            elif key == "bank_card":
                card = re.sub(r"\s", "", text)
                if not re.fullmatch(r"\d{12,19}", card):
                    raise ValueError("银行卡号应为 12–19 位数字")
                out["fields"]["bank_card_cipher"] = c.encrypt(card)
                out["fields"]["bank_card_masked"] = mask_bank_card(card)
            elif key == "emergency_phone":
                out["fields"][key] = normalize_phone(text)
            elif key == "email":
                out["fields"][key] = normalize_email(text)
            else:
                out["fields"][key] = text[:100]
        except InvalidInput as exc:
            errors[key] = exc.message
        except ValueError as exc:
            errors[key] = str(exc)
    return out, errors


def dept_lookup_for(depts: list[Any]) -> dict[str, str]:
    """Department ids, names and full paths (研发部/前端组) → id. Unique names only."""
    nodes = flatten(depts)
    lookup: dict[str, str] = {}
    name_count: dict[str, int] = {}
    for n in nodes:
        name_count[n.name] = name_count.get(n.name, 0) + 1
    for n in nodes:
        lookup[n.id] = n.id
        lookup[n.path] = n.id
        if name_count[n.name] == 1:
            lookup[n.name] = n.id
    return lookup


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class EmployeeView:
    id: str
    name: str
    phone: str
    id_number_masked: str | None
    department_id: str | None
    department: str | None
    position: str | None
    start_date: date | None
    resign_date: date | None
    status: str
    status_label: str
    reject_reason: str | None
    source: str
    fields: dict[str, str]
    created_at: datetime


def _view(e: Employee, dept_paths: Mapping[str, str]) -> EmployeeView:
    public = {k: str(v) for k, v in (e.fields or {}).items() if not k.endswith("_cipher")}
    return EmployeeView(
        e.id, e.name, e.phone, e.id_number_masked, e.department_id,
        dept_paths.get(e.department_id or ""), e.position, e.start_date, e.resign_date,
        e.status, STATUS_LABELS[e.status], e.reject_reason, e.source, public, e.created_at,
    )


async def _paths(tx: Tx, enterprise_id: str) -> dict[str, str]:
    return {n.id: n.path for n in flatten(await all_departments(tx, enterprise_id))}


async def _employee(tx: Tx, enterprise_id: str, employee_id: str) -> Employee:
    e = (
        await tx.session.execute(
            select(Employee).where(Employee.id == employee_id,
                                   Employee.enterprise_id == enterprise_id).with_for_update()
        )
    ).scalar_one_or_none()
    if e is None:
        raise NotFound("员工不存在", code="employee_not_found")
    return e


def _raise_errors(errors: dict[str, str]) -> None:
    if errors:
        key, message = next(iter(errors.items()))
        raise InvalidInput(message, code="invalid_employee", field=key)


async def _phone_taken(tx: Tx, enterprise_id: str, phone: str,
                       except_id: str | None = None) -> bool:
    query = select(Employee.id).where(Employee.enterprise_id == enterprise_id,
                                      Employee.phone == phone,
                                      Employee.status != EmployeeStatus.RESIGNED)
    if except_id:
        query = query.where(Employee.id != except_id)
    return (await tx.session.execute(query.limit(1))).first() is not None


def _apply(e: Employee, values: dict[str, Any]) -> None:
    fields = dict(e.fields or {})
    fields.update(values.pop("fields", {}))
    e.fields = fields
    for key, value in values.items():
        setattr(e, key, value)


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).hexdigest()


async def _send_link(tx: Tx, deps: Deps, e: Employee, ent_name: str, text: str) -> None:
    token, digest = _new_token()
    e.collect_token_hash = digest
    e.collect_expires_at = deps.clock.now() + COLLECT_TTL
    link = f"{deps.config.server.base_url.rstrip('/')}/collect/{token}"
    await queue_sms(tx, deps, e.phone, "notice", {"text": f"{text} {link}"}, sensitive=True)


# ---------------------------------------------------------------- settings


async def onboarding_fields(deps: Deps, user_id: str, enterprise_id: str) -> list[str]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_VIEW)
        ent = await R.load_enterprise(tx, enterprise_id)
        return [k for k in FIELDS if k in ALWAYS or k in (ent.onboarding_fields or [])]


async def set_onboarding_fields(deps: Deps, user_id: str, enterprise_id: str,
                                keys: Sequence[str], meta: RequestMeta) -> list[str]:
    unknown = [k for k in keys if k not in FIELDS]
    if unknown:
        raise InvalidInput("未知的入职字段", code="invalid_field", field="fields")
    chosen = [k for k in FIELDS if k in ALWAYS or k in keys]
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id, lock=True)
        ent.onboarding_fields = chosen
        await log(tx, deps, "employees.fields_set", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="enterprise", subject_id=ent.id,
                  data={"fields": chosen}, meta=meta)
        return chosen


# ---------------------------------------------------------------- onboarding


async def onboard_employee(
    deps: Deps, user_id: str, enterprise_id: str, raw: Mapping[str, object],
    meta: RequestMeta, *, send_link: bool = True,
) -> EmployeeView:
    """HR enters what they know; the employee completes the rest by the SMS link."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        depts = await all_departments(tx, enterprise_id)
        enabled = ent.onboarding_fields or []
        values, errors = clean_values(raw, enabled, dept_lookup_for(depts), cipher(deps),
                                      require_all=not send_link)
        _raise_errors(errors)
        if await _phone_taken(tx, enterprise_id, values["phone"]):
            raise Conflict("该手机号的员工已存在", code="employee_exists", field="phone")
        now = deps.clock.now()
        e = Employee(enterprise_id=enterprise_id, source="manual", created_at=now,
                     updated_at=now, fields={},
                     status=EmployeeStatus.COLLECTING if send_link
                     else EmployeeStatus.PENDING_REVIEW)
        _apply(e, values)
        tx.session.add(e)
        await tx.session.flush()
        if send_link:
            await _send_link(tx, deps, e, ent.name,
                             f"“{ent.name}”邀请您填写入职信息，请在 7 天内打开链接填写：")
        await log(tx, deps, "employee.onboarded", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="employee", subject_id=e.id,
                  data={"status": e.status}, meta=meta)
        return _view(e, {n.id: n.path for n in flatten(depts)})


async def send_collection_link(deps: Deps, user_id: str, enterprise_id: str,
                               employee_id: str, meta: RequestMeta) -> EmployeeView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        e = await _employee(tx, enterprise_id, employee_id)
        EMPLOYEE_SM.ensure(e.status, EmployeeStatus.COLLECTING)
        e.status = EmployeeStatus.COLLECTING
        await _send_link(tx, deps, e, ent.name, f"“{ent.name}”请您填写入职信息：")
        await log(tx, deps, "employee.link_sent", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="employee", subject_id=e.id,
                  meta=meta)
        return _view(e, await _paths(tx, enterprise_id))


@dataclass(frozen=True)
class CollectForm:
    enterprise_name: str
    fields: list[tuple[str, str]]
    values: dict[str, str]
    departments: list[tuple[str, str]]
    status: str
    reject_reason: str | None
    # shown, not editable: the phone the link went to; for someone who joined by QR code
    # with a verified account, also the name and ID number of that identity
    locked: tuple[str, ...] = ("phone",)


def _locked(e: Employee) -> tuple[str, ...]:
    return ("name", "phone", "id_number") if e.source == "qr" and e.user_id else ("phone",)


async def _by_token(tx: Tx, deps: Deps, token: str) -> Employee:
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    e = (
        await tx.session.execute(
            select(Employee).where(Employee.collect_token_hash == digest).with_for_update()
        )
    ).scalar_one_or_none()
    if (e is None or e.collect_expires_at is None or e.collect_expires_at <= deps.clock.now()
            or e.status not in (EmployeeStatus.COLLECTING, EmployeeStatus.REJECTED)):
        raise NotFound("链接已失效，请联系企业 HR 重新发送", code="collect_link_invalid")
    return e


async def collection_form(deps: Deps, token: str) -> CollectForm:
    async with deps.db.transaction() as tx:
        e = await _by_token(tx, deps, token)
        ent = await R.load_enterprise(tx, e.enterprise_id)
        enabled = [k for k in FIELDS if k in ALWAYS or k in (ent.onboarding_fields or [])]
        nodes = flatten(await all_departments(tx, e.enterprise_id))
        paths = {n.id: n.path for n in nodes}
        values = {"name": e.name, "phone": e.phone, "position": e.position or "",
                  "start_date": e.start_date.isoformat() if e.start_date else "",
                  "department": e.department_id or ""}
        values.update({k: str(v) for k, v in (e.fields or {}).items()
                       if k in FIELDS and k != "bank_card"})
        values["department_label"] = paths.get(e.department_id or "", "")
        locked = _locked(e)
        if "id_number" in locked:
            values["id_number"] = e.id_number_masked or ""
        return CollectForm(ent.name, [(k, FIELDS[k]) for k in enabled], values,
                           [(n.id, n.path) for n in nodes], e.status, e.reject_reason, locked)


async def submit_collection(deps: Deps, token: str, raw: Mapping[str, object],
                            meta: RequestMeta) -> str:
    """The employee's own submission (no login: the link is the credential, single use)."""
    async with deps.db.transaction() as tx:
        e = await _by_token(tx, deps, token)
        ent = await R.load_enterprise(tx, e.enterprise_id)
        depts = await all_departments(tx, e.enterprise_id)
        data = dict(raw)
        data["phone"] = e.phone  # the link was sent to this phone; it is not editable
        enabled = list(ent.onboarding_fields or [])
        if "id_number" in _locked(e):  # the verified identity stays as it is
            data["name"] = e.name
            enabled = [k for k in enabled if k != "id_number"]
        values, errors = clean_values(data, enabled, dept_lookup_for(depts), cipher(deps),
                                      require_all=True)
        _raise_errors(errors)
        EMPLOYEE_SM.ensure(e.status, EmployeeStatus.PENDING_REVIEW)
        _apply(e, values)
        e.status = EmployeeStatus.PENDING_REVIEW
        e.collect_token_hash, e.collect_expires_at = None, None
        e.updated_at = deps.clock.now()
        await log(tx, deps, "employee.info_submitted", actor_id=e.user_id,
                  enterprise_id=e.enterprise_id, subject_type="employee", subject_id=e.id,
                  meta=meta)
        return ent.name


# ---------------------------------------------------------------- review


def _event_data(e: Employee) -> dict[str, Any]:
    """An employee in a webhook event: who, not their ID number or phone."""
    return {"employee_id": e.id, "name": e.name, "status": str(e.status),
            "department_id": e.department_id, "position": e.position}


async def _queue_onboarding_contract(tx: Tx, deps: Deps, e: Employee) -> None:
    if e.source != "qr" or await tx.session.get(OnboardingTemplate, e.enterprise_id) is None:
        return
    await outbox.enqueue(tx, ONBOARDING_CONTRACT_KIND, {"employee_id": e.id},
                         now=deps.clock.now(), dedupe_key=f"onboarding-contract:{e.id}",
                         wakeup=deps.outbox_wakeup)


async def review_employee(deps: Deps, user_id: str, enterprise_id: str, employee_id: str,
                          *, approve: bool, reason: str = "",
                          meta: RequestMeta) -> EmployeeView:
    reason = (reason or "").strip()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_REVIEW)
        ent = await R.load_enterprise(tx, enterprise_id)
        e = await _employee(tx, enterprise_id, employee_id)
        if approve:
            EMPLOYEE_SM.ensure(e.status, EmployeeStatus.ACTIVE)
            e.status = EmployeeStatus.ACTIVE
            e.reject_reason = None
            # A WeChat template message when their account is bound, else SMS. (A
            # rejection goes by SMS only: its correction link is a credential, and SMS
            # parameters are scrubbed from the outbox once delivered.)
            await notify_person(
                tx, deps, phone=e.phone, user_id=e.user_id, event="review_result",
                title="入职审核通过", text=f"您在“{ent.name}”的入职信息已审核通过。",
                link=deps.config.server.base_url.rstrip("/") + "/",
                dedupe_key=f"employee-approved:{e.id}")
        else:
            if not 2 <= len(reason) <= 200:
                raise InvalidInput("请填写驳回原因", code="reason_required", field="reason")
            EMPLOYEE_SM.ensure(e.status, EmployeeStatus.REJECTED)
            e.status = EmployeeStatus.REJECTED
            e.reject_reason = reason
            await _send_link(tx, deps, e, ent.name,
                             f"您在“{ent.name}”的入职信息被驳回，原因：{reason}。请修改后重新提交：")
        e.updated_at = deps.clock.now()
        await log(tx, deps, "employee.approved" if approve else "employee.rejected",
                  actor_id=user_id, enterprise_id=enterprise_id, subject_type="employee",
                  subject_id=e.id, data={"reason": reason} if reason else None, meta=meta)
        if approve:
            await events.emit(tx, deps, enterprise_id, "employee.approved", _event_data(e))
            await _queue_onboarding_contract(tx, deps, e)
        return _view(e, await _paths(tx, enterprise_id))


async def approve_employees(deps: Deps, user_id: str, enterprise_id: str,
                            employee_ids: Sequence[str], meta: RequestMeta) -> int:
    """Approve several pending employees at once (no SMS per person for bulk approval)."""
    ids = list(dict.fromkeys(employee_ids))[:1000]
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_REVIEW)
        rows = (
            await tx.session.execute(
                select(Employee).where(Employee.enterprise_id == enterprise_id,
                                       Employee.id.in_(ids),
                                       Employee.status == EmployeeStatus.PENDING_REVIEW)
            )
        ).scalars().all()
        now = deps.clock.now()
        for e in rows:
            e.status, e.updated_at = EmployeeStatus.ACTIVE, now
            await events.emit(tx, deps, enterprise_id, "employee.approved", _event_data(e))
            await _queue_onboarding_contract(tx, deps, e)
        await log(tx, deps, "employee.bulk_approved", actor_id=user_id,
                  enterprise_id=enterprise_id, data={"count": len(rows)}, meta=meta)
        return len(rows)


# ---------------------------------------------------------------- roster


@dataclass(frozen=True)
class EmployeePage:
    items: list[EmployeeView]
    total: int
    offset: int
    limit: int


async def list_employees(
    deps: Deps, user_id: str, enterprise_id: str, *, statuses: Sequence[str] = ("active",),
    q: str = "", department_id: str | None = None, offset: int = 0, limit: int = 50,
) -> EmployeePage:
    limit = max(1, min(limit, 200))
    offset = max(0, offset)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_VIEW)
        cond = [Employee.enterprise_id == enterprise_id, Employee.status.in_(list(statuses))]
        q = (q or "").strip()
        if q:
            cond.append(or_(Employee.name.contains(q, autoescape=True),
                            Employee.phone.contains(q, autoescape=True),
                            Employee.position.contains(q, autoescape=True)))
        if department_id:
            cond.append(Employee.department_id == department_id)
        total = (
            await tx.session.execute(select(func.count()).select_from(Employee).where(*cond))
        ).scalar_one()
        rows = (
            await tx.session.execute(
                select(Employee).where(*cond)
                .order_by(Employee.created_at.desc(), Employee.name, Employee.id)
                .offset(offset).limit(limit)
            )
        ).scalars().all()
        paths = await _paths(tx, enterprise_id)
        return EmployeePage([_view(e, paths) for e in rows], total, offset, limit)


async def get_employee(deps: Deps, user_id: str, enterprise_id: str,
                       employee_id: str) -> EmployeeView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_VIEW)
        e = await _employee(tx, enterprise_id, employee_id)
        return _view(e, await _paths(tx, enterprise_id))


async def edit_employee(deps: Deps, user_id: str, enterprise_id: str, employee_id: str,
                        raw: Mapping[str, object], meta: RequestMeta) -> EmployeeView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        e = await _employee(tx, enterprise_id, employee_id)
        if e.status == EmployeeStatus.RESIGNED:
            raise Conflict("已离职员工不能编辑", code="employee_resigned")
        depts = await all_departments(tx, enterprise_id)
        values, errors = clean_values(raw, ent.onboarding_fields or [],
                                      dept_lookup_for(depts), cipher(deps), require_all=False)
        _raise_errors(errors)
        if await _phone_taken(tx, enterprise_id, values["phone"], except_id=e.id):
            raise Conflict("该手机号的员工已存在", code="employee_exists", field="phone")
        _apply(e, values)
        e.updated_at = deps.clock.now()
        await log(tx, deps, "employee.edited", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="employee", subject_id=e.id,
                  data={"fields": sorted(k for k in raw if k in FIELDS)}, meta=meta)
        return _view(e, await _paths(tx, enterprise_id))


async def transfer_department(deps: Deps, user_id: str, enterprise_id: str, employee_id: str,
                              department_id: str, meta: RequestMeta) -> EmployeeView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        e = await _employee(tx, enterprise_id, employee_id)
        if e.status != EmployeeStatus.ACTIVE:
            raise Conflict("仅在职员工可以调岗", code="employee_not_active")
        paths = await _paths(tx, enterprise_id)
        if department_id not in paths:
            raise InvalidInput("部门不存在", code="department_not_found", field="department_id")
        old, e.department_id = e.department_id, department_id
        e.updated_at = deps.clock.now()
        await log(tx, deps, "employee.transferred", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="employee", subject_id=e.id,
                  data={"from": old, "to": department_id}, meta=meta)
        return _view(e, paths)


async def resign_employee(deps: Deps, user_id: str, enterprise_id: str, employee_id: str,
                          resign_date: str, meta: RequestMeta) -> EmployeeView:
    try:
        when = parse_date(resign_date)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_date", field="resign_date") from None
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_MANAGE)
        e = await _employee(tx, enterprise_id, employee_id)
        EMPLOYEE_SM.ensure(e.status, EmployeeStatus.RESIGNED)
        if e.start_date and when < e.start_date:
            raise InvalidInput("离职日期不能早于入职日期", code="invalid_date",
                               field="resign_date")
        e.status, e.resign_date = EmployeeStatus.RESIGNED, when
        e.updated_at = deps.clock.now()
        await log(tx, deps, "employee.resigned", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="employee", subject_id=e.id,
                  data={"resign_date": when.isoformat()}, meta=meta)
        return _view(e, await _paths(tx, enterprise_id))
