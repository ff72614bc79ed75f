"""Certificates and seal images follow certification and seal changes (outbox jobs)."""

from __future__ import annotations

import io
from datetime import UTC, timedelta

from cryptography import x509
from PIL import Image
from sqlalchemy import select

from core.clock import LOCAL_ZONE
from core.enterprise import certification as cert
from core.enterprise import dashboard as D
from core.enterprise import pki
from core.enterprise import seals as S
from core.files import file_store
from storage.models import Certificate, Contract, Enterprise, Seal
from tests.enterprise_factories import META, certified_enterprise, id_number


async def _certs(deps, owner_type: str, owner_id: str) -> list[Certificate]:
    async with deps.db.sessions() as s:
        return list((await s.execute(
            select(Certificate).where(Certificate.owner_type == owner_type,
                                      Certificate.owner_id == owner_id)
            .order_by(Certificate.created_at))).scalars())


async def _seals(deps, ent_id: str) -> list[Seal]:
    async with deps.db.sessions() as s:
        return list((await s.execute(
            select(Seal).where(Seal.enterprise_id == ent_id).order_by(Seal.created_at)
        )).scalars())


def _attr(row: Certificate, oid: x509.ObjectIdentifier) -> str:
    name = x509.load_der_x509_certificate(row.cert_der).subject
    return name.get_attributes_for_oid(oid)[0].value


def _cn(row: Certificate) -> str:
    return _attr(row, x509.NameOID.COMMON_NAME)


def _ou(row: Certificate) -> str:
    return _attr(row, x509.NameOID.ORGANIZATIONAL_UNIT_NAME)


async def test_certification_issues_enterprise_and_seal_certificates_and_images(
    deps, outbox
) -> None:
    ent_id, _ = await certified_enterprise(deps, name="证书科技有限公司")
    assert await _certs(deps, "enterprise", ent_id) == []  # nothing before the commit's jobs
    await outbox.drain()

    [ent_cert] = await _certs(deps, "enterprise", ent_id)
    assert ent_cert.status == "active" and _cn(ent_cert) == "证书科技有限公司"
    async with deps.db.sessions() as s:
        assert (await s.get(Enterprise, ent_id)).certificate_id == ent_cert.id
    seals = await _seals(deps, ent_id)
    assert sorted(x.kind for x in seals) == ["contract", "legal_rep", "official"]
    for seal in seals:
        [row] = await _certs(deps, "seal", seal.id)
        assert seal.certificate_id == row.id and row.status == "active"
        assert _cn(row) == "证书科技有限公司" and _ou(row) == seal.name
        assert seal.image_state == "ready"
        img = Image.open(io.BytesIO(file_store(deps).get(seal.image_file)))
        assert img.format == "PNG" and img.mode == "RGBA"
        assert img.getpixel((0, 0))[3] == 0  # transparent corner

    # idempotent: running the job again issues nothing new
    await pki.deliver_issue(deps, type("M", (), {"payload": {"enterprise_id": ent_id}})())
    assert len(await _certs(deps, "enterprise", ent_id)) == 1


async def test_name_change_voids_seals_and_revokes_their_certificates(deps, outbox) -> None:
    ent_id, admin = await certified_enterprise(deps, name="旧名科技有限公司")
    await outbox.drain()
    old_seal_certs = [c for s in await _seals(deps, ent_id)
                      for c in await _certs(deps, "seal", s.id)]
    assert len(old_seal_certs) == 3

    await cert.change_enterprise_info(deps, admin, ent_id, name="新名科技有限公司", meta=META)
    await outbox.drain()

    [ent_cert] = await _certs(deps, "enterprise", ent_id)
    assert ent_cert.status == "revoked" and ent_cert.revocation_reason == "superseded"
    for c in old_seal_certs:
        [row] = [r for r in await _certs(deps, "seal", c.owner_id)]
        assert row.status == "revoked" and row.revocation_reason == "cessation_of_operation"
    assert {s.status for s in await _seals(deps, ent_id)} == {"voided"}
    async with deps.db.sessions() as s:
        ent = await s.get(Enterprise, ent_id)
        assert ent.state == "certifying" and ent.certificate_id is None
    # not certified: a seal certificate is not issued on demand either
    assert await pki.seal_certificate(deps, old_seal_certs[0].owner_id) is None


