"""The operator's jobs page: queue depths and dead letters, with retry and discard."""

from __future__ import annotations

import re

from sqlalchemy import select

from core import outbox
from core.enterprise.operators import create_operator
from storage.models import AuditEntry, OutboxMessage
from tests.contract_support import user_phone
from tests.enterprise_factories import make_user
from tests.handlers.test_console import _csrf, _login


async def _dead_job(deps, kind: str = "test.gone") -> str:
    async with deps.db.transaction() as tx:
        job = await outbox.enqueue(tx, kind, {"x": 1}, now=deps.clock.now())
    worker = outbox.OutboxWorker(deps, {})  # no deliverer: a permanent failure
    await worker.drain()
    return job.id


async def test_jobs_page_is_for_operators_only(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    assert (await client.get("/operator/jobs")).status == 404
    await create_operator(deps, await user_phone(deps, user))
    home = await (await client.get("/operator")).text()
    assert 'href="/operator/jobs"' in home  # reached by tapping from the console


async def test_operator_retries_and_discards_dead_letters(client, deps) -> None:
    user = await make_user(deps)
    await create_operator(deps, await user_phone(deps, user))
    await _login(client, deps, user)
    first, second = await _dead_job(deps), await _dead_job(deps)
    html = await (await client.get("/operator/jobs")).text()
    assert "失败的任务（2）" in html and "no deliverer for test.gone" in html
    token = _csrf(html)
    resp = await client.post(f"/operator/jobs/{first}", data={"_csrf": token, "action": "retry"},
                             allow_redirects=False)
    assert resp.status == 303
    resp = await client.post(f"/operator/jobs/{second}",
                             data={"_csrf": token, "action": "discard"}, allow_redirects=False)
    assert resp.status == 303
    async with deps.db.sessions() as s:
        states = dict((await s.execute(select(OutboxMessage.id, OutboxMessage.status))).all())
        actions = set((await s.execute(select(AuditEntry.action))).scalars())
    assert states == {first: "queued", second: "discarded"}
    assert {"job.retried", "job.discarded"} <= actions
    # Not a dead letter any more: a second retry is refused with a message, not a 500.
    resp = await client.post(f"/operator/jobs/{second}", data={"_csrf": token, "action": "retry"})
    assert resp.status == 409 and "不在失败列表" in await resp.text()
    assert re.search(r"失败的任务（0）", await resp.text())
