"""The enterprise's contract ledger (合同台账, PRODUCT C3/B3): every contract of one
enterprise that the member may see, searched, filtered, sorted, paged and exported.

Who sees what (one SQL condition, `visible`, used by the list, the count and the export):
- the main admin: everything;
- everyone else: the contracts they started, handle (hold the seal of the enterprise row,
  or sealed it) or are copied on (抄送); with `contracts.view` also every contract that is
  not confidential;
- a member limited to some business types (given any on the member page) sees only
  contracts of those types, whatever the rule above says.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true

from core.clock import LOCAL_ZONE
from core.context import Deps
from core.contracts import common
from core.contracts.states import (
    CONTRACT_LABELS,
    ContractState,
    SignerState,
    signer_label,
)
from core.contracts.urging import next_urge_at, wait_label
from core.cpu import run_cpu
from core.crypto import mask_phone
from core.enterprise import roles
from core.enterprise.departments import all_departments, flatten
from core.errors import InvalidInput
from storage.models import (
    BusinessType,
    Contract,
    ContractCc,
    ContractSigner,
    Department,
    Employee,
    Member,
    Template,
    TemplateContract,
    User,
)
from storage.uow import Tx

STATES = {
    "all": "全部",
    "to_seal": "待我盖章",
    "draft": "草稿",
    "in_progress": "签署中",
    "completed": "已完成",
    "ended": "已作废",
    "rejected": "已拒签",
    "revoked": "已撤销",
    "expired": "已过期",
    "archived": "已归档（纸质）",
}
SORTS = {"sent": "发起时间", "deadline": "截止时间", "title": "合同名称"}
ORDERS = ("desc", "asc")
PER_PAGE = (20, 50, 100)
MAX_PAGE = 10_000
MAX_QUERY = 50
EXPORT_LIMIT = 10_000
EXPORT_BATCH = 500
MAX_TEMPLATE_CHOICES = 500


@dataclass(frozen=True)
class LedgerQuery:
    """Search and filters. Dates are Beijing calendar days, both ends included."""

    q: str = ""
    state: str = "all"
    business_type_id: str | None = None
    department_id: str | None = None
    sent_from: date | None = None
    sent_to: date | None = None
    deadline_after: date | None = None
    deadline_before: date | None = None
    # Contracts sent from this template (TemplateContract.template_id).
    template_id: str | None = None
    sort: str = "sent"
    order: str = "desc"
    page: int = 1
    per_page: int = 20

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string that gives this query (with changes): for page links."""
        q = replace(self, **changes)
        out = {
            "q": q.q, "state": "" if q.state == "all" else q.state,
            "type": q.business_type_id or "", "dept": q.department_id or "",
            "sent_from": q.sent_from.isoformat() if q.sent_from else "",
            "sent_to": q.sent_to.isoformat() if q.sent_to else "",
            "deadline_after": q.deadline_after.isoformat() if q.deadline_after else "",
            "deadline_before": q.deadline_before.isoformat() if q.deadline_before else "",
            "template": q.template_id or "",
            "sort": "" if q.sort == "sent" else q.sort,
            "order": "" if q.order == "desc" else q.order,
            "page": "" if q.page == 1 else str(q.page),
            "per_page": "" if q.per_page == 20 else str(q.per_page),
        }
        return {k: v for k, v in out.items() if v}


def _date(params: Mapping[str, str], name: str, label: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label}应为日期，如 2026-01-31", code="invalid_date",
                           field=name) from None


