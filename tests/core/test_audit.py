"""The hash-chained audit log: appends, verification, tampering, concurrency, the CLI."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from core import audit
from core.audit import GENESIS, verify_chain
from core.context import Deps, RequestMeta
from handlers import cli
from storage.models import AuditChain, AuditEntry


async def append(deps: Deps, n: int, action: str = "test.event", tenant: str | None = None
                 ) -> None:
    for i in range(n):
        async with deps.db.transaction() as tx:
            await audit.record(
                tx, at=deps.clock.now(), action=action, actor_id="u1", tenant_id=tenant,
                subject_type="thing",
                subject_id=f"s{i}", data={"i": i, "note": "记录"}, meta=RequestMeta(ip="10.0.0.1"),
            )


async def entries(deps: Deps) -> list[AuditEntry]:
    async with deps.db.sessions() as session:
        return list(
            (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
        )


async def test_empty_chain_verifies(deps: Deps) -> None:
    report = await verify_chain(deps.db)
    assert report.ok and report.entries == 0


async def test_appends_link_each_entry_to_the_previous(deps: Deps) -> None:
    await append(deps, 3)
    rows = await entries(deps)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert rows[0].ip == "10.0.0.1" and rows[0].data == {"i": 0, "note": "记录"}
    report = await verify_chain(deps.db)
    assert report.ok and report.entries == 3


async def test_rolled_back_transaction_leaves_no_entry(deps: Deps) -> None:
    await append(deps, 1)
    with pytest.raises(RuntimeError):
        async with deps.db.transaction() as tx:
            await audit.record(tx, at=deps.clock.now(), action="test.rolled_back")
            raise RuntimeError("abort")
    assert [r.action for r in await entries(deps)] == ["test.event"]
    assert (await verify_chain(deps.db)).ok
    await append(deps, 1)
    assert (await verify_chain(deps.db)).entries == 2


async def test_edited_data_is_detected_at_that_entry(deps: Deps) -> None:
    await append(deps, 5)
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(AuditEntry).where(AuditEntry.seq == 3).values(data={"i": 99})
        )
    report = await verify_chain(deps.db)
    assert not report.ok and report.first_bad_seq == 3 and report.reason == "hash mismatch"


async def test_edited_actor_is_detected(deps: Deps) -> None:
    await append(deps, 2)
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(AuditEntry).where(AuditEntry.seq == 1).values(actor_id="someone-else")
        )
    report = await verify_chain(deps.db)
    assert not report.ok and report.first_bad_seq == 1


async def test_deleted_middle_entry_is_detected(deps: Deps) -> None:
    await append(deps, 5)
    async with deps.db.transaction() as tx:
        await tx.session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    report = await verify_chain(deps.db)
    assert not report.ok and report.first_bad_seq == 3 and report.reason == "missing entry"
    assert report.entries == 2


async def test_deleted_last_entry_is_detected_through_the_head(deps: Deps) -> None:
    await append(deps, 4)
    async with deps.db.transaction() as tx:
        await tx.session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    report = await verify_chain(deps.db)
    assert not report.ok and report.first_bad_seq == 4
    assert report.reason == "entries after the last one were removed"


async def test_rehashed_forgery_is_still_caught_by_the_following_entry(deps: Deps) -> None:
    """Recomputing the edited entry's own hash does not help: the next one points back."""
    await append(deps, 3)
    rows = await entries(deps)
    forged = {"actor_id": rows[1].actor_id, "tenant_id": None, "action": rows[1].action,
              "subject_type": rows[1].subject_type, "subject_id": rows[1].subject_id,
              "data": {"i": 42}, "ip": rows[1].ip}
    new_hash = audit.entry_hash(rows[1].prev_hash, 2, rows[1].at, forged)
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(AuditEntry).where(AuditEntry.seq == 2).values(data={"i": 42}, hash=new_hash)
        )
    report = await verify_chain(deps.db)
    assert not report.ok and report.first_bad_seq == 3


async def test_concurrent_appends_make_one_unbroken_chain(deps: Deps) -> None:
    """Several tasks (each its own connection and transaction) append at once."""

    async def writer(w: int) -> None:
        for i in range(5):
            async with deps.db.transaction() as tx:
                await audit.record(tx, at=deps.clock.now(), action="test.concurrent",
                                   actor_id=f"w{w}", data={"w": w, "i": i})
                await asyncio.sleep(0)  # let the others try to interleave

    await asyncio.gather(*(writer(w) for w in range(6)))
    rows = await entries(deps)
    assert [r.seq for r in rows] == list(range(1, 31))
    assert len({(r.data["w"], r.data["i"]) for r in rows}) == 30
    report = await verify_chain(deps.db)
    assert report.ok and report.entries == 30
    async with deps.db.sessions() as session:
        head = await session.get(AuditChain, "")
    assert head is not None and head.seq == 30 and head.hash == rows[-1].hash


