"""What one signature costs the database: the number of write transactions is pinned.

Every write transaction takes SQLite's single write turn (or PostgreSQL row locks and a
WAL flush) and, in the server, a slice of the event loop; the flow used to spend ten of
them per signature. The count below is of the service calls a signer's two taps make
(request the code; confirm and sign), including completion and its notifications.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select

from core.context import Deps
from core.contracts import signing
from core.contracts.states import ContractState, SignerState
from core.signing import service
from storage.models import AuditEntry, IntentConfirmation, SigningGrant
from tests.contract_support import META, parties, person, send_contract, start_tsa
from tests.factories import last_code

WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Counts:
    # Transactions that took the write turn (Database.transaction), and those of them
    # that changed something when they committed.
    write_turns: int = 0
    writing_commits: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def counting(deps: Deps) -> Iterator[Counts]:
    counts = Counts()
    engine = deps.db.engine.sync_engine

    def on_begin(conn: Any) -> None:
        conn.info["wrote"] = False
        if conn.get_execution_options().get("laborsign_write"):
            counts.write_turns += 1

    def on_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(WRITES):
            conn.info["wrote"] = True
            counts.statements.append(statement.split("(")[0][:60])

    def on_commit(conn: Any) -> None:
        if conn.info.pop("wrote", False):
            counts.writing_commits += 1
            counts.statements.append("COMMIT")

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


async def test_a_signature_takes_at_most_three_write_transactions(
    deps, outbox, aiohttp_server
) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    # One person signer: the signature also completes the contract (completion and its
    # notifications are part of what is counted).
    contract_id = await send_contract(deps, p, [person(p.employee_phone)])
    # In service the certificate is issued by a job when the person's identity is
    # verified (service.queue_person_certificate), not during a signature.
    await service.issue_person_certificate(deps, p.employee_id, meta=META)
    await outbox.drain()
    with counting(deps) as asked:
        await signing.request_sign(deps, p.employee_id, contract_id, META)
    code = await last_code(deps, outbox, p.employee_phone)
    with counting(deps) as confirmed:
        outcome = await signing.confirm_sign(deps, p.employee_id, contract_id, code, META)
    assert (outcome.state, outcome.contract_state) == (SignerState.SIGNED,
                                                       ContractState.COMPLETED)
    total_turns = asked.write_turns + confirmed.write_turns
    total_writes = asked.writing_commits + confirmed.writing_commits
    assert total_writes <= 3, (asked, confirmed)
    assert total_turns <= 3, (asked, confirmed)

    # Nothing was given up for it: the intent evidence, a consumed grant, the audit trail.
    async with deps.db.sessions() as session:
        evidence = (await session.execute(select(IntentConfirmation))).scalar_one()
        assert evidence.code_entered_at is not None and evidence.completed_at is not None
        grant = (await session.execute(
            select(SigningGrant).where(SigningGrant.id == evidence.grant_id))).scalar_one()
        assert grant.used_at is not None and grant.confirmation_ref == evidence.id
        actions = set((await session.execute(select(AuditEntry.action))).scalars())
    assert {"contract.sign_code_sent", "contract.sign_confirmed", "signing.granted",
            "signing.key_unlocked", "contract.signed", "contract.completed"} <= actions
