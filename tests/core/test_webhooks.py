"""Outbound webhooks end to end: events written with the business change, signed
deliveries to a real receiver, replay refusal, retries while the receiver is down, the
events feed for what was missed, and the refusal of non-public addresses."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from core.contracts import ending
from core.errors import InvalidInput, PermissionDenied
from core.integration import events as EV
from core.integration import netguard, signature
from core.integration import webhooks as W
from core.outbox import OutboxWorker
from storage.models import WebhookDelivery, WebhookEvent
from tests.contract_support import META, parties, send_contract
from tests.enterprise_factories import joined_member
from tests.integration_support import start_receiver


async def _setup(deps, aiohttp_server, clock, types=tuple(EV.EVENT_TYPES)):
    p = await parties(deps)
    receiver = await start_receiver(aiohttp_server, lambda: clock.now().timestamp())
    made = await W.create_endpoint(deps, p.admin_id, p.enterprise_id, url=receiver.url,
                                   event_types=list(types), meta=META)
    receiver.secret = made.secret
    return p, receiver, made


async def _deliveries(deps) -> list[WebhookDelivery]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(WebhookDelivery).order_by(WebhookDelivery.created_at))).scalars())


async def test_a_sent_contract_reaches_the_receiver_signed(deps, outbox: OutboxWorker,
                                                           aiohttp_server, clock) -> None:
    p, receiver, made = await _setup(deps, aiohttp_server, clock)
    assert made.secret.startswith("whsec_")
    contract_id = await send_contract(deps, p)
    await outbox.drain()
    assert receiver.types() == ["contract.sent"]
    got = receiver.accepted[0]
    assert got.event["data"]["contract_id"] == contract_id
    assert got.event["enterprise_id"] == p.enterprise_id
    assert got.headers["webhook-id"] == got.event["id"]
    assert int(got.headers["webhook-timestamp"]) == int(clock.now().timestamp())
    # No phone numbers, IPs or devices leave in an event.
    assert p.employee_phone not in got.body.decode()
    [delivery] = await _deliveries(deps)
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert delivery.last_status == 200


async def test_the_receiver_refuses_a_replayed_or_altered_delivery(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    await send_contract(deps, p)
    await outbox.drain()
    first = receiver.accepted[0]
    replay = {k: first.headers[k] for k in ("webhook-id", "webhook-timestamp",
                                            "webhook-signature")}
    async with aiohttp.ClientSession() as http:
        # Captured and sent again at once: the id was processed already.
        async with http.post(receiver.url, data=first.body, headers=replay) as resp:
            assert resp.status == 409
        # The body altered: the signature no longer matches.
        async with http.post(receiver.url, data=first.body.replace(b"contract", b"kontrakt"),
                             headers=replay) as resp:
            assert resp.status == 400
        # Replayed after the 5-minute window, to a receiver that forgot the id.
        receiver.seen.clear()
        clock.advance(minutes=5, seconds=1)
        async with http.post(receiver.url, data=first.body, headers=replay) as resp:
            assert resp.status == 400
    assert receiver.refused == ["replayed id", "signature mismatch",
                                "timestamp outside the replay window"]
    assert len(receiver.accepted) == 1


async def test_retries_land_after_the_receiver_was_down_and_the_feed_has_what_it_missed(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    first = await send_contract(deps, p, title="第一份")
    await outbox.drain()
    seen_id = receiver.accepted[0].event["id"]
    receiver.down = True
    second = await send_contract(deps, p, title="第二份")
    await ending.revoke_contract(deps, p.admin_id, first, "信息填错", META)
    await outbox.drain()
    waiting = [d for d in await _deliveries(deps) if d.status != "succeeded"]
    assert len(waiting) == 2
    assert all(d.status == "retrying" and d.attempts == 1 for d in waiting)
    assert all(d.next_attempt_at == clock.now() + W.RETRY_SCHEDULE[0] for d in waiting)
    # Not due yet: nothing is sent before the back-off has passed.
    hits = receiver.hits
    clock.advance(seconds=59)
    await outbox.drain()
    assert receiver.hits == hits
    clock.advance(seconds=1)
    await outbox.drain()
    assert {d.attempts for d in await _deliveries(deps) if d.status == "retrying"} == {2}
    # Back up; the next try (5 minutes later) lands.
    receiver.down = False
    clock.advance(minutes=5)
    await outbox.drain()
    # Retries may land in any order; `seq` tells the receiver the order they happened in.
    late = sorted(receiver.accepted[1:], key=lambda r: r.event["seq"])
    assert [(r.event["type"], r.event["data"]["contract_id"]) for r in late] == [
        ("contract.sent", second), ("contract.revoked", first)]
    assert all(d.status == "succeeded" for d in await _deliveries(deps))
    # What the receiver missed while down, from the feed, in order.
    page = await EV.list_events(deps, p.admin_id, p.enterprise_id, after=seen_id)
    assert [(e["type"], e["data"]["contract_id"]) for e in page.events] == [
        ("contract.sent", second), ("contract.revoked", first)]
    assert page.next_cursor == str(page.events[-1]["seq"]) and not page.has_more
    again = await EV.list_events(deps, p.admin_id, p.enterprise_id, after=page.next_cursor)
    assert again.events == [] and again.next_cursor == page.next_cursor


async def test_retries_stop_after_about_a_day_and_redeliver_starts_again(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    receiver.down = True
    started = clock.now()
    await send_contract(deps, p)
    await outbox.drain()
    for wait in W.RETRY_SCHEDULE:
        clock.advance(seconds=wait.total_seconds())
        await outbox.drain()
    [delivery] = await _deliveries(deps)
    assert delivery.status == "failed" and delivery.attempts == W.MAX_ATTEMPTS
    assert timedelta(hours=20) <= delivery.last_attempt_at - started <= timedelta(hours=30)
    assert receiver.hits == W.MAX_ATTEMPTS
    clock.advance(days=3)
    await outbox.drain()
    assert receiver.hits == W.MAX_ATTEMPTS  # nothing more after the last try
    receiver.down = False
    log = await W.list_deliveries(deps, p.admin_id, p.enterprise_id, status="failed")
    assert [d.id for d in log] == [delivery.id] and log[0].last_status == 503
    await W.redeliver(deps, p.admin_id, p.enterprise_id, delivery.id, META)
    await outbox.drain()
    [delivery] = await _deliveries(deps)
    assert delivery.status == "succeeded" and receiver.types() == ["contract.sent"]


async def test_an_endpoint_gets_only_the_types_it_chose(deps, outbox: OutboxWorker,
                                                        aiohttp_server, clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock, types=("contract.revoked",))
    contract_id = await send_contract(deps, p)
    await ending.revoke_contract(deps, p.admin_id, contract_id, "不再需要", META)
    await outbox.drain()
    assert receiver.types() == ["contract.revoked"]
    assert receiver.accepted[0].event["data"]["reason"] == "不再需要"


async def test_a_rolled_back_change_emits_nothing(deps, outbox: OutboxWorker, aiohttp_server,
                                                  clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    with pytest.raises(InvalidInput):
        await ending.revoke_contract(deps, p.admin_id, await send_contract(deps, p), "",
                                     META)
    await outbox.drain()
    assert receiver.types() == ["contract.sent"]
    async with deps.db.sessions() as session:
        assert [e.type for e in (await session.execute(select(WebhookEvent))).scalars()] == [
            "contract.sent"]


async def test_events_are_numbered_per_enterprise_in_order(deps, aiohttp_server, clock) -> None:
    p, _receiver, _ = await _setup(deps, aiohttp_server, clock)
    for _ in range(3):
        await send_contract(deps, p)
    page = await EV.list_events(deps, p.admin_id, p.enterprise_id, limit=2)
    assert [e["seq"] for e in page.events] == [1, 2] and page.has_more
    rest = await EV.list_events(deps, p.admin_id, p.enterprise_id, after=page.next_cursor)
    assert [e["seq"] for e in rest.events] == [3] and not rest.has_more
    with pytest.raises(InvalidInput):
        await EV.list_events(deps, p.admin_id, p.enterprise_id, after="evt_nope")


async def test_webhooks_need_the_enterprise_manage_permission(deps, aiohttp_server,
                                                             clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    hr = await joined_member(deps, p.enterprise_id, p.admin_id, "hr")
    with pytest.raises(PermissionDenied):
        await W.create_endpoint(deps, hr, p.enterprise_id, url=receiver.url,
                                event_types=["contract.sent"], meta=META)
    with pytest.raises(PermissionDenied):
        await EV.list_events(deps, hr, p.enterprise_id)


# -- server-side request forgery ------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0",  # noqa: S104
    "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "not-an-ip",
])
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not netguard.is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_public(address: str) -> None:
    assert netguard.is_public(address)


@pytest.fixture
def production(deps):
    deps.config = deps.config.replace(server={"dev_mode": False})
    return deps


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://10.0.0.5/hook", "https://169.254.169.254/latest",
    "https://[::1]:8443/hook", "https://[::ffff:127.0.0.1]/hook", "https://localhost/hook",
    "https://100.64.0.1/hook", "http://93.184.216.34/hook", "https://user:pw@93.184.216.34/",
    "ftp://93.184.216.34/", "javascript:alert(1)", "https://", "",
])
async def test_a_non_public_or_malformed_url_is_refused_at_save(production, url: str) -> None:
    p = await parties(production)
    with pytest.raises(InvalidInput) as err:
        await W.create_endpoint(production, p.admin_id, p.enterprise_id, url=url,
                                event_types=["contract.sent"], meta=META)
    assert err.value.code in ("webhook_url_not_public", "invalid_webhook_url")


async def test_a_public_https_url_is_accepted_at_save(production) -> None:
    p = await parties(production)
    made = await W.create_endpoint(production, p.admin_id, p.enterprise_id,
                                   url="https://93.184.216.34/hook",
                                   event_types=["contract.sent"], meta=META)
    assert made.endpoint.url == "https://93.184.216.34/hook"


async def test_a_name_rebound_to_loopback_after_saving_is_refused_at_delivery(
        production, outbox: OutboxWorker, aiohttp_server, clock, monkeypatch) -> None:
    deps = production
    p = await parties(deps)
    receiver = await start_receiver(aiohttp_server, lambda: clock.now().timestamp())
    port = receiver.url.split(":")[2].split("/")[0]
    answers = {"hooks.example.test": ["93.184.216.34"]}

    async def fake_dns(host: str, port: int) -> list[str]:
        return answers[host]

    monkeypatch.setattr(netguard, "resolve", fake_dns)
    made = await W.create_endpoint(deps, p.admin_id, p.enterprise_id,
                                   url=f"https://hooks.example.test:{port}/hook",
                                   event_types=["contract.sent"], meta=META)
    receiver.secret = made.secret
    answers["hooks.example.test"] = ["127.0.0.1"]  # the attacker's DNS changes its answer
    await send_contract(deps, p)
    await outbox.drain()
    [delivery] = await _deliveries(deps)
    assert delivery.status == "retrying" and delivery.last_status is None
    assert "non-public address 127.0.0.1" in (delivery.last_error or "")
    assert receiver.hits == 0


async def test_a_delivery_connects_to_the_checked_address_only(
        deps, aiohttp_server, clock, monkeypatch) -> None:
    """The connection goes to the addresses that were checked, not to a second DNS
    answer: a name no DNS knows reaches the receiver through the pinned address."""
    from core.adapters.webhook_http import HttpWebhookSender

    receiver = await start_receiver(aiohttp_server, lambda: clock.now().timestamp())
    receiver.secret = signature.new_secret()
    port = int(receiver.url.split(":")[2].split("/")[0])

    async def fake_dns(host: str, port: int) -> list[str]:
        assert host == "pinned.invalid"
        return ["127.0.0.1"]

    monkeypatch.setattr(netguard, "resolve", fake_dns)
    monkeypatch.setattr(netguard, "is_public", lambda a: a == "127.0.0.1")
    body = b'{"id":"evt_x"}'
    stamp = int(clock.now().timestamp())
    result = await HttpWebhookSender().post(
        f"http://pinned.invalid:{port}/hook", body,
        signature.headers(receiver.secret, "evt_x", stamp, body), allow_private=False)
    assert result.status == 200 and result.ok
    assert receiver.accepted[0].body == body


async def test_an_import_finishes_a_batch_and_approvals_are_events(deps, clock) -> None:
    from core.enterprise import employee_import as I
    from core.enterprise import employees as E
    from tests.enterprise_factories import certified_enterprise, new_phone, xlsx_bytes

    ent, admin = await certified_enterprise(deps)
    data = xlsx_bytes([["员工一", new_phone(), None, None, None, None],
                       ["员工二", new_phone(), None, None, None, None]])
    report = await I.import_employees(deps, admin, ent, data, META)
    assert report.imported == 2
    pending = await E.list_employees(deps, admin, ent, statuses=["pending_review"])
    first, second = pending.items
    await E.review_employee(deps, admin, ent, first.id, approve=True, meta=META)
    await E.approve_employees(deps, admin, ent, [second.id], META)
    page = await EV.list_events(deps, admin, ent)
    assert [e["type"] for e in page.events] == [
        "batch.finished", "employee.approved", "employee.approved"]
    assert page.events[0]["data"] == {"batch": "employee_import", "total": 2,
                                      "succeeded": 2, "failed": 0,
                                      "status": "pending_review"}
    assert [e["data"]["employee_id"] for e in page.events[1:]] == [first.id, second.id]
    assert "phone" not in page.events[1]["data"]


async def test_signing_to_completion_and_a_rejection_are_delivered(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    from tests.contract_support import sign_as, start_tsa

    await start_tsa(deps, aiohttp_server)
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    signed = await send_contract(deps, p)
    await sign_as(deps, outbox, p.employee_id, signed)
    await sign_as(deps, outbox, p.sealer_id, signed)
    refused = await send_contract(deps, p)
    await ending.reject_contract(deps, p.employee_id, refused, "薪资条款有误", META)
    await outbox.drain()
    got = sorted(receiver.accepted, key=lambda r: r.event["seq"])
    assert [(r.event["type"], r.event["data"]["contract_id"]) for r in got] == [
        ("contract.sent", signed), ("contract.signed", signed), ("contract.signed", signed),
        ("contract.completed", signed), ("contract.sent", refused),
        ("contract.rejected", refused)]
    assert [r.event["data"]["party"] for r in got[1:3]] == ["person", "enterprise"]
    assert got[1].event["data"]["signer_name"] == "张三"
    assert got[3].event["data"]["state"] == "completed"
    assert got[5].event["data"]["reason"] == "薪资条款有误"


async def test_a_changed_secret_signs_from_the_next_delivery(deps, outbox: OutboxWorker,
                                                             aiohttp_server, clock) -> None:
    p, receiver, made = await _setup(deps, aiohttp_server, clock)
    old = made.secret
    receiver.secret = await W.rotate_secret(deps, p.admin_id, p.enterprise_id,
                                            made.endpoint.id, META)
    assert receiver.secret != old
    await send_contract(deps, p)
    await outbox.drain()
    assert receiver.types() == ["contract.sent"]
    with pytest.raises(signature.InvalidSignature):
        signature.verify(old, receiver.accepted[0].headers, receiver.accepted[0].body,
                         now=clock.now().timestamp())


async def test_a_contract_past_its_deadline_emits_expired(deps, outbox: OutboxWorker,
                                                          aiohttp_server, clock) -> None:
    from core.contracts import send
    from tests.contract_support import company, person

    p, receiver, _ = await _setup(deps, aiohttp_server, clock,
                                  types=("contract.expired",))
    from core.signing.samples import sample_contract_pdf

    contract_id = await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="限期合同", filename="a.pdf",
        pdf=sample_contract_pdf(3), signers=[person(p.employee_phone), company(p.seal_id)],
        deadline=clock.now() + timedelta(days=2), meta=META)
    clock.advance(days=2, seconds=1)
    assert await ending.expire_due(deps) == 1
    await outbox.drain()
    assert receiver.types() == ["contract.expired"]
    assert receiver.accepted[0].event["data"] == {
        "contract_id": contract_id, "title": "限期合同", "state": "expired"}


async def test_old_events_and_finished_deliveries_are_pruned(deps, outbox: OutboxWorker,
                                                             aiohttp_server, clock) -> None:
    p, receiver, _ = await _setup(deps, aiohttp_server, clock)
    await send_contract(deps, p)
    await outbox.drain()
    clock.advance(days=80)
    await send_contract(deps, p)
    await outbox.drain()
    clock.advance(days=11)
    assert await W.prune(deps) == {"webhook_deliveries": 1, "webhook_events": 1}
    page = await EV.list_events(deps, p.admin_id, p.enterprise_id)
    assert [e["seq"] for e in page.events] == [2]
    assert len(await _deliveries(deps)) == 1
    await send_contract(deps, p)  # the numbering goes on
    page = await EV.list_events(deps, p.admin_id, p.enterprise_id, after="2")
    assert [e["seq"] for e in page.events] == [3]
    assert len(receiver.accepted) == 2


async def test_concurrent_events_get_distinct_numbers_in_commit_order(deps) -> None:
    import asyncio

    from tests.enterprise_factories import certified_enterprise

    ent, admin = await certified_enterprise(deps)

    async def one(n: int) -> None:
        async with deps.db.transaction() as tx:
            await EV.emit(tx, deps, ent, "batch.finished", {"n": n})

    await asyncio.gather(*(one(n) for n in range(8)))
    page = await EV.list_events(deps, admin, ent)
    assert [e["seq"] for e in page.events] == list(range(1, 9))
    assert sorted(e["data"]["n"] for e in page.events) == list(range(8))


async def _fail_for_good(outbox: OutboxWorker, clock) -> None:
    """Run every retry of what is queued now (the receiver being down)."""
    await outbox.drain()
    for wait in W.RETRY_SCHEDULE:
        clock.advance(seconds=wait.total_seconds())
        await outbox.drain()


async def _sms_to(deps, phone: str) -> list[str]:
    from storage.models import ConsoleSms

    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(ConsoleSms.text).where(ConsoleSms.phone == phone))).scalars())


async def test_an_endpoint_failing_for_days_is_switched_off_and_the_admin_told(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    from tests.enterprise_factories import user_phone

    p, receiver, made = await _setup(deps, aiohttp_server, clock)
    receiver.down = True
    admin_phone = await user_phone(deps, p.admin_id)
    # Two events fail for good, then one lands: the count starts again.
    for n in range(W.AUTO_DISABLE_AFTER - 1):
        await send_contract(deps, p, title=f"失败{n}")
        await _fail_for_good(outbox, clock)
    receiver.down = False
    await send_contract(deps, p, title="成功")
    await outbox.drain()
    view = await W.get_endpoint(deps, p.admin_id, p.enterprise_id, made.endpoint.id)
    assert view.enabled and view.consecutive_failures == 0
    # AUTO_DISABLE_AFTER in a row, each after about a day of retries: switched off.
    receiver.down = True
    for n in range(W.AUTO_DISABLE_AFTER):
        view = await W.get_endpoint(deps, p.admin_id, p.enterprise_id, made.endpoint.id)
        assert view.enabled, n
        await send_contract(deps, p, title=f"再失败{n}")
        await _fail_for_good(outbox, clock)
    view = await W.get_endpoint(deps, p.admin_id, p.enterprise_id, made.endpoint.id)
    assert not view.enabled and view.disabled_reason == W.DISABLED_FAILING
    assert view.consecutive_failures == W.AUTO_DISABLE_AFTER
    assert view.disabled_at == clock.now()
    texts = await _sms_to(deps, admin_phone)
    assert sum("事件回调地址" in t and "自动停用" in t for t in texts) == 1
    from core.enterprise import dashboard as D

    audit = await D.audit_log(deps, p.admin_id, p.enterprise_id)
    assert audit[0].action == "webhook.auto_disabled" and audit[0].actor_id is None
    # Off: a new event makes no delivery and the receiver hears nothing.
    hits = receiver.hits
    receiver.down = False
    await send_contract(deps, p, title="停用期间")
    await outbox.drain()
    assert receiver.hits == hits
    # The admin switches it on again: the count restarts and events flow.
    view = await W.update_endpoint(deps, p.admin_id, p.enterprise_id, view.id, url=view.url,
                                   event_types=view.event_types,
                                   description=view.description, enabled=True, meta=META)
    assert view.enabled and view.disabled_reason is None and view.consecutive_failures == 0
    await send_contract(deps, p, title="重新启用")
    await outbox.drain()
    assert receiver.hits == hits + 1


async def test_a_delivery_dropped_because_the_endpoint_is_off_does_not_count(
        deps, outbox: OutboxWorker, aiohttp_server, clock) -> None:
    p, receiver, made = await _setup(deps, aiohttp_server, clock)
    receiver.down = True
    await send_contract(deps, p)
    await outbox.drain()  # first try failed; the next is queued
    view = made.endpoint
    await W.update_endpoint(deps, p.admin_id, p.enterprise_id, view.id, url=view.url,
                            event_types=view.event_types, description="",
                            enabled=False, meta=META)
    await _fail_for_good(outbox, clock)
    [delivery] = await _deliveries(deps)
    assert delivery.status == "failed" and delivery.last_error == "endpoint disabled or deleted"
    view = await W.get_endpoint(deps, p.admin_id, p.enterprise_id, view.id)
    assert view.consecutive_failures == 0 and view.disabled_reason is None
