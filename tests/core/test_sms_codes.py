"""SMS codes: hashed, single use, 5 minutes, 5 tries, per-phone and per-IP send limits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import sms_codes
from core.accounts import send_code
from core.context import RequestMeta
from core.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from storage.models import OutboxMessage, SmsCode
from tests.factories import last_code, make_user, next_phone

META = RequestMeta(ip="10.0.0.1")


async def _verify(deps, phone: str, purpose: str, code: str) -> sms_codes.CodeCheck:
    async with deps.db.transaction() as tx:
        check = await sms_codes.verify(tx, deps, phone, purpose, code)
        if check.ok:
            await sms_codes.consume(tx, deps, check)
    return check


async def _count(deps, model) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_code_is_six_digits_and_stored_only_as_a_hash(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    async with deps.db.sessions() as s:
        row = (await s.execute(select(SmsCode))).scalar_one()
    assert len(code) == 6 and code.isdigit()
    assert code not in row.code_hash and len(row.code_hash) == 64


async def test_code_is_redacted_from_the_outbox_after_delivery(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    async with deps.db.sessions() as s:
        msg = (await s.execute(select(OutboxMessage))).scalar_one()
    assert msg.status == "sent" and code not in str(msg.payload)


async def test_right_code_verifies_once(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    assert (await _verify(deps, phone, "register", code)).ok
    again = await _verify(deps, phone, "register", code)
    assert not again.ok and again.error.code == "code_expired"


async def test_code_of_another_purpose_does_not_verify(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    assert not (await _verify(deps, phone, "login", code)).ok


async def test_code_expires_after_five_minutes(deps, outbox, clock) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    clock.advance(seconds=301)
    check = await _verify(deps, phone, "register", code)
    assert not check.ok and check.error.code == "code_expired"


async def test_wrong_code_counts_tries_and_fifth_kills_the_code(deps, outbox) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    wrong = "000000" if code != "000000" else "111111"
    messages = [(await _verify(deps, phone, "register", wrong)).error for _ in range(5)]
    assert [m.code for m in messages] == ["invalid_code"] * 4 + ["code_exhausted"]
    assert "还可尝试 4 次" in messages[0].message
    check = await _verify(deps, phone, "register", code)
    assert not check.ok and check.error.code == "code_expired"


async def test_new_code_replaces_the_previous_one(deps, outbox, clock) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    first = await last_code(deps, outbox, phone)
    clock.advance(seconds=61)
    await send_code(deps, purpose="register", phone=phone, meta=META)
    second = await last_code(deps, outbox, phone)
    if first != second:
        assert not (await _verify(deps, phone, "register", first)).ok
    assert (await _verify(deps, phone, "register", second)).ok


async def test_second_code_within_60_seconds_is_refused_with_retry_after(deps, clock) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    clock.advance(seconds=20)
    with pytest.raises(RateLimited) as exc:
        await send_code(deps, purpose="register", phone=phone, meta=META)
    assert exc.value.retry_after == 40
    assert await _count(deps, SmsCode) == 1


async def test_sixth_code_in_an_hour_is_refused(deps, clock) -> None:
    phone = next_phone()
    for _ in range(5):
        await send_code(deps, purpose="register", phone=phone, meta=META)
        clock.advance(seconds=61)
    with pytest.raises(RateLimited) as exc:
        await send_code(deps, purpose="register", phone=phone, meta=META)
    assert "本小时" in exc.value.message
    assert 0 < exc.value.retry_after <= 3600 - 5 * 61 + 61


async def test_eleventh_code_in_a_day_is_refused(deps, clock) -> None:
    phone = next_phone()
    for i in range(10):
        await send_code(deps, purpose="register", phone=phone, meta=META)
        clock.advance(seconds=61 if i % 5 != 4 else 3600)
    with pytest.raises(RateLimited) as exc:
        await send_code(deps, purpose="register", phone=phone, meta=META)
    assert "今日" in exc.value.message
    assert await _count(deps, SmsCode) == 10


async def test_one_ip_cannot_send_to_many_phones(deps, config) -> None:
    deps.config = config.replace(sms={"per_ip_hourly": 3})
    for _ in range(3):
        await send_code(deps, purpose="register", phone=next_phone(), meta=META)
    with pytest.raises(RateLimited) as exc:
        await send_code(deps, purpose="register", phone=next_phone(), meta=META)
    assert "当前网络" in exc.value.message
    await send_code(deps, purpose="register", phone=next_phone(), meta=RequestMeta(ip="10.0.0.2"))


async def test_register_code_for_a_registered_phone_is_refused(deps) -> None:
    user = await make_user(deps)
    with pytest.raises(Conflict, match="已注册"):
        await send_code(deps, purpose="register", phone=user.phone, meta=META)
    assert await _count(deps, OutboxMessage) == 0


async def test_login_code_for_an_unknown_phone_looks_the_same_but_sends_no_code(
    deps, outbox
) -> None:
    phone = next_phone()
    sent = await send_code(deps, purpose="login", phone=phone, meta=META)
    assert sent.resend_after == 60
    assert await _count(deps, SmsCode) == 0
    await outbox.drain()
    from core.devtools import sms_inbox

    [message] = await sms_inbox(deps, phone)
    assert message.code is None and "尚未注册" in message.text


async def test_change_phone_old_code_goes_to_the_users_own_number(deps, outbox) -> None:
    user = await make_user(deps)
    sent = await send_code(deps, purpose="change_phone_old", phone="13999999999",
                           user_id=user.id, meta=META)
    assert sent.phone_masked == user.phone[:3] + "****" + user.phone[-4:]
    assert await last_code(deps, outbox, user.phone)


async def test_change_phone_old_code_needs_a_login(deps) -> None:
    with pytest.raises(Unauthenticated):
        await send_code(deps, purpose="change_phone_old", meta=META)


async def test_unknown_purpose_and_bad_phone_are_refused(deps) -> None:
    with pytest.raises(InvalidInput):
        await send_code(deps, purpose="nope", phone=next_phone(), meta=META)
    with pytest.raises(InvalidInput, match="11 位手机号"):
        await send_code(deps, purpose="register", phone="12345", meta=META)


def test_every_feature_s_purpose_is_in_the_one_table() -> None:
    from core.contracts.signing import SIGN_PURPOSE
    from core.enterprise import admin_change, certification

    for purpose in (SIGN_PURPOSE, certification.SMS_PURPOSE, admin_change.SMS_PURPOSE):
        assert sms_codes.check_purpose(purpose) == purpose
        assert sms_codes.PURPOSES[purpose] == "own_phone"
    assert set(sms_codes.PURPOSES.values()) <= {"new_phone", "existing", "own_phone"}
