"""Multi-document tasks (E5): several published templates sent to one person as one task
(contract + NDA + handbook acknowledgement). Each document stays its own contract with
its own PAdES-signed PDF; the person reads each on one page and confirms them all with
one SMS code (core.contracts.signing.request_sign_many / confirm_sign_many). They get one
notification for the task instead of one per document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core import outbox
from core.context import Deps, RequestMeta
from core.contracts import common
from core.contracts import send as contract_send
from core.contracts.states import CONTRACT_LABELS, ContractState, SignerState
from core.enterprise import roles as R
from core.enterprise.common import log as enterprise_log
from core.errors import Conflict, InvalidInput, NotFound
from core.sms import SMS_KIND
from core.templates import sending, service
from core.templates.batch import _check_batchable
from core.templates.fields import first_person
from core.templates.gate import fill_pending
from core.wechat.notify import NOTIFY_KIND, notify_person
from storage.models import (
    Contract,
    ContractSigner,
    Enterprise,
    SignTask,
    SignTaskItem,
    User,
)
from storage.uow import Tx

MIN_DOCS = 2
MAX_DOCS = 10


def task_link(deps: Deps, task_id: str) -> str:
    return f"{deps.config.server.base_url.rstrip('/')}/tasks/{task_id}"


async def send_task(
    deps: Deps, user_id: str, enterprise_id: str, template_ids: list[str], *,
    party: sending.Party, values: dict[str, dict[str, object]] | None = None,
    title: str = "", deadline: datetime | None = None, meta: RequestMeta,
) -> str:
    """Send several templates to one person as one task; every document is filled (and
    so checked) before the first one is sent."""
    ids = list(dict.fromkeys(str(t) for t in template_ids if t))
    if not MIN_DOCS <= len(ids) <= MAX_DOCS:
        raise InvalidInput(f"请选择 {MIN_DOCS} 到 {MAX_DOCS} 个模板", code="invalid_templates",
                           field="template_ids")
    values = values or {}
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        versions = [service.version_view(
            await service.latest_version(tx, enterprise_id, t, actor=actor)) for t in ids]
        type_ids = await service.business_type_ids(tx, enterprise_id)
    filled = []
    for v in versions:
        _check_batchable(v)
        person = first_person(v.roles)
        raw = {**sending.suggested_values(v, party), **(values.get(v.template_id) or {})}
        filled.append(await sending.fill_for_signers(deps, v, {person.key: party}, raw))
    who = filled[0].signers[filled[0].filler_index]
    title = (title or "").strip()[:100] or f"入职文件（{who.name}）"
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.CONTRACTS_SEND)
        task = SignTask(enterprise_id=enterprise_id, title=title, name=who.name,
                        phone=who.phone, created_by=user_id, created_at=deps.clock.now())
        tx.session.add(task)
        await tx.session.flush()
        task_id = task.id
    for position, f in enumerate(filled):
        record = sending.origin_recorder(deps, f)

        async def on_sent(tx: Tx, contract: Contract, rows: list[ContractSigner],
                          f: sending.FilledContract = f, position: int = position,
                          record: contract_send.OnSent = record) -> None:
            await record(tx, contract, rows)
            tx.session.add(SignTaskItem(task_id=task_id, contract_id=contract.id,
                                        position=position))
            # One notification for the task (below), not one per document.
            signer = rows[f.filler_index]
            await outbox.cancel(tx, SMS_KIND, f"sms:contract-turn:{signer.id}")
            await outbox.cancel(tx, NOTIFY_KIND, f"wx:contract-turn:{signer.id}")

        await contract_send.create_and_send(
            deps, user_id, enterprise_id, title=f"{f.version.name}（{who.name}）"[:100],
            filename=f"{f.version.name}.pdf", pdf=f.pdf, signers=f.signers,
            deadline=deadline, meta=meta, on_sent=on_sent,
            business_type_id=type_ids.get(f.version.business_type), produced=f.info)
    async with deps.db.transaction() as tx:
        ent = await tx.session.get(Enterprise, enterprise_id)
        user_of = (await tx.session.execute(
            select(User.id).where(User.phone == who.phone))).scalar_one_or_none()
        await notify_person(
            tx, deps, phone=who.phone, user_id=user_of, event="to_sign", title="合同待签署",
            text=f"{ent.name if ent else ''}邀请您签署{len(filled)}份文件，"
                 "请点击链接逐份阅读后一次签署：",
            link=task_link(deps, task_id), dedupe_key=f"task-turn:{task_id}")
        await enterprise_log(tx, deps, "contract.task_sent", actor_id=user_id,
                             enterprise_id=enterprise_id, subject_type="sign_task",
                             subject_id=task_id, data={"templates": ids}, meta=meta)
    return task_id


@dataclass(frozen=True)
class TaskDoc:
    contract_id: str
    title: str
    state: str
    state_label: str
    my_state: str  # pending | waiting | signing | signed | ''
    needs_fill: bool


@dataclass(frozen=True)
class TaskView:
    id: str
    title: str
    enterprise_name: str
    docs: list[TaskDoc]

    @property
    def signable(self) -> list[str]:
        return [d.contract_id for d in self.docs
                if d.my_state == SignerState.PENDING and not d.needs_fill
                and d.state == ContractState.IN_PROGRESS]

    @property
    def to_fill(self) -> list[TaskDoc]:
        return [d for d in self.docs if d.needs_fill and d.my_state == SignerState.PENDING]

    @property
    def done(self) -> bool:
        return all(d.my_state in (SignerState.SIGNING, SignerState.SIGNED) for d in self.docs)


async def view_task(deps: Deps, user_id: str, task_id: str) -> TaskView:
    """The task as its person sees it; anyone else gets 404."""
    async with deps.db.transaction() as tx:
        user = await common.load_user(tx, user_id)
        task = await tx.session.get(SignTask, task_id)
        if task is None:
            raise NotFound("签署任务不存在", code="task_not_found")
        items = (await tx.session.execute(
            select(SignTaskItem).where(SignTaskItem.task_id == task.id)
            .order_by(SignTaskItem.position))).scalars().all()
        docs: list[TaskDoc] = []
        mine = False
        for item in items:
            contract = await tx.session.get(Contract, item.contract_id)
            if contract is None:
                continue
            me = next((s for s in await common.signers_of(tx, contract.id)
                       if common.is_person_signer(s, user)), None)
            mine = mine or me is not None
            docs.append(TaskDoc(
                contract.id, contract.title, contract.state,
                CONTRACT_LABELS.get(ContractState(contract.state), contract.state),
                me.state if me else "",
                bool(me and await fill_pending(tx, contract.id, me.id))))
        if not mine:
            raise NotFound("签署任务不存在", code="task_not_found")
        ent = await tx.session.get(Enterprise, task.enterprise_id)
        return TaskView(task.id, task.title, ent.name if ent else "", docs)


def check_all_signable(view: TaskView) -> list[str]:
    if view.to_fill:
        raise Conflict(f"请先填写《{view.to_fill[0].title}》中需要您填写的内容",
                       code="fill_required")
    ids = view.signable
    if not ids:
        raise Conflict("没有待您签署的文件", code="nothing_to_sign")
    return ids
