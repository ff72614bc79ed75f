"""Real-name check service against the dev provider (rules in core/adapters/identity_dev.py)."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import func, select

from core import identity
from core.audit import verify_chain
from core.context import Deps, RequestMeta
from core.crypto import FieldCipher
from core.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    ProviderUnavailable,
    RateLimited,
)
from core.identity import IDENTITY, IdentityState
from core.ports import FaceSession, IdentityResult
from storage.models import AgreementAcceptance, AuditEntry, IdentityVerification, User
from tests.identity_support import bad_check_digit, id_number, make_user

META = RequestMeta(ip="203.0.113.9", user_agent="pytest")
NAME = "王小明"


async def start(deps: Deps, user_id: str, **overrides: Any) -> identity.StartOutcome:
    values: dict[str, Any] = {
        "method": "carrier3",
        "name": NAME,
        "id_type": "id_card",
        "id_number": id_number(),
        "email": "wang@example.com",
        "phone": "13912345678",
        "bank_card": None,
        "notices_accepted": {"personal_info", "biometric"},
        "meta": META,
    }
    values.update(overrides)
    return await identity.start_verification(deps, user_id, **values)


async def rows(deps: Deps, model: Any) -> list[Any]:
    async with deps.db.sessions() as session:
        return list((await session.execute(select(model))).scalars().all())


async def user_row(deps: Deps, user_id: str) -> User:
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


# ------------------------------------------------------------------ methods × outcomes


async def test_carrier3_passes_and_fills_the_user_identity(deps: Deps) -> None:
    uid = await make_user(deps)
    number = id_number()
    outcome = await start(deps, uid, id_number=number)
    assert outcome.state == "verified"
    user = await user_row(deps, uid)
    cipher = FieldCipher.from_config(deps.config)
    assert user.identity_state == "verified"
    assert user.real_name == NAME and user.id_type == "id_card"
    assert cipher.decrypt(user.id_number_cipher or "") == number
    assert user.id_number_hash == cipher.lookup_hash(number)
    assert user.id_number_masked == number[:6] + "********" + number[-4:]
    assert user.verified_at == deps.clock.now()


async def test_a_verified_person_gets_a_signing_certificate_in_their_name(
    deps: Deps, outbox
) -> None:
    from cryptography import x509

    from core.signing import service

    uid = await make_user(deps)
    await start(deps, uid, id_number=id_number())
    assert await service.active_certificate(deps, "person", uid) is None  # after commit
    await outbox.drain()
    info = await service.active_certificate(deps, "person", uid)
    assert info is not None
    cert = x509.load_pem_x509_certificate(info.cert_pem.encode())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == NAME


async def test_a_failed_check_issues_no_certificate(deps: Deps, outbox) -> None:
    from core.signing import service

    uid = await make_user(deps)
    await start(deps, uid, phone="13912340000")
    await outbox.drain()
    assert await service.active_certificate(deps, "person", uid) is None


async def test_carrier3_fails_for_phone_ending_0000(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, phone="13912340000")
    assert outcome.state == "failed"
    assert outcome.status.state == "failed"
    assert outcome.status.latest is not None
    assert outcome.status.latest.result_code == "phone_mismatch"
    assert (await user_row(deps, uid)).id_number_hash is None


async def test_carrier3_stays_pending_for_sequence_998_even_after_refresh(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, id_number=id_number("998"))
    assert outcome.state == "pending"
    status = await identity.refresh_pending(deps, uid, META)
    assert status.state == "pending" and status.can_refresh


async def test_bank4_passes(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="bank4", bank_card="6222 0202 0000 1234")
    assert outcome.state == "verified"
    assert outcome.status.latest is not None
    assert outcome.status.latest.bank_card_masked == "**** 1234"


async def test_bank4_fails_for_card_ending_0000(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="bank4", bank_card="6222020200000000")
    assert outcome.state == "failed"
    assert outcome.status.latest is not None
    assert outcome.status.latest.result_code == "card_mismatch"


async def test_bank4_stays_pending_for_sequence_998(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="bank4", bank_card="6222020200001234",
                          id_number=id_number("998"))
    assert outcome.state == "pending"


async def test_bank4_requires_a_card_number(deps: Deps) -> None:
    uid = await make_user(deps)
    with pytest.raises(InvalidInput) as err:
        await start(deps, uid, method="bank4", bank_card="12ab")
    assert err.value.code == "invalid_bank_card"


async def test_sequence_999_fails_every_method(deps: Deps) -> None:
    for i, method in enumerate(("carrier3", "bank4")):
        uid = await make_user(deps, phone=f"1391234000{i + 1}")
        outcome = await start(deps, uid, method=method, bank_card="6222020200001234",
                              id_number=id_number("999"), phone=f"1391234000{i + 1}")
        assert outcome.state == "failed", method


async def test_face_redirects_then_the_return_leg_verifies(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="face")
    assert outcome.state == "pending"
    assert outcome.redirect_url is not None
    assert "/dev/identity/face/dev-face-pass-" in outcome.redirect_url
    assert outcome.verification_id in outcome.redirect_url  # the return URL's ref
    status = await identity.complete_face(deps, uid, outcome.verification_id, META)
    assert status.state == "verified"
    assert status.latest is not None and status.latest.method == "face"


async def test_face_fails_for_sequence_999(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="face", id_number=id_number("999"))
    status = await identity.complete_face(deps, uid, outcome.verification_id, META)
    assert status.state == "failed"
    assert status.latest is not None and status.latest.result_code == "face_mismatch"


async def test_face_stays_pending_for_sequence_998(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="face", id_number=id_number("998"))
    status = await identity.complete_face(deps, uid, outcome.verification_id, META)
    assert status.state == "pending"


async def test_face_return_twice_is_harmless(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="face")
    await identity.complete_face(deps, uid, outcome.verification_id, META)
    status = await identity.complete_face(deps, uid, outcome.verification_id, META)
    assert status.state == "verified"
    verified = [e for e in await rows(deps, AuditEntry) if e.action == "identity.verified"]
    assert len(verified) == 1


async def test_face_return_of_another_users_check_is_not_found(deps: Deps) -> None:
    owner = await make_user(deps, phone="13911110001")
    other = await make_user(deps, phone="13911110002")
    outcome = await start(deps, owner, method="face", phone="13911110001")
    from core.errors import NotFound

    with pytest.raises(NotFound):
        await identity.complete_face(deps, other, outcome.verification_id, META)
    assert (await user_row(deps, owner)).identity_state == "pending"


# ------------------------------------------------------------------ retry and state machine


async def test_retry_after_failure_can_pass(deps: Deps) -> None:
    uid = await make_user(deps)
    first = await start(deps, uid, phone="13912340000")
    assert first.state == "failed"
    second = await start(deps, uid)
    assert second.state == "verified"
    attempts = sorted(v.attempt for v in await rows(deps, IdentityVerification))
    assert attempts == [1, 2]


async def test_a_new_attempt_replaces_a_pending_one(deps: Deps) -> None:
    uid = await make_user(deps)
    first = await start(deps, uid, id_number=id_number("998"))
    second = await start(deps, uid)
    assert second.state == "verified"
    by_id = {v.id: v for v in await rows(deps, IdentityVerification)}
    assert by_id[first.verification_id].state == "failed"
    assert by_id[first.verification_id].result_code == "superseded"


async def test_verified_person_cannot_start_again(deps: Deps) -> None:
    uid = await make_user(deps)
    await start(deps, uid)
    with pytest.raises(Conflict) as err:
        await start(deps, uid)
    assert err.value.code == "identity_already_verified"
    assert len(await rows(deps, IdentityVerification)) == 1


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (IdentityState.UNVERIFIED, IdentityState.VERIFIED),
        (IdentityState.UNVERIFIED, IdentityState.FAILED),
        (IdentityState.VERIFIED, IdentityState.PENDING),
        (IdentityState.VERIFIED, IdentityState.FAILED),
        (IdentityState.FAILED, IdentityState.VERIFIED),
    ],
)
def test_state_machine_refuses_illegal_moves(current: IdentityState,
                                            target: IdentityState) -> None:
    with pytest.raises(IllegalTransition) as err:
        IDENTITY.ensure(current, target)
    assert err.value.code == "identity_illegal_transition"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (IdentityState.UNVERIFIED, IdentityState.PENDING),
        (IdentityState.PENDING, IdentityState.PENDING),
        (IdentityState.PENDING, IdentityState.VERIFIED),
        (IdentityState.PENDING, IdentityState.FAILED),
        (IdentityState.FAILED, IdentityState.PENDING),
    ],
)
def test_state_machine_allows_the_documented_moves(current: IdentityState,
                                                  target: IdentityState) -> None:
    IDENTITY.ensure(current, target)


# ------------------------------------------------------------------ refusals leave nothing


async def _nothing_written(deps: Deps, uid: str) -> None:
    assert await rows(deps, IdentityVerification) == []
    assert await rows(deps, AgreementAcceptance) == []
    assert await rows(deps, AuditEntry) == []
    assert (await user_row(deps, uid)).identity_state == "unverified"


async def test_bad_check_digit_is_refused_with_no_rows(deps: Deps) -> None:
    uid = await make_user(deps)
    with pytest.raises(InvalidInput) as err:
        await start(deps, uid, id_number=bad_check_digit(id_number()))
    assert err.value.code == "invalid_id_number" and "校验位" in err.value.message
    await _nothing_written(deps, uid)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"name": "x"}, "invalid_name"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"phone": "12345"}, "invalid_phone"),
        ({"method": "sms"}, "invalid_method"),
        ({"id_type": "driving_licence"}, "invalid_id_type"),
        ({"id_type": "passport", "id_number": "E12345678"}, "id_type_unsupported"),
        ({"id_type": "hk_mo_permit", "id_number": "H12345678"}, "id_type_unsupported"),
        ({"id_type": "hmt_residence", "id_number": id_number()}, "invalid_id_number"),
        ({"id_type": "foreign_permanent", "id_number": id_number()}, "invalid_id_number"),
        ({"id_type": "foreign_permanent", "id_number": "USA1234567890"}, "invalid_id_number"),
        ({"notices_accepted": set()}, "notice_required"),
        ({"method": "face", "notices_accepted": {"personal_info"}}, "notice_required"),
    ],
)
async def test_bad_input_is_refused_with_no_rows(deps: Deps, overrides: dict[str, Any],
                                                 code: str) -> None:
    uid = await make_user(deps)
    with pytest.raises(InvalidInput) as err:
        await start(deps, uid, **overrides)
    assert err.value.code == code
    await _nothing_written(deps, uid)


async def test_id_number_verified_by_another_user_is_refused(deps: Deps) -> None:
    first = await make_user(deps, phone="13911110001")
    second = await make_user(deps, phone="13911110002")
    number = id_number()
    await start(deps, first, id_number=number, phone="13911110001")
    with pytest.raises(Conflict) as err:
        await start(deps, second, id_number=number, phone="13911110002")
    assert err.value.code == "id_number_in_use"
    assert (await user_row(deps, second)).identity_state == "unverified"
    mine = [v for v in await rows(deps, IdentityVerification) if v.user_id == second]
    assert mine == []
    refused = [e for e in await rows(deps, AuditEntry)
               if e.action == "identity.refused_id_in_use"]
    assert len(refused) == 1 and refused[0].actor_id == second


async def test_two_pending_checks_of_one_id_cannot_both_verify(deps: Deps) -> None:
    first = await make_user(deps, phone="13911110001")
    second = await make_user(deps, phone="13911110002")
    number = id_number()
    a = await start(deps, first, method="face", id_number=number, phone="13911110001")
    b = await start(deps, second, method="face", id_number=number, phone="13911110002")
    assert (await identity.complete_face(deps, first, a.verification_id, META)).state \
        == "verified"
    status = await identity.complete_face(deps, second, b.verification_id, META)
    assert status.state == "failed"
    assert status.latest is not None and status.latest.result_code == "id_number_in_use"


async def test_attempts_are_limited_per_day(deps: Deps, clock) -> None:
    uid = await make_user(deps)
    for _ in range(10):
        await start(deps, uid, phone="13912340000")  # each one fails at the provider
    with pytest.raises(RateLimited) as err:
        await start(deps, uid, phone="13912340000")
    assert err.value.retry_after and err.value.retry_after > 0
    assert len(await rows(deps, IdentityVerification)) == 10
    clock.advance(days=1, seconds=1)
    assert (await start(deps, uid)).state == "verified"


# ------------------------------------------------------------------ evidence and privacy


async def test_evidence_row_keeps_method_provider_ref_time_and_masked_values(
    deps: Deps, clock
) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, method="bank4", bank_card="6222020200001234")
    (row,) = await rows(deps, IdentityVerification)
    assert row.id == outcome.verification_id
    assert row.method == "bank4" and row.provider == "dev" and row.state == "verified"
    assert row.provider_ref and row.provider_ref.startswith("dev-b4-pass-")
    assert row.result_code == "ok" and row.result_message
    assert row.created_at == clock.now() and row.completed_at == clock.now()
    assert row.phone_masked == "139****5678"
    assert row.bank_card_masked == "**** 1234"
    assert row.email == "wang@example.com"
    assert row.ip == META.ip
    assert row.id_number_cipher.startswith("v1:")


async def test_notices_are_recorded_with_their_versions(deps: Deps) -> None:
    uid = await make_user(deps)
    await start(deps, uid, method="face")
    accepted = {(a.agreement, a.version) for a in await rows(deps, AgreementAcceptance)}
    cfg = deps.config.agreements
    assert accepted == {("personal_info", cfg.personal_info_notice_version),
                        ("biometric", cfg.biometric_notice_version)}


async def test_no_raw_id_number_name_or_card_in_audit_rows(deps: Deps) -> None:
    uid = await make_user(deps)
    number, card = id_number(), "6222020200001234"
    await start(deps, uid, method="bank4", id_number=number, bank_card=card)
    entries = await rows(deps, AuditEntry)
    actions = {e.action for e in entries}
    assert {"identity.verification_started", "identity.verified"} <= actions
    dump = json.dumps([e.data for e in entries], ensure_ascii=False)
    assert number not in dump and number[:17] not in dump
    assert card not in dump and NAME not in dump and "13912345678" not in dump
    assert "110101********" in dump
    assert (await verify_chain(deps.db)).ok


# ------------------------------------------------------------------ provider trouble


class BrokenProvider:
    name = "broken"
    id_types = MappingProxyType({"face": frozenset({"id_card"}),
                                 "carrier3": frozenset({"id_card"}),
                                 "bank4": frozenset({"id_card"})})

    async def carrier3(self, *args: str) -> IdentityResult:
        raise ProviderUnavailable()

    async def bank4(self, *args: str) -> IdentityResult:
        raise RuntimeError("boom 110101199003071233")

    async def start_face(self, *args: str) -> FaceSession:
        raise ProviderUnavailable()

    async def face_result(self, provider_ref: str) -> IdentityResult:
        raise ProviderUnavailable()

    async def check_result(self, method: str, provider_ref: str) -> IdentityResult:
        raise ProviderUnavailable()


async def test_provider_down_closes_the_attempt_as_failed_and_allows_retry(
    deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    uid = await make_user(deps)
    deps.identity = BrokenProvider()
    for method in ("carrier3", "bank4", "face"):
        outcome = await start(deps, uid, method=method, bank_card="6222020200001234")
        assert outcome.state == "failed" and outcome.redirect_url is None
        assert outcome.status.latest is not None
        assert outcome.status.latest.result_code == "provider_unavailable"
    assert "110101199003071233" not in caplog.text


async def test_a_provider_page_that_is_no_web_address_is_never_handed_out(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = await make_user(deps)

    async def hostile(*_args: str) -> FaceSession:
        return FaceSession(provider_ref="p1", redirect_url="//evil.example/face")

    monkeypatch.setattr(deps.identity, "start_face", hostile)
    outcome = await start(deps, uid, method="face")
    # Closed as failed (so the person may try again), and no address to send them to.
    assert outcome.state == "failed" and outcome.redirect_url is None
    assert outcome.status.latest is not None
    assert outcome.status.latest.result_code == "provider_unavailable"


async def test_provider_down_on_refresh_keeps_the_check_pending(deps: Deps) -> None:
    uid = await make_user(deps)
    await start(deps, uid, id_number=id_number("998"))
    deps.identity = BrokenProvider()
    with pytest.raises(ProviderUnavailable):
        await identity.refresh_pending(deps, uid, META)
    assert (await user_row(deps, uid)).identity_state == "pending"


async def test_refreshes_are_limited(deps: Deps) -> None:
    uid = await make_user(deps)
    await start(deps, uid, id_number=id_number("998"))
    for _ in range(30):
        await identity.refresh_pending(deps, uid, META)
    with pytest.raises(RateLimited):
        await identity.refresh_pending(deps, uid, META)


async def test_status_of_a_new_user_is_unverified(deps: Deps) -> None:
    uid = await make_user(deps)
    status = await identity.identity_status(deps, uid)
    assert status.state == "unverified" and status.can_start and not status.can_refresh
    assert status.latest is None and status.account_phone == "13912345678"


async def test_on_person_verified_hook_runs_once_inside_the_transaction(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []

    async def hook(tx, deps_, user, verification, meta) -> None:
        # Inside the transaction: the user row already carries the verified identity.
        count = (await tx.session.execute(select(func.count()).select_from(User))).scalar_one()
        assert count == 1
        calls.append((user.identity_state, verification.state))

    monkeypatch.setattr(identity, "on_person_verified", hook)
    uid = await make_user(deps)
    await start(deps, uid)
    assert calls == [("verified", "verified")]


# ------------------------------------------------------------------ document types


async def test_email_is_optional_and_checked_when_given(deps: Deps) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, email="")
    assert outcome.state == "verified"
    [row] = await rows(deps, IdentityVerification)
    assert row.email is None


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("hmt_residence", id_number(region="810000")),  # Hong Kong
        ("hmt_residence", id_number(region="830000", birth="19850101")),  # Taiwan
        ("foreign_permanent", id_number(region="931840")),  # 2017 card, first digit 9
        ("foreign_permanent", "usa310019900307"),  # older card: 3 letters + 12 digits
    ],
)
async def test_residence_permit_and_permanent_residence_card_verify(
    deps: Deps, id_type: str, number: str
) -> None:
    uid = await make_user(deps)
    outcome = await start(deps, uid, id_type=id_type, id_number=number)
    assert outcome.state == "verified"
    user = await user_row(deps, uid)
    assert user.id_type == id_type
    assert outcome.status.id_type_label in ("港澳台居民居住证", "外国人永久居留身份证")
    assert user.id_number_masked == number.upper()[:6] + "*" * (len(number) - 10) + number[-4:]


@pytest.mark.parametrize(
    ("id_type", "number", "says"),
    [
        ("hmt_residence", id_number(region="110101"), "81、82 或 83"),
        ("hmt_residence", bad_check_digit(id_number(region="820000")), "校验位"),
        ("foreign_permanent", bad_check_digit(id_number(region="931840")), "校验位"),
        ("foreign_permanent", "US3100199003071", "15 位"),
        ("id_card", id_number(region="810000"), "港澳台居民居住证"),
        ("id_card", id_number(region="931840"), "永久居留"),
    ],
)
async def test_document_numbers_are_checked_per_type(
    deps: Deps, id_type: str, number: str, says: str
) -> None:
    uid = await make_user(deps)
    with pytest.raises(InvalidInput) as err:
        await start(deps, uid, id_type=id_type, id_number=number)
    assert err.value.code == "invalid_id_number" and says in err.value.message
    await _nothing_written(deps, uid)


async def test_types_and_methods_follow_what_the_provider_supports(deps: Deps) -> None:
    from core.adapters.identity_tencent import TencentFaceIdVerifier

    offered = identity.id_type_options(TencentFaceIdVerifier.id_types)
    assert [(o.value, o.methods) for o in offered] == [
        ("id_card", ("face", "carrier3", "bank4")), ("hmt_residence", ("face",))]
    deps.identity = TencentFaceIdVerifier(deps.config.identity)
    uid = await make_user(deps)
    with pytest.raises(InvalidInput) as err:  # before any call to the provider
        await start(deps, uid, id_type="hmt_residence", id_number=id_number(region="810000"))
    assert err.value.code == "id_type_unsupported"
    assert err.value.message == "港澳台居民居住证仅支持人脸识别认证，请更换认证方式"
    with pytest.raises(InvalidInput) as err:
        await start(deps, uid, id_type="foreign_permanent",
                    id_number=id_number(region="931840"))
    assert err.value.message == (
        "外国人永久居留身份证暂不支持在线实名认证，目前支持：居民身份证、港澳台居民居住证")
    await _nothing_written(deps, uid)