async def test_legal_rep_change_replaces_only_the_legal_rep_seal(deps, outbox) -> None:
    ent_id, admin = await certified_enterprise(deps)
    await outbox.drain()
    before = {s.kind: s for s in await _seals(deps, ent_id)}

    await cert.change_enterprise_info(deps, admin, ent_id, legal_rep_name="周九",
                                      legal_rep_id_number=id_number("789"), meta=META)
    await outbox.drain()

    after = await _seals(deps, ent_id)
    live = {s.kind: s for s in after if s.status != "voided"}
    assert live["official"].id == before["official"].id
    assert live["contract"].id == before["contract"].id
    assert live["legal_rep"].id != before["legal_rep"].id
    assert live["legal_rep"].name == "周九印" and live["legal_rep"].image_state == "ready"
    [old] = await _certs(deps, "seal", before["legal_rep"].id)
    assert old.status == "revoked"
    [new] = await _certs(deps, "seal", live["legal_rep"].id)
    assert new.status == "active"
    [ent_cert] = await _certs(deps, "enterprise", ent_id)
    assert ent_cert.status == "active"  # the enterprise itself did not change


async def test_generated_custom_seal_gets_image_and_certificate(deps, outbox) -> None:
    ent_id, admin = await certified_enterprise(deps)
    view = await S.create_seal(deps, admin, ent_id, name="人事专用章", kind="custom",
                               image=None, meta=META)
    await outbox.drain()
    seal = next(s for s in await _seals(deps, ent_id) if s.id == view.id)
    assert seal.image_state == "ready" and seal.certificate_id
    row = (await _certs(deps, "seal", seal.id))[0]
    assert (_cn(row), _ou(row)) == ("测试科技有限公司", "人事专用章")


async def test_dashboard_counts_contracts_by_beijing_month(deps) -> None:
    ent_id, admin = await certified_enterprise(deps)
    now = deps.clock.now()
    # This Beijing month starts at 16:00 UTC on the day before its first day: one hour
    # after that instant is already this month in Beijing, one hour before is last month.
    month_start = now.astimezone(LOCAL_ZONE).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    this_month = month_start.astimezone(LOCAL_ZONE).strftime("%Y-%m")
    last_month = (month_start - timedelta(hours=1)).astimezone(LOCAL_ZONE).strftime("%Y-%m")
    times = [
        (month_start + timedelta(hours=1), month_start + timedelta(hours=2)),
        (month_start - timedelta(hours=1), None),
        (month_start + timedelta(minutes=30), None),
        (now - timedelta(days=400), now - timedelta(days=399)),  # too old
    ]
    async with deps.db.transaction() as tx:
        for i, (sent, done) in enumerate(times):
            tx.session.add(Contract(
                enterprise_id=ent_id, initiator_id=admin, title=f"合同{i}",
                state="completed" if done else "in_progress", created_at=sent,
                sent_at=sent, completed_at=done, updated_at=now,
            ))
    board = await D.dashboard(deps, admin, ent_id)
    months = {k: (s, d) for k, s, d in board.months}
    assert list(months)[-1] == this_month and len(months) == 6
    assert months[this_month] == (2, 1)
    assert months[last_month] == (1, 0)
    assert "<svg" in board.chart_svg and "发送 2" in board.chart_svg


def test_certificate_names_fit_the_x509_bound() -> None:
    from core.signing.local_ca import UB_NAME, fit_name

    long_name = "很长的名字" * 5 + "有限公司"
    cn = fit_name(long_name)
    assert len(cn.encode()) <= UB_NAME and cn.endswith("…") and cn.startswith("很长的名字")
    assert fit_name("短名公司") == "短名公司"