def _int(params: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    value = (params.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit() or len(value) > 6 or not 1 <= int(value) <= maximum:
        raise InvalidInput(f"{name} 须为 1 到 {maximum} 之间的整数", code="invalid_page",
                           field=name)
    return int(value)


def _id(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if len(value) > 32 or not value.isalnum():
        raise InvalidInput("筛选条件无效", code="invalid_filter", field=name)
    return value


def parse_query(params: Mapping[str, str]) -> LedgerQuery:
    """The ledger's query from a query string (the console page and the API share it)."""
    q = common.check_search(params.get("q") or "", MAX_QUERY)
    state = (params.get("state") or params.get("tab") or "all").strip()
    if state not in STATES:
        raise InvalidInput("合同状态无效", code="invalid_state", field="state")
    sort = (params.get("sort") or "sent").strip()
    if sort not in SORTS:
        raise InvalidInput("排序方式无效", code="invalid_sort", field="sort")
    order = (params.get("order") or "desc").strip()
    if order not in ORDERS:
        raise InvalidInput("排序方向无效", code="invalid_sort", field="order")
    per_page = _int(params, "per_page", 20, max(PER_PAGE))
    if per_page not in PER_PAGE:
        raise InvalidInput("每页条数只能是 20、50 或 100", code="invalid_page",
                           field="per_page")
    query = LedgerQuery(
        q=q, state=state, business_type_id=_id(params, "type"),
        department_id=_id(params, "dept"),
        sent_from=_date(params, "sent_from", "发起日期"),
        sent_to=_date(params, "sent_to", "发起日期"),
        deadline_after=_date(params, "deadline_after", "截止日期"),
        deadline_before=_date(params, "deadline_before", "截止日期"),
        template_id=_id(params, "template"), sort=sort, order=order,
        page=_int(params, "page", 1, MAX_PAGE), per_page=per_page,
    )
    if query.sent_from and query.sent_to and query.sent_from > query.sent_to:
        raise InvalidInput("发起日期的开始不能晚于结束", code="invalid_date", field="sent_from")
    return query


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), LOCAL_ZONE).astimezone(UTC)


@dataclass(frozen=True)
class Scope:
    """The member's view of one enterprise: the actor and the seals they hold."""

    actor: roles.Actor
    user: User
    seal_ids: frozenset[str]


async def scope_of(tx: Tx, user_id: str, enterprise_id: str) -> Scope:
    actor = await roles.actor_for(tx, user_id, enterprise_id)  # NotFound for outsiders
    user = await common.load_user(tx, user_id)
    return Scope(actor, user, frozenset(await common.sealer_scope(tx, user_id)))


def visible(scope: Scope) -> ColumnElement[bool]:
    """Which of the enterprise's contracts the member sees (module docstring)."""
    actor, user = scope.actor, scope.user
    if actor.is_main_admin:
        return true()
    handled = select(ContractSigner.contract_id).where(
        ContractSigner.party == "enterprise",
        ContractSigner.enterprise_id == actor.enterprise_id,
        or_(common.sealer_condition(set(scope.seal_ids)),
            ContractSigner.signed_by == user.id))
    copied = select(ContractCc.contract_id).where(common.cc_condition(user))
    own = or_(Contract.initiator_id == user.id, Contract.id.in_(handled),
              Contract.id.in_(copied))
    cond: ColumnElement[bool] = own
    if actor.can(roles.CONTRACTS_VIEW):
        cond = or_(Contract.confidential.is_(False), own)
    if actor.type_limited:
        cond = and_(cond, Contract.business_type_id.in_(actor.business_type_ids))
    return cond


async def _conditions(tx: Tx, scope: Scope, query: LedgerQuery, now: datetime
                      ) -> list[ColumnElement[bool]]:
    """The SQL conditions of a query. States are read as the lists show them: in progress
    past the deadline counts as expired (common.effective_state)."""
    ent_id = scope.actor.enterprise_id
    conds: list[ColumnElement[bool]] = [Contract.enterprise_id == ent_id, visible(scope)]
    if query.q:
        like = common.like_pattern(query.q)
        signers = select(ContractSigner.contract_id).join(
            Contract, Contract.id == ContractSigner.contract_id).where(
            Contract.enterprise_id == ent_id,
            or_(ContractSigner.name.ilike(like, escape="\\"),
                ContractSigner.phone.like(like, escape="\\")))
        conds.append(or_(Contract.title.ilike(like, escape="\\"),
                         Contract.number.ilike(like, escape="\\"),
                         Contract.id.in_(signers)))
    if query.state == "to_seal":
        todo = select(ContractSigner.contract_id).where(
            ContractSigner.enterprise_id == ent_id,
            common.sealer_condition(set(scope.seal_ids)),
            ContractSigner.state == SignerState.PENDING)
        conds += [common.live_condition(now), Contract.id.in_(todo)]
    elif query.state == "ended":
        conds.append(common.ended_condition(now))
    elif query.state != "all":
        conds.append(common.state_condition(query.state, now))
    if query.business_type_id:
        conds.append(Contract.business_type_id == query.business_type_id)
    if query.template_id:
        from_template = select(TemplateContract.contract_id).join(
            Template, Template.id == TemplateContract.template_id).where(
            Template.enterprise_id == ent_id, Template.id == query.template_id)
        conds.append(Contract.id.in_(from_template))
    if query.department_id:
        depts = await all_departments(tx, ent_id)
        ids = _subtree(depts, query.department_id)
        if not ids:
            conds.append(false())
        else:
            phones = select(Employee.phone).where(Employee.enterprise_id == ent_id,
                                                  Employee.department_id.in_(ids))
            people = select(ContractSigner.contract_id).join(
                Contract, Contract.id == ContractSigner.contract_id).where(
                Contract.enterprise_id == ent_id, ContractSigner.party == "person",
                ContractSigner.phone.in_(phones))
            conds.append(Contract.id.in_(people))
    if query.sent_from:
        conds.append(Contract.sent_at >= _day_start(query.sent_from))
    if query.sent_to:
        conds.append(Contract.sent_at < _day_start(query.sent_to + timedelta(days=1)))
    if query.deadline_after:
        conds.append(Contract.deadline >= _day_start(query.deadline_after))
    if query.deadline_before:
        conds.append(Contract.deadline < _day_start(query.deadline_before + timedelta(days=1)))
    return conds


def _subtree(depts: list[Department], root: str) -> list[str]:
    if not any(d.id == root for d in depts):
        return []
    children: dict[str | None, list[str]] = {}
    for d in depts:
        children.setdefault(d.parent_id, []).append(d.id)
    out, todo = [], [root]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _ordering(query: LedgerQuery) -> list[Any]:
    desc = query.order == "desc"
    if query.sort == "deadline":
        # Contracts without a deadline come last either way.
        key: Any = Contract.deadline
        keys = [Contract.deadline.is_(None), key.desc() if desc else key.asc()]
    elif query.sort == "title":
        keys = [Contract.title.desc() if desc else Contract.title.asc()]
    else:
        sent = func.coalesce(Contract.sent_at, Contract.created_at)
        keys = [sent.desc() if desc else sent.asc()]
    return [*keys, Contract.created_at.desc(), Contract.id]


@dataclass(frozen=True)
class LedgerItem:
    id: str
    number: str
    title: str
    state: str
    state_label: str
    business_type_id: str | None
    business_type: str
    confidential: bool
    signers: str  # "张三 已签署、企业 待签署"
    signed: int
    total: int
    signer_names: str  # the person signers: "张三、李四"
    signer_phones: str  # masked
    departments: str  # of the person signers who are employees
    cc: str
    initiator_name: str
    created_at: datetime
    sent_at: datetime | None
    deadline: datetime | None
    completed_at: datetime | None
    url: str
    # For the sending side (the initiator, or a member with contracts.send): urge (催办)
    # now, or the words saying when it can again; revoke (撤销).
    can_urge: bool = False
    urge_label: str | None = None
    next_urge_at: datetime | None = None
    can_revoke: bool = False

    @property
    def manageable(self) -> bool:
        return self.can_urge or bool(self.urge_label) or self.can_revoke


@dataclass(frozen=True)
class LedgerPage:
    query: LedgerQuery
    items: list[LedgerItem]
    total: int
    pages: int
    may_send: bool
    may_export: bool = True

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.query.page > 1

    @property
    def can_manage(self) -> bool:
        """Some row on this page can be urged or revoked (the list shows check boxes)."""
        return any(i.manageable for i in self.items)


async def _items(tx: Tx, scope: Scope, contracts: list[Contract], now: datetime
                 ) -> list[LedgerItem]:
    ent_id = scope.actor.enterprise_id
    ids = [c.id for c in contracts] or [""]
    signers = list((await tx.session.execute(
        select(ContractSigner).where(ContractSigner.contract_id.in_(ids))
        .order_by(ContractSigner.sign_order, ContractSigner.created_at))).scalars())
    ccs = list((await tx.session.execute(
        select(ContractCc.contract_id, ContractCc.name).where(ContractCc.contract_id.in_(ids))
        .order_by(ContractCc.created_at, ContractCc.phone))).all())
    names = dict((await tx.session.execute(
        select(Member.user_id, Member.display_name).where(
            Member.enterprise_id == ent_id,
            Member.user_id.in_({c.initiator_id for c in contracts} or {""})))).all())
    types = dict((await tx.session.execute(
        select(BusinessType.id, BusinessType.name).where(
            BusinessType.enterprise_id == ent_id))).all())
    phones = {s.phone for s in signers if s.party == "person" and s.phone}
    dept_of_phone: dict[str, str] = {}
    if phones:
        paths = {d.id: d.path for d in flatten(await all_departments(tx, ent_id))}
        for phone, dept_id in (await tx.session.execute(
                select(Employee.phone, Employee.department_id).where(
                    Employee.enterprise_id == ent_id, Employee.phone.in_(phones),
                    Employee.department_id.is_not(None)))).all():
            if dept_id in paths:
                dept_of_phone.setdefault(phone, paths[dept_id])
    by_contract: dict[str, list[ContractSigner]] = {}
    for s in signers:
        by_contract.setdefault(s.contract_id, []).append(s)
    cc_of: dict[str, list[str]] = {}
    for cid, name in ccs:
        cc_of.setdefault(cid, []).append(name)
    may_edit = scope.actor.can(roles.CONTRACTS_SEND)
    out = []
    for c in contracts:
        rows = by_contract.get(c.id, [])
        people = [s for s in rows if s.party == "person"]
        draft = c.state == ContractState.DRAFT
        state = common.effective_state(c, now)
        # As common.require_manager decides (urge and revoke check it again).
        manages = c.initiator_id == scope.user.id or (
            may_edit and scope.actor.sees_type(c.business_type_id)
            and (scope.actor.is_main_admin or not c.confidential))
        urge_at = next_urge_at(c, rows, now) if manages else None
        out.append(LedgerItem(
            id=c.id, number=c.number or "", title=c.title, state=state,
            state_label=CONTRACT_LABELS[state],
            business_type_id=c.business_type_id,
            business_type=types.get(c.business_type_id or "", ""),
            confidential=bool(c.confidential),
            signers="、".join(
                f"{'企业' if s.party == 'enterprise' else s.name} "
                f"{signer_label(s.state, state)}" for s in rows),
            signed=sum(1 for s in rows if s.state == SignerState.SIGNED), total=len(rows),
            signer_names="、".join(s.name for s in people),
            signer_phones="、".join(mask_phone(s.phone) for s in people if s.phone),
            departments="、".join(dict.fromkeys(
                dept_of_phone[s.phone] for s in people if s.phone in dept_of_phone)),
            cc="、".join(cc_of.get(c.id, [])),
            initiator_name=names.get(c.initiator_id) or "",
            created_at=c.created_at, sent_at=c.sent_at, deadline=c.deadline,
            completed_at=c.completed_at,
            url=(f"/console/contracts/{c.id}/edit" if draft and may_edit
                 else f"/console/e/{ent_id}/archive/{c.id}"
                 if state == ContractState.ARCHIVED else f"/contracts/{c.id}"),
            can_urge=urge_at is not None and urge_at <= now,
            urge_label=wait_label(urge_at, now) if urge_at and urge_at > now else None,
            next_urge_at=urge_at,
            can_revoke=manages and state in (ContractState.DRAFT, ContractState.IN_PROGRESS),
        ))
    return out


async def ledger(deps: Deps, user_id: str, enterprise_id: str,
                 query: LedgerQuery | None = None) -> LedgerPage:
    """One page of the ledger and the number of contracts that match."""
    query = query or LedgerQuery()
    now = deps.clock.now()
    async with deps.db.reading() as tx:
        scope = await scope_of(tx, user_id, enterprise_id)
        conds = await _conditions(tx, scope, query, now)
        total = (await tx.session.execute(
            select(func.count()).select_from(Contract).where(*conds))).scalar_one()
        pages = max(1, -(-total // query.per_page))
        contracts = list((await tx.session.execute(
            select(Contract).where(*conds).order_by(*_ordering(query))
            .offset((query.page - 1) * query.per_page).limit(query.per_page))).scalars())
        items = await _items(tx, scope, contracts, now)
    return LedgerPage(query, items, total, pages, scope.actor.can(roles.CONTRACTS_SEND))


# ---------------------------------------------------------------- choices for the filters


@dataclass(frozen=True)
class Choice:
    id: str
    name: str


@dataclass(frozen=True)
class LedgerChoices:
    business_types: list[Choice] = field(default_factory=list)
    departments: list[Choice] = field(default_factory=list)
    templates: list[Choice] = field(default_factory=list)


async def choices(deps: Deps, user_id: str, enterprise_id: str) -> LedgerChoices:
    """The business types the member may see, the departments and the enterprise's
    templates (of those types), for the filter form (and the business type picker when
    sending)."""
    async with deps.db.reading() as tx:
        actor = await roles.actor_for(tx, user_id, enterprise_id)
        types = list((await tx.session.execute(
            select(BusinessType).where(BusinessType.enterprise_id == enterprise_id)
            .order_by(BusinessType.created_at, BusinessType.name))).scalars())
        depts = flatten(await all_departments(tx, enterprise_id))
        templates = list((await tx.session.execute(
            select(Template.id, Template.name, Template.business_type).where(
                Template.enterprise_id == enterprise_id)
            .order_by(Template.name, Template.id).limit(MAX_TEMPLATE_CHOICES))).all())
    type_of_name = {b.name: b.id for b in types}
    return LedgerChoices(
        [Choice(b.id, b.name) for b in roles.sort_business_types(types)
         if actor.sees_type(b.id)],
        [Choice(d.id, ("　" * d.depth) + d.name) for d in depts],
        [Choice(tid, name) for tid, name, btype in templates
         if actor.sees_type(type_of_name.get(btype))],
    )


# ---------------------------------------------------------------- export

EXPORT_HEADER = ("合同编号", "合同名称", "业务类型", "状态", "签署方", "个人签署人", "手机号",
                 "部门", "抄送", "保密", "发起人", "发起时间", "截止时间", "完成时间")


def _local(value: datetime | None) -> str:
    return value.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M") if value else ""


def export_row(item: LedgerItem) -> tuple[str, ...]:
    """One row of the export: masked phones, never an ID number."""
    return (item.number, item.title, item.business_type, item.state_label, item.signers,
            item.signer_names, item.signer_phones, item.departments, item.cc,
            "是" if item.confidential else "否", item.initiator_name,
            _local(item.sent_at or item.created_at), _local(item.deadline),
            _local(item.completed_at))


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ would be a formula in a spreadsheet (CSV/formula
    # injection); text it is.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def build_workbook(rows: list[tuple[str, ...]]) -> bytes:
    """The .xlsx (write-only mode: memory stays flat whatever the row count). Runs in
    the CPU pool."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("合同台账")
    widths = (18, 30, 12, 8, 36, 16, 16, 16, 16, 6, 10, 17, 17, 17)
    for i, w in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = w
    ws.append(list(EXPORT_HEADER))
    for row in rows:
        ws.append([_safe_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Export:
    filename: str
    data: bytes
    rows: int


async def export(deps: Deps, user_id: str, enterprise_id: str, query: LedgerQuery) -> Export:
    """The filtered ledger (every page, in the chosen order) as .xlsx, at most
    EXPORT_LIMIT rows; read in batches, written in the CPU pool."""
    rows: list[tuple[str, ...]] = []
    now = deps.clock.now()
    async with deps.db.reading() as tx:
        scope = await scope_of(tx, user_id, enterprise_id)
        conds = await _conditions(tx, scope, query, now)
        total = (await tx.session.execute(
            select(func.count()).select_from(Contract).where(*conds))).scalar_one()
        if total > EXPORT_LIMIT:
            raise InvalidInput(
                f"一次最多导出 {EXPORT_LIMIT} 份合同（当前 {total} 份），请缩小筛选范围",
                code="export_too_large")
        for offset in range(0, total, EXPORT_BATCH):
            contracts = list((await tx.session.execute(
                select(Contract).where(*conds).order_by(*_ordering(query))
                .offset(offset).limit(EXPORT_BATCH))).scalars())
            rows.extend(export_row(i) for i in await _items(tx, scope, contracts, now))
    data = await run_cpu(build_workbook, rows)
    stamp = deps.clock.now().astimezone(LOCAL_ZONE).strftime("%Y%m%d%H%M")
    return Export(f"合同台账-{stamp}.xlsx", data, len(rows))
