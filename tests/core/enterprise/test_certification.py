"""Enterprise certification: the state machines and each of the four methods."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import devtools
from core.enterprise import certification as cert
from core.enterprise import seals as S
from core.enterprise.certification import ATTEMPT_SM, ENTERPRISE_SM, AttemptState
from core.enterprise.certification import EnterpriseState as ES
from core.enterprise.operators import create_operator
from core.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from storage.models import Enterprise, Member
from tests.enterprise_factories import (
    META,
    bad_check_credit_code,
    certify_by_deposit,
    deposit_amount,
    enterprise_input,
    make_user,
    png_bytes,
    submit,
    user_phone,
)


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (ES.CERTIFYING, ES.CERTIFIED, True),
        (ES.CERTIFYING, ES.REJECTED, True),
        (ES.CERTIFYING, ES.REVOKED, True),
        (ES.REJECTED, ES.CERTIFYING, True),
        (ES.REJECTED, ES.REVOKED, True),
        (ES.CERTIFIED, ES.CERTIFYING, True),
        (ES.CERTIFIED, ES.REVOKED, False),
        (ES.CERTIFIED, ES.REJECTED, False),
        (ES.REVOKED, ES.CERTIFYING, False),
        (ES.REJECTED, ES.CERTIFIED, False),
    ],
)
def test_enterprise_transitions(current: ES, target: ES, ok: bool) -> None:
    if ok:
        ENTERPRISE_SM.ensure(current, target)
    else:
        with pytest.raises(IllegalTransition):
            ENTERPRISE_SM.ensure(current, target)


@pytest.mark.parametrize("final", [AttemptState.PASSED, AttemptState.FAILED,
                                   AttemptState.EXPIRED, AttemptState.CANCELLED])
def test_finished_attempts_cannot_move(final: AttemptState) -> None:
    for target in AttemptState:
        assert not ATTEMPT_SM.can(final, target)


def test_review_can_only_pass_fail_or_cancel() -> None:
    assert ATTEMPT_SM.can(AttemptState.AWAITING_REVIEW, AttemptState.PASSED)
    assert not ATTEMPT_SM.can(AttemptState.AWAITING_REVIEW, AttemptState.EXPIRED)


async def test_submit_requires_verified_identity(deps) -> None:
    user = await make_user(deps, verified=False)
    with pytest.raises(PermissionDenied):
        await submit(deps, user)


async def test_submit_encrypts_legal_rep_id(deps) -> None:
    user = await make_user(deps)
    view = await submit(deps, user)
    async with deps.db.sessions() as s:
        ent = await s.get(Enterprise, view.id)
    assert view.state == "certifying"
    assert "456" not in ent.legal_rep_id_cipher and ent.legal_rep_id_masked.endswith(
        ent.legal_rep_id_masked[-4:])
    assert "*" in ent.legal_rep_id_masked


async def test_submit_warns_on_bad_check_character(deps) -> None:
    user = await make_user(deps)
    data = enterprise_input(code=bad_check_credit_code())
    with pytest.raises(InvalidInput) as err:
        await cert.submit_enterprise(deps, user, data, png_bytes(), META)
    assert err.value.code == "credit_code_check_warning"


async def test_submit_refuses_non_image_licence(deps) -> None:
    user = await make_user(deps)
    with pytest.raises(Exception) as err:
        await cert.submit_enterprise(deps, user, enterprise_input(), b"%PDF-1.4 fake", META)
    assert getattr(err.value, "code", "") == "unsupported_image"


async def test_micro_deposit_certifies_and_creates_admin_and_seals(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certified" and view.main_admin_id == user
    kinds = sorted(s.kind for s in await S.list_seals(deps, user, ent.id))
    assert kinds == ["contract", "legal_rep", "official"]


async def test_micro_deposit_wrong_amount_three_times_fails(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_deposit(deps, user, ent.id, account_name="测试科技有限公司",
                                       account_number="6222020200001234", bank_name="工商银行",
                                       meta=META)
    right = await deposit_amount(deps, attempt.id)
    wrong = "0.01" if right != "0.01" else "0.02"
    codes = []
    for _ in range(3):
        with pytest.raises(InvalidInput) as err:
            await cert.confirm_deposit(deps, user, attempt.id, wrong, META)
        codes.append(err.value.code)
    assert codes == ["wrong_amount", "wrong_amount", "deposit_exhausted"]
    with pytest.raises(Conflict):
        await cert.confirm_deposit(deps, user, attempt.id, right, META)


async def test_micro_deposit_expires(deps, clock) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_deposit(deps, user, ent.id, account_name="测试科技有限公司",
                                       account_number="6222020200001234", bank_name="工商银行",
                                       meta=META)
    right = await deposit_amount(deps, attempt.id)
    clock.advance(seconds=cert.DEPOSIT_TTL.total_seconds() + 1)
    with pytest.raises(InvalidInput) as err:
        await cert.confirm_deposit(deps, user, attempt.id, right, META)
    assert err.value.code == "attempt_expired"
    assert (await cert.get_attempt(deps, user, attempt.id)).state == "expired"


async def test_deposit_account_name_must_match(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    with pytest.raises(InvalidInput):
        await cert.start_deposit(deps, user, ent.id, account_name="别的公司",
                                 account_number="6222020200001234", bank_name="工商银行",
                                 meta=META)


async def test_legal_rep_phone_method(deps, outbox) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_phone(deps, user, ent.id, "13800138000", META)
    await outbox.drain()
    code = next(m.code for m in await devtools.sms_inbox(deps, "13800138000") if m.code)
    done = await cert.confirm_phone(deps, user, attempt.id, code, META)
    assert done.state == "passed"
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certified"


async def test_legal_rep_phone_must_belong_to_rep(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    with pytest.raises(InvalidInput) as err:
        await cert.start_phone(deps, user, ent.id, "13800130000", META)  # dev: ...0000 fails
    assert err.value.code == "legal_rep_phone_mismatch"


async def test_legal_rep_face_method(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt, url = await cert.start_face(deps, user, ent.id, META)
    assert "/dev/identity/face/" in url
    assert (await cert.face_result(deps, user, attempt.id, META)).state == "passed"


async def test_a_provider_page_that_is_no_web_address_fails_the_attempt_at_once(
    deps, monkeypatch
) -> None:
    from core.errors import ProviderUnavailable
    from core.ports import FaceSession

    user = await make_user(deps)
    ent = await submit(deps, user)
    returned: list[str] = []

    async def hostile(name: str, id_number: str, return_url: str) -> FaceSession:
        returned.append(return_url)
        return FaceSession(provider_ref="p1", redirect_url="javascript:alert(1)")

    monkeypatch.setattr(deps.identity, "start_face", hostile)
    with pytest.raises(ProviderUnavailable):
        await cert.start_face(deps, user, ent.id, META)
    # The provider was told to send the legal rep back to this server's attempt page.
    assert returned[0].startswith(deps.config.server.base_url.rstrip("/") + "/console/attempt/")
    assert returned[0].endswith("/face")
    # Not left pending with a page nobody can open: failed, so another try may start.
    _, attempts = await cert.certification_status(deps, user, ent.id)
    assert [a.state for a in attempts] == ["failed"]


async def test_legal_rep_face_failure(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user, rep_id=None)
    from tests.enterprise_factories import id_number

    failing = await cert.submit_enterprise(
        deps, await make_user(deps), enterprise_input(name="失败测试有限公司",
                                                      rep_id=id_number("999")),
        png_bytes(), META)
    del ent
    owner = failing.certifier_id
    attempt, _ = await cert.start_face(deps, owner, failing.id, META)
    assert (await cert.face_result(deps, owner, attempt.id, META)).state == "failed"


async def test_letter_approved_by_operator(deps) -> None:
    user = await make_user(deps)
    op = await make_user(deps)
    await create_operator(deps, await user_phone(deps, op))
    ent = await submit(deps, user)
    attempt = await cert.start_letter(deps, user, ent.id, META)
    pdf = await cert.letter_pdf(deps, user, attempt.id)
    assert pdf.startswith(b"%PDF")
    waiting = await cert.upload_letter(deps, user, attempt.id, png_bytes(), META)
    assert waiting.state == "awaiting_review"
    assert [i.attempt.id for i in await cert.pending_letters(deps, op)] == [attempt.id]
    await cert.review_letter(deps, op, attempt.id, True, "", META)
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certified"


async def test_letter_rejection_then_resubmit(deps) -> None:
    user = await make_user(deps)
    op = await make_user(deps)
    await create_operator(deps, await user_phone(deps, op))
    ent = await submit(deps, user)
    attempt = await cert.start_letter(deps, user, ent.id, META)
    await cert.upload_letter(deps, user, attempt.id, png_bytes(), META)
    await cert.review_letter(deps, op, attempt.id, False, "公章不清晰", META)
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert (view.state, view.rejection_reason) == ("rejected", "公章不清晰")
    with pytest.raises(Conflict):
        await cert.start_letter(deps, user, ent.id, META)
    again = await cert.resubmit_enterprise(deps, user, ent.id, enterprise_input(), None, META)
    assert again.state == "certifying" and again.rejection_reason is None
    await certify_by_deposit(deps, user, ent.id)
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certified"


async def test_only_operator_reviews_letters(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_letter(deps, user, ent.id, META)
    await cert.upload_letter(deps, user, attempt.id, png_bytes(), META)
    with pytest.raises(PermissionDenied):
        await cert.review_letter(deps, user, attempt.id, True, "", META)


async def test_revoke_unfinished_certification(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    attempt = await cert.start_letter(deps, user, ent.id, META)
    view = await cert.revoke_certification(deps, user, ent.id, META)
    assert view.state == "revoked"
    assert (await cert.get_attempt(deps, user, attempt.id)).state == "cancelled"
    with pytest.raises(Conflict):
        await cert.start_letter(deps, user, ent.id, META)


async def test_continue_after_failed_method(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    first = await cert.start_letter(deps, user, ent.id, META)
    await certify_by_deposit(deps, user, ent.id)  # a new method cancels the open one
    assert (await cert.get_attempt(deps, user, first.id)).state == "cancelled"


async def test_certified_enterprise_cannot_be_revoked(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    with pytest.raises((Conflict, IllegalTransition)):
        await cert.revoke_certification(deps, user, ent.id, META)


async def test_other_people_cannot_see_a_certification(deps) -> None:
    user = await make_user(deps)
    stranger = await make_user(deps)
    ent = await submit(deps, user)
    with pytest.raises(NotFound):
        await cert.certification_status(deps, stranger, ent.id)
    with pytest.raises(NotFound):
        await cert.start_letter(deps, stranger, ent.id, META)


async def test_bad_check_character_waits_for_operator_override(deps) -> None:
    user = await make_user(deps)
    op = await make_user(deps)
    await create_operator(deps, await user_phone(deps, op))
    ent = await cert.submit_enterprise(deps, user, enterprise_input(code=bad_check_credit_code()),
                                       png_bytes(), META, accept_check_warning=True)
    await certify_by_deposit(deps, user, ent.id)
    view, _ = await cert.certification_status(deps, user, ent.id)
    assert view.state == "certifying" and view.waiting_for_code_check
    done = await cert.override_credit_code(deps, op, ent.id, META)
    assert done.state == "certified"


async def test_same_credit_code_cannot_be_certified_twice(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    other = await make_user(deps)
    async with deps.db.sessions() as s:
        code = (await s.get(Enterprise, ent.id)).credit_code
    with pytest.raises(Conflict) as err:
        await cert.submit_enterprise(deps, other, enterprise_input(code=code), png_bytes(), META)
    assert err.value.code == "enterprise_exists"


async def test_name_change_voids_all_seals_and_requires_recertification(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    view = await cert.change_enterprise_info(deps, user, ent.id, name="新名称科技有限公司",
                                             meta=META)
    assert view.state == "certifying"
    assert {s.status for s in await S.list_seals(deps, user, ent.id)} == {"voided"}
    await certify_by_deposit(deps, user, ent.id, "新名称科技有限公司")
    seals = await S.list_seals(deps, user, ent.id)
    assert sorted(s.kind for s in seals if s.status == "enabled") == [
        "contract", "legal_rep", "official"]


async def test_legal_rep_change_voids_only_the_legal_rep_seal(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    from tests.enterprise_factories import id_number

    view = await cert.change_enterprise_info(deps, user, ent.id, legal_rep_name="赵六",
                                             legal_rep_id_number=id_number("777"), meta=META)
    assert view.state == "certified"
    status = {s.kind: s.status for s in await S.list_seals(deps, user, ent.id)}
    assert status == {"official": "enabled", "contract": "enabled", "legal_rep": "voided"}


async def test_certifier_membership_is_main_admin(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    async with deps.db.sessions() as s:
        members = (await s.execute(select(Member).where(Member.enterprise_id == ent.id))
                   ).scalars().all()
    assert [(m.user_id, m.status) for m in members] == [(user, "active")]


def _stored(deps, area: str) -> list[str]:
    from core.files import file_store

    root = file_store(deps).root / area
    return sorted(p.name for p in root.glob("*")) if root.exists() else []


async def test_refused_submission_leaves_no_licence_file(deps) -> None:
    user = await make_user(deps, verified=False)
    with pytest.raises(PermissionDenied):
        await cert.submit_enterprise(deps, user, enterprise_input(), png_bytes(), META)
    assert _stored(deps, "licence") == []


async def test_duplicate_credit_code_leaves_no_licence_file(deps) -> None:
    user = await make_user(deps)
    ent = await submit(deps, user)
    await certify_by_deposit(deps, user, ent.id)
    before = _stored(deps, "licence")
    other = await make_user(deps)
    async with deps.db.sessions() as s:
        code = (await s.get(Enterprise, ent.id)).credit_code
    with pytest.raises(Conflict):
        await cert.submit_enterprise(deps, other, enterprise_input(code=code), png_bytes(), META)
    assert _stored(deps, "licence") == before


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-inf", "1e999999999", "9" * 4400,
                                    "0.3x", ""])
def test_deposit_amount_garbage_is_invalid_input(amount: str) -> None:
    with pytest.raises(InvalidInput) as err:
        cert.parse_amount(amount)
    assert err.value.code == "invalid_amount"
