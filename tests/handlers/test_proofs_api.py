"""Deposit guessing over the API: a 429 with the Chinese reason and Retry-After, and the
operator console shows the alert."""

from __future__ import annotations

from core.enterprise import proofs
from core.enterprise.operators import create_operator
from tests.enterprise_factories import (
    deposit_amount,
    make_user,
    session_token,
    submit,
    user_phone,
)

API = "/api/v1"
ACCOUNT = {"account_name": "测试科技有限公司", "account_number": "6222020200001234",
           "bank_name": "工商银行"}


async def _use_up_a_deposit(client, deps, headers: dict[str, str], ent: str) -> None:
    resp = await client.post(f"{API}/enterprises/{ent}/certification/deposit", json=ACCOUNT,
                             headers=headers)
    assert resp.status == 201, await resp.text()
    attempt = (await resp.json())["id"]
    right = await deposit_amount(deps, attempt)
    wrong = [a for a in ("0.01", "0.02", "0.03", "0.04") if a != right][:3]
    codes = []
    for amount in wrong:
        r = await client.post(f"{API}/certification-attempts/{attempt}/deposit",
                              json={"amount": amount}, headers=headers)
        codes.append((r.status, (await r.json())["error"]["code"]))
    assert codes[-1] == (400, "deposit_exhausted")


async def test_restart_after_used_up_deposit_gets_429_and_operator_sees_alert(
    client, deps, clock
) -> None:
    user = await make_user(deps)
    ent = (await submit(deps, user)).id
    headers = {"Authorization": f"Bearer {await session_token(deps, user)}"}
    await _use_up_a_deposit(client, deps, headers, ent)
    again = await client.post(f"{API}/enterprises/{ent}/certification/deposit", json=ACCOUNT,
                              headers=headers)
    assert again.status == 429
    assert (await again.json())["error"] == {
        "code": "proof_cooldown", "message": "对公打款验证错误次数过多，请 60 分钟后再试",
        "retry_after": 3600}
    assert again.headers["Retry-After"] == "3600"

    clock.advance(seconds=proofs.DEPOSIT.cooldown_seconds + 1)
    await _use_up_a_deposit(client, deps, headers, ent)  # the second failure in a day

    operator = await make_user(deps)
    await create_operator(deps, await user_phone(deps, operator))
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, operator)})
    page = await (await client.get("/operator")).text()
    alerts = page.split('id="proof-alerts"')[1].split("</section>")[0]
    assert "测试科技有限公司" in alerts and "24 小时内多次验证失败" in alerts
