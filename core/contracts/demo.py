"""Demo data for `laborsign demo`: a certified enterprise and a fully signed sample contract.

Everything goes through the real services in development mode: the people pass the dev
identity provider's carrier check, the enterprise is certified by a micro-deposit through
the dev payment gateway, the SMS codes are read back from the console SMS inbox, and the
signatures are timestamped by whatever timestamper deps carries (the CLI starts the
built-in TSA on a loopback port for the run).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageDraw
from sqlalchemy import select

from core import identity, signatures
from core.context import Deps, RequestMeta
from core.contracts import access, send, signing
from core.contracts.send import Box, SignerSpec
from core.devtools import sms_inbox
from core.enterprise import certification
from core.enterprise import seals as enterprise_seals
from core.outbox import Deliverer, OutboxWorker
from core.signing import service
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.sms import SMS_KIND, deliver_sms
from core.validators import id_card_check_char, uscc_check_char
from storage.models import Contract, DevBankTransfer, Member, Seal, User

META = RequestMeta(ip="127.0.0.1", user_agent="laborsign demo")
SAMPLE_TITLE = "示例劳动合同（演示）"
ENTERPRISE_NAME = "杭州示例劳务科技有限公司"


def _id_number(seq: str) -> str:
    first17 = f"33010619900101{seq}"
    return first17 + id_card_check_char(first17)


def _credit_code() -> str:
    first17 = "91330106MA2CDEMX0"
    return first17 + uscc_check_char(first17)


def handwriting_png() -> bytes:
    img = Image.new("RGBA", (900, 360), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(60, 250), (140, 90), (210, 270), (300, 100), (360, 260)], fill="black",
              width=14)
    draw.line([(420, 200), (560, 150), (700, 220), (840, 140)], fill="black", width=12)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _licence() -> bytes:
    """A placeholder licence photo (the demo enterprise is fictional)."""
    img = Image.new("RGB", (640, 440), (250, 246, 236))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 620, 420), outline=(180, 30, 30), width=6)
    draw.text((60, 60), "DEMO BUSINESS LICENCE", fill=(60, 60, 60))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def _user(deps: Deps, user_id: str) -> User:
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def verify_person_dev(deps: Deps, user_id: str, name: str, seq: str) -> None:
    user = await _user(deps, user_id)
    if user.identity_state == "verified":
        return
    await identity.start_verification(
        deps, user_id, method="carrier3", name=name, id_type="id_card",
        id_number=_id_number(seq), email=f"demo{seq}@example.com", phone=user.phone, bank_card=None,
        notices_accepted=[identity.NOTICE_PERSONAL_INFO], meta=META,
    )


async def certify_enterprise_dev(deps: Deps, hr_id: str) -> str:
    mine, _ = await certification.my_enterprises(deps, hr_id)
    for ent in mine:
        if ent.state == "certified":
            return ent.id
    ent = await certification.submit_enterprise(
        deps, hr_id,
        certification.EnterpriseInput(
            name=ENTERPRISE_NAME, credit_code=_credit_code(),
            address="浙江省杭州市西湖区文三路 1 号", legal_rep_name="李四",
            legal_rep_id_number=_id_number("002"),
        ),
        _licence(), META,
    )
    attempt = await certification.start_deposit(
        deps, hr_id, ent.id, account_name=ENTERPRISE_NAME, account_number="6222020200001234",
        bank_name="工商银行", meta=META,
    )
    async with deps.db.sessions() as session:
        cents = (await session.execute(
            select(DevBankTransfer.amount_cents).where(DevBankTransfer.reference == attempt.id)
        )).scalar_one()
    await certification.confirm_deposit(deps, hr_id, attempt.id, f"0.{cents:02d}", META)
    return ent.id


async def grant_contract_seal(deps: Deps, hr_id: str, enterprise_id: str) -> str:
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(
            select(Seal.id).where(Seal.enterprise_id == enterprise_id, Seal.kind == "contract",
                                  Seal.status == "enabled")
        )).scalars().first()
        member_id = (await session.execute(
            select(Member.id).where(Member.enterprise_id == enterprise_id,
                                    Member.user_id == hr_id)
        )).scalar_one()
    assert seal_id is not None
    async with deps.db.transaction() as tx:
        granted = await enterprise_seals.member_may_use_seal(tx, enterprise_id, seal_id, hr_id)
    if not granted:
        await enterprise_seals.grant_seal(deps, hr_id, enterprise_id, seal_id, member_id, META)
    return seal_id


async def _code(deps: Deps, worker: OutboxWorker, phone: str) -> str:
    await worker.drain()
    for message in await sms_inbox(deps, phone):
        if message.code:
            return message.code
    raise RuntimeError(f"no SMS code reached the console inbox for {phone}")


async def _sign(deps: Deps, worker: OutboxWorker, user_id: str, contract_id: str) -> None:
    sent = await signing.request_sign(deps, user_id, contract_id, META)
    user = await _user(deps, user_id)
    await signing.confirm_sign(deps, user_id, contract_id,
                               await _code(deps, worker, user.phone), META, sent.signer_id)


async def seed_signed_sample(
    deps: Deps, *, employee_id: str, hr_id: str, out_dir: Path,
    deliverers: dict[str, Deliverer] | None = None,
) -> list[str]:
    """Certify the demo enterprise, then send, sign and seal one sample contract."""
    if deps.config.sms.provider != "console" or deps.config.identity.provider != "dev":
        return ["signed sample skipped: needs the console SMS sender and dev identity checks"]
    worker = OutboxWorker(deps, deliverers or {SMS_KIND: deliver_sms})
    await verify_person_dev(deps, employee_id, "张三", "001")
    await verify_person_dev(deps, hr_id, "李四", "002")
    enterprise_id = await certify_enterprise_dev(deps, hr_id)
    seal_id = await grant_contract_seal(deps, hr_id, enterprise_id)
    if await signatures.default_signature_png(deps, employee_id) is None:
        await signatures.add_signature(deps, employee_id, handwriting_png(), META)

    async with deps.db.sessions() as session:
        contract_id = (await session.execute(
            select(Contract.id).where(Contract.enterprise_id == enterprise_id,
                                      Contract.title == SAMPLE_TITLE,
                                      Contract.state == "completed")
        )).scalars().first()
    if contract_id is None:
        employee = await _user(deps, employee_id)
        contract_id = await send.create_and_send(
            deps, hr_id, enterprise_id, title=SAMPLE_TITLE, filename="sample-contract.pdf",
            pdf=sample_contract_pdf(3),
            signers=[
                SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="张三",
                           phone=employee.phone, order=1),
                SignerSpec("enterprise", (Box(2, ENTERPRISE_BOX),), seal_id=seal_id,
                           order=2),
            ],
            meta=META,
        )
        await _sign(deps, worker, employee_id, contract_id)
        await _sign(deps, worker, hr_id, contract_id)
        await worker.drain()

    signed = await access.download(deps, hr_id, contract_id)
    root_pem = service.engine(deps).ca.root_certificate().public_bytes(Encoding.PEM)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    pdf_path, root_path = out_dir / "sample-contract-signed.pdf", out_dir / "laborsign-root.pem"
    await asyncio.to_thread(pdf_path.write_bytes, signed.data)
    await asyncio.to_thread(root_path.write_bytes, root_pem)
    return [
        f"demo enterprise: {ENTERPRISE_NAME} (certified; 李四 is main admin and holds the "
        "contract seal)",
        f"signed sample contract: {pdf_path}",
        f"root certificate:       {root_path}",
        f"  check it: pdfsig {pdf_path}  (after importing the root into an NSS database)",
    ]