# ------------------------------------------------------------------ one chain per enterprise


async def chain_of(deps: Deps, chain: str) -> list[AuditEntry]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.chain_seq)
        )).scalars())


async def test_each_enterprise_has_a_chain_of_its_own(deps: Deps) -> None:
    await append(deps, 2, tenant="ent_a")
    await append(deps, 1)
    await append(deps, 3, tenant="ent_b")
    await append(deps, 1, tenant="ent_a")
    a, b, platform = (await chain_of(deps, "ent_a"), await chain_of(deps, "ent_b"),
                      await chain_of(deps, ""))
    assert [r.chain_seq for r in a] == [1, 2, 3] and [r.chain_seq for r in b] == [1, 2, 3]
    assert a[0].prev_hash == GENESIS == b[0].prev_hash and a[2].prev_hash == a[1].hash
    assert [r.chain_seq for r in platform] == [1]
    report = await verify_chain(deps.db)
    assert report.ok and report.entries == 7 and report.chains == 3


async def test_an_edited_entry_names_its_enterprise_chain(deps: Deps) -> None:
    await append(deps, 3, tenant="ent_a")
    await append(deps, 3, tenant="ent_b")
    target = (await chain_of(deps, "ent_b"))[1]
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(AuditEntry).where(AuditEntry.seq == target.seq).values(action="forged"))
    report = await verify_chain(deps.db)
    assert (report.ok, report.chain, report.first_bad_seq, report.reason) == (
        False, "ent_b", 2, "hash mismatch")


async def test_an_entry_moved_to_another_chain_is_caught(deps: Deps) -> None:
    """The chain name is hashed: relabelling an entry does not make it fit elsewhere."""
    await append(deps, 2, tenant="ent_a")
    first = (await chain_of(deps, "ent_a"))[0]
    async with deps.db.transaction() as tx:
        await tx.session.execute(update(AuditEntry).where(AuditEntry.seq == first.seq)
                                 .values(chain="ent_c", tenant_id="ent_c"))
        tx.session.add(AuditChain(chain="ent_c", seq=1, hash=first.hash))
    report = await verify_chain(deps.db)
    assert not report.ok and report.chain in {"ent_a", "ent_c"}


@pytest.mark.skipif(not os.environ.get("LABORSIGN_TEST_DATABASE_URL"),
                    reason="SQLite has one writer for the whole file by design")
async def test_appends_to_different_enterprises_do_not_wait_for_each_other(
        deps: Deps) -> None:
    """While one transaction holds enterprise A's chain head, an append to enterprise B
    commits at once; a second append to A waits for the first."""
    await append(deps, 1, tenant="ent_a")
    await append(deps, 1, tenant="ent_b")
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold_a() -> None:
        async with deps.db.transaction() as tx:
            await audit.record(tx, at=deps.clock.now(), action="a.slow", tenant_id="ent_a")
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_a())
    await holding.wait()
    await asyncio.wait_for(append(deps, 1, tenant="ent_b"), timeout=5)
    second_a = asyncio.create_task(append(deps, 1, tenant="ent_a"))
    await asyncio.sleep(0.3)
    assert not second_a.done()  # queued behind the holder on A's head
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, second_a), timeout=5)
    assert (await verify_chain(deps.db)).ok
    assert [r.chain_seq for r in await chain_of(deps, "ent_a")] == [1, 2, 3]


# ------------------------------------------------------------------ laborsign audit-verify


def _config_file(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(
        "[server]\n"
        'secret_key = "test-secret-key-not-for-production"\n'
        f'var_dir = "{tmp_path / "var"}"\n'
        "dev_mode = true\n"
        "[database]\n"
        f'url = "{db_url}"\n'
    )
    return path


async def test_cli_audit_verify_exit_codes(
    deps: Deps, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LABORSIGN_DATABASE_URL", raising=False)
    await append(deps, 3)
    config = _config_file(tmp_path, db_url)
    argv = ["--config", str(config), "audit-verify"]

    # The command runs its own event loop, so it gets a thread of its own.
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert "intact: 3 entries in 1 chains" in capsys.readouterr().out

    async with deps.db.transaction() as tx:
        await tx.session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    assert await asyncio.to_thread(cli.main, argv) == 1
    assert "BROKEN at entry 2 of the platform chain" in capsys.readouterr().out
