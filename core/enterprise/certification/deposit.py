"""Proof by corporate micro-deposit: we send 0.01–0.99 CNY, the enterprise types it back."""

from __future__ import annotations

import hmac
import secrets
from decimal import Decimal, InvalidOperation

from core.context import Deps, RequestMeta
from core.crypto import mask_bank_card
from core.enterprise import proofs
from core.enterprise.certification.attempts import (
    check_open,
    deposit_hash,
    expire_if_due,
    fail_attempt,
    new_attempt,
    open_subject,
    own_attempt,
    pass_attempt,
)
from core.enterprise.certification.states import DEPOSIT_MAX_TRIES, DEPOSIT_TTL
from core.enterprise.certification.views import AttemptView, attempt_view
from core.enterprise.common import log
from core.enterprise.payment import Transfer, payment_gateway
from core.errors import (
    DomainError,
    InvalidInput,
    Locked,
    ProviderUnavailable,
    RateLimited,
)
from storage.models import (
    CertificationAttempt,
)
from storage.uow import Tx

# ---------------------------------------------------------------- method: micro-deposit


async def start_deposit(
    deps: Deps, user_id: str, enterprise_id: str, *, account_name: str, account_number: str,
    bank_name: str, meta: RequestMeta, purpose: str = "certify",
) -> AttemptView:
    account_number = (account_number or "").replace(" ", "")
    if not account_number.isdigit() or not 6 <= len(account_number) <= 30:
        raise InvalidInput("请输入正确的对公银行账号", code="invalid_account",
                           field="account_number")
    bank_name = (bank_name or "").strip()
    if not 2 <= len(bank_name) <= 60:
        raise InvalidInput("请输入开户银行", code="invalid_bank", field="bank_name")
    account_name = (account_name or "").strip()
    cents = secrets.randbelow(99) + 1  # 0.01–0.99 CNY
    try:
        async with deps.db.transaction() as tx:
            ent = await open_subject(tx, deps, user_id, enterprise_id, purpose)
            if account_name != ent.name:
                raise InvalidInput("对公账户户名须与企业名称一致", code="account_name_mismatch",
                                   field="account_name")
            # 99 possible amounts: restarts are limited, not only the tries of each.
            await proofs.check_deposit_lock(tx, deps, ent.id)
            await proofs.check_start(tx, deps, proofs.DEPOSIT, ent.id, user_id)
            attempt = await new_attempt(
                tx, deps, ent, user_id, purpose, "micro_deposit", DEPOSIT_TTL,
                {"account_masked": mask_bank_card(account_number), "bank_name": bank_name},
            )
            attempt.secret_hash = deposit_hash(deps, attempt.id, cents)
            attempt_id = attempt.id
    except (RateLimited, Locked) as err:
        await proofs.refused(deps, proofs.DEPOSIT, enterprise_id, user_id, err, meta)
        raise
    try:
        transfer_id = await payment_gateway(deps).transfer(
            Transfer(account_name, account_number, bank_name, cents, attempt_id)
        )
    except Exception as exc:
        async with deps.db.transaction() as tx:
            attempt = await own_attempt(tx, user_id, attempt_id)
            await fail_attempt(tx, deps, attempt, "打款失败", meta)
        if isinstance(exc, DomainError):
            raise
        raise ProviderUnavailable("打款失败，请核对账户信息或稍后重试",
                                  code="transfer_failed") from exc
    async with deps.db.transaction() as tx:
        attempt = await own_attempt(tx, user_id, attempt_id)
        attempt.data = {**attempt.data, "transfer_id": transfer_id}
        await log(tx, deps, f"{purpose}.deposit_sent", actor_id=user_id,
                  enterprise_id=attempt.enterprise_id, subject_type="certification_attempt",
                  subject_id=attempt.id,
                  data={"account": mask_bank_card(account_number), "bank": bank_name},
                  meta=meta)
        return attempt_view(attempt)


def parse_amount(value: str) -> int:
    text = (value or "").strip()
    try:
        # Bounded before Decimal sees it; NaN and Infinity parse but cannot be compared.
        amount = Decimal(text) if len(text) <= 20 else Decimal("NaN")
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise InvalidInput("请输入收到的金额，如 0.37", code="invalid_amount",
                           field="amount") from None
    if amount <= 0 or amount >= 1 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("金额应在 0.01 到 0.99 元之间", code="invalid_amount", field="amount")
    return int(amount * 100)


async def confirm_deposit(
    deps: Deps, user_id: str, attempt_id: str, amount: str, meta: RequestMeta
) -> AttemptView:
    """Check the typed amount: 3 tries, then the attempt fails; expired offers fail too."""
    cents = parse_amount(amount)
    error: DomainError | None = None
    enterprise_id = ""
    try:
        async with deps.db.transaction() as tx:
            attempt = await own_attempt(tx, user_id, attempt_id)
            enterprise_id = attempt.enterprise_id
            now = deps.clock.now()
            if expire_if_due(attempt, now):
                await log(tx, deps, f"{attempt.purpose}.deposit_expired", actor_id=user_id,
                          enterprise_id=attempt.enterprise_id,
                          subject_type="certification_attempt", subject_id=attempt.id,
                          meta=meta)
                error = InvalidInput("打款验证已过期，请重新发起", code="attempt_expired")
            else:
                check_open(attempt, now, "micro_deposit")
                await proofs.check_answer(tx, deps, proofs.DEPOSIT, enterprise_id, user_id)
                expected = attempt.secret_hash or ""
                if hmac.compare_digest(expected, deposit_hash(deps, attempt.id, cents)):
                    await pass_attempt(tx, deps, attempt, meta)
                else:
                    error = await _wrong_amount(tx, deps, attempt, meta)
            view = attempt_view(attempt)
    except RateLimited as err:
        await proofs.refused(deps, proofs.DEPOSIT, enterprise_id, user_id, err, meta)
        raise
    if error is not None:
        raise error
    return view


async def _wrong_amount(tx: Tx, deps: Deps, attempt: CertificationAttempt,
                        meta: RequestMeta) -> DomainError:
    attempt.tries += 1
    left = DEPOSIT_MAX_TRIES - attempt.tries
    if left <= 0:
        await fail_attempt(tx, deps, attempt, "金额错误次数过多", meta)
    await proofs.wrong_answer(tx, deps, proofs.DEPOSIT, attempt.enterprise_id,
                              attempt.applicant_id, used_up=left <= 0,
                              subject=("certification_attempt", attempt.id), meta=meta)
    if left > 0:
        return InvalidInput(f"金额不正确，还可尝试 {left} 次", code="wrong_amount",
                            field="amount")
    minutes = proofs.DEPOSIT.cooldown_seconds // 60
    return InvalidInput(f"金额错误次数过多，本次打款验证失败。为保障企业安全，请 {minutes} 分钟后"
                        "再重新发起；每天最多发起 "
                        f"{proofs.DEPOSIT.starts_per_day} 次打款验证", code="deposit_exhausted",
                        field="amount")
