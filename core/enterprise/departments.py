"""The department tree: add, rename, move (never under itself), delete when empty."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import Conflict, InvalidInput, NotFound
from storage.models import Department, Employee
from storage.uow import Tx


@dataclass(frozen=True)
class DepartmentNode:
    id: str
    name: str
    parent_id: str | None
    depth: int
    path: str
    employee_count: int


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 40:
        raise InvalidInput("部门名称为 1–40 个字", code="invalid_department_name", field="name")
    return name


async def _dept(tx: Tx, enterprise_id: str, dept_id: str) -> Department:
    d = (
        await tx.session.execute(
            select(Department).where(Department.id == dept_id,
                                     Department.enterprise_id == enterprise_id)
        )
    ).scalar_one_or_none()
    if d is None:
        raise NotFound("部门不存在", code="department_not_found")
    return d


async def all_departments(tx: Tx, enterprise_id: str) -> list[Department]:
    return list(
        (
            await tx.session.execute(
                select(Department).where(Department.enterprise_id == enterprise_id)
                .order_by(Department.name)
            )
        ).scalars().all()
    )


def flatten(depts: list[Department], counts: dict[str | None, int] | None = None
            ) -> list[DepartmentNode]:
    """Depth-first order with depth and full path, for indented lists and selects."""
    children: dict[str | None, list[Department]] = {}
    for d in depts:
        children.setdefault(d.parent_id, []).append(d)
    out: list[DepartmentNode] = []

    def walk(parent: str | None, depth: int, prefix: str) -> None:
        for d in children.get(parent, []):
            path = f"{prefix}/{d.name}" if prefix else d.name
            out.append(DepartmentNode(d.id, d.name, d.parent_id, depth, path,
                                      (counts or {}).get(d.id, 0)))
            walk(d.id, depth + 1, path)

    walk(None, 0, "")
    return out


async def department_tree(deps: Deps, user_id: str, enterprise_id: str) -> list[DepartmentNode]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.EMPLOYEES_VIEW)
        depts = await all_departments(tx, enterprise_id)
        counts = dict(
            (
                await tx.session.execute(
                    select(Employee.department_id, func.count()).where(
                        Employee.enterprise_id == enterprise_id, Employee.status == "active"
                    ).group_by(Employee.department_id)
                )
            ).all()
        )
        return flatten(depts, counts)


async def add_department(deps: Deps, user_id: str, enterprise_id: str, name: str,
                         parent_id: str | None, meta: RequestMeta) -> DepartmentNode:
    name = _clean_name(name)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.DEPARTMENTS_MANAGE)
        if parent_id:
            await _dept(tx, enterprise_id, parent_id)
        siblings = [d for d in await all_departments(tx, enterprise_id)
                    if d.parent_id == (parent_id or None)]
        if any(d.name == name for d in siblings):
            raise Conflict("同级已有同名部门", code="department_exists", field="name")
        d = Department(enterprise_id=enterprise_id, parent_id=parent_id or None, name=name,
                       created_at=deps.clock.now())
        tx.session.add(d)
        await tx.session.flush()
        await log(tx, deps, "department.created", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="department", subject_id=d.id,
                  data={"name": name, "parent_id": parent_id}, meta=meta)
        return DepartmentNode(d.id, d.name, d.parent_id, 0, d.name, 0)


async def rename_department(deps: Deps, user_id: str, enterprise_id: str, dept_id: str,
                            name: str, meta: RequestMeta) -> None:
    name = _clean_name(name)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.DEPARTMENTS_MANAGE)
        d = await _dept(tx, enterprise_id, dept_id)
        old, d.name = d.name, name
        await log(tx, deps, "department.renamed", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="department", subject_id=d.id, data={"from": old, "to": name},
                  meta=meta)


async def move_department(deps: Deps, user_id: str, enterprise_id: str, dept_id: str,
                          new_parent_id: str | None, meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.DEPARTMENTS_MANAGE)
        d = await _dept(tx, enterprise_id, dept_id)
        if new_parent_id:
            await _dept(tx, enterprise_id, new_parent_id)
            by_id = {x.id: x for x in await all_departments(tx, enterprise_id)}
            cursor: str | None = new_parent_id
            while cursor is not None:  # the new parent must not be inside the moved branch
                if cursor == d.id:
                    raise Conflict("不能移动到自身或下级部门之下", code="department_cycle")
                cursor = by_id[cursor].parent_id
        d.parent_id = new_parent_id or None
        await log(tx, deps, "department.moved", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="department", subject_id=d.id,
                  data={"parent_id": new_parent_id}, meta=meta)


async def delete_department(deps: Deps, user_id: str, enterprise_id: str, dept_id: str,
                            meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.DEPARTMENTS_MANAGE)
        d = await _dept(tx, enterprise_id, dept_id)
        children = (
            await tx.session.execute(
                select(func.count()).select_from(Department).where(
                    Department.enterprise_id == enterprise_id, Department.parent_id == d.id)
            )
        ).scalar_one()
        people = (
            await tx.session.execute(
                select(func.count()).select_from(Employee).where(
                    Employee.enterprise_id == enterprise_id, Employee.department_id == d.id,
                    Employee.status != "resigned")
            )
        ).scalar_one()
        if children or people:
            raise Conflict("部门下还有子部门或员工，不能删除", code="department_not_empty")
        # Resigned employees keep their record, without the department.
        await tx.session.execute(
            update(Employee).where(Employee.enterprise_id == enterprise_id,
                                   Employee.department_id == d.id)
            .values(department_id=None)
        )
        await tx.session.delete(d)
        await log(tx, deps, "department.deleted", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="department", subject_id=dept_id, data={"name": d.name},
                  meta=meta)
