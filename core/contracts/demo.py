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
import random
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from sqlalchemy import select

from core import identity, signatures
from core.context import Deps, RequestMeta
from core.contracts import access, disclosure, send, signing
from core.contracts.demo_contract import DemoParties, demo_contract_pdf
from core.contracts.send import Box, SignerSpec
from core.crypto import mask_id_number
from core.devtools import sms_inbox
from core.enterprise import certification
from core.enterprise import seals as enterprise_seals
from core.outbox import Deliverer, OutboxWorker
from core.signing import service
from core.sms import SMS_KIND, deliver_sms
from core.validators import id_card_check_char, uscc_check_char
from storage.models import Contract, DevBankTransfer, Member, Seal, User

META = RequestMeta(ip="127.0.0.1", user_agent="laborsign demo")
SAMPLE_TITLE = "劳动合同书（演示）"
ENTERPRISE_NAME = "杭州示例劳务科技有限公司"


def _id_number(seq: str) -> str:
    first17 = f"33010619900101{seq}"
    return first17 + id_card_check_char(first17)


def _credit_code() -> str:
    first17 = "91330106MA2CDEMX0"
    return first17 + uscc_check_char(first17)


def handwritten_name_png(name: str, *, font_path: str, font_index: int = 2) -> bytes:
    """The name as a person signs it with a pen: slanted, uneven, each character wobbling
    a little, the last stroke's tail swept off as the pen lifts, the ink lighter in places.

    Built from the CJK font's glyphs (no handwriting font ships with Debian): thinned to a
    pen's line with round ends, then sheared, turned and warped through a jittered mesh.
    Seeded by the name, so every run draws the same signature.
    """
    rnd = random.Random(name)  # noqa: S311 - a drawing's jitter, not a secret
    size = 240
    font = ImageFont.truetype(font_path, size, index=font_index)
    canvas = Image.new("L", (int(size * (len(name) + 2.5)), size * 3), 0)
    x, middle = size * 0.6, size * 0.8
    for i, char in enumerate(name):
        tile = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(tile).text((size // 2, size // 2), char, font=font, fill=255)
        tile = (tile.filter(ImageFilter.MinFilter(11)).filter(ImageFilter.GaussianBlur(3))
                .point(lambda v: 255 if v > 60 else 0))
        shear = 0.22 + rnd.uniform(-0.05, 0.05)
        tile = tile.transform(tile.size, Image.Transform.AFFINE,
                              (1, shear, -shear * size, 0, 1, 0), Image.Resampling.BICUBIC)
        tile = tile.rotate(rnd.uniform(-8, 0), Image.Resampling.BICUBIC)
        tile = tile.transform(tile.size, Image.Transform.MESH, _wobble(rnd, tile.width, size),
                              Image.Resampling.BICUBIC)
        scale = (1.05 if i == 0 else 0.88) * rnd.uniform(0.95, 1.05)
        tile = tile.resize((int(tile.width * scale), int(tile.height * scale)),
                           Image.Resampling.LANCZOS)
        y = middle - tile.height / 2 + i * size * 0.08 + rnd.uniform(-8, 8)
        canvas.paste(255, (int(x - tile.width / 4), int(y)), tile)
        x += size * 0.86 * scale
    _tail(canvas, size)
    # Round pen ends; pressure: the ink a little lighter in places.
    canvas = canvas.filter(ImageFilter.GaussianBlur(1.6)).point(
        lambda v: 0 if v < 70 else min(255, (v - 70) * 2))
    coarse = Image.new("L", (max(2, canvas.width // 40), max(2, canvas.height // 40)))
    coarse.putdata([rnd.randrange(185, 256) for _ in range(coarse.width * coarse.height)])
    pressure = coarse.resize(canvas.size, Image.Resampling.BICUBIC)
    out = Image.new("RGBA", canvas.size, (22, 26, 52, 0))
    out.putalpha(ImageChops.multiply(canvas, pressure))
    box = canvas.getbbox() or (0, 0, canvas.width, canvas.height)
    out = out.crop((box[0] - 10, box[1] - 10, box[2] + 10, box[3] + 10))
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


def _wobble(rnd: random.Random, side: int, size: int) -> list[tuple[Any, Any]]:
    """A mesh over a square tile whose inner corners are moved a little: a hand's unevenness."""
    n = 6
    cell = side // n

    def jitter(edge: bool) -> float:
        return 0.0 if edge else rnd.uniform(-size * 0.05, size * 0.05)

    pts = {(gx, gy): (gx * cell + jitter(gx in (0, n)), gy * cell + jitter(gy in (0, n)))
           for gx in range(n + 1) for gy in range(n + 1)}
    return [((gx * cell, gy * cell, (gx + 1) * cell, (gy + 1) * cell),
             (*pts[gx, gy], *pts[gx, gy + 1], *pts[gx + 1, gy + 1], *pts[gx + 1, gy]))
            for gx in range(n) for gy in range(n)]


def _tail(canvas: Image.Image, size: int) -> None:
    """The last stroke swept right and up, thinning as the pen lifts (a Bézier curve)."""
    box = canvas.getbbox()
    if box is None:
        return
    x0, y0 = box[2] - size * 0.35, box[3] - size * 0.12
    p = [(x0, y0), (x0 + size * 0.45, y0 + size * 0.12), (x0 + size * 0.8, y0 - size * 0.05),
         (x0 + size * 1.0, y0 - size * 0.4)]
    draw = ImageDraw.Draw(canvas)
    steps = 200
    for k in range(steps):
        t = k / steps
        weights = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3)
        bx = sum(w * q[0] for w, q in zip(weights, p, strict=True))
        by = sum(w * q[1] for w, q in zip(weights, p, strict=True))
        r = size * 0.022 * (1 - t) ** 0.8 + 0.8
        draw.ellipse((bx - r, by - r, bx + r, by + r), fill=255)


def handwriting_png() -> bytes:
    """Strokes without a font (the signing benchmark's many signers need no more)."""
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
    if not await disclosure.is_accepted(deps, user_id):
        # The demo worker reads the signing disclosure (告知) like anyone signing first.
        await disclosure.show(deps, user_id, contract_id, META)
        await disclosure.accept(deps, user_id, contract_id, META)
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
    cfg = deps.config.signing
    if await signatures.default_signature_png(deps, employee_id) is None:
        drawn = await asyncio.to_thread(handwritten_name_png, "张三", font_path=cfg.font_path,
                                        font_index=cfg.font_index)
        await signatures.add_signature(deps, employee_id, drawn, META)

    async with deps.db.sessions() as session:
        contract_id = (await session.execute(
            select(Contract.id).where(Contract.enterprise_id == enterprise_id,
                                      Contract.title == SAMPLE_TITLE,
                                      Contract.state == "completed")
        )).scalars().first()
    if contract_id is None:
        employee = await _user(deps, employee_id)
        doc = await asyncio.to_thread(
            demo_contract_pdf,
            DemoParties(enterprise=ENTERPRISE_NAME, credit_code=_credit_code(),
                        legal_rep="李四", address="浙江省杭州市西湖区文三路 1 号",
                        employee="张三", employee_id_masked=mask_id_number(_id_number("001")),
                        employee_phone=employee.phone),
            font_path=cfg.font_path, font_index=cfg.font_index,
        )
        contract_id = await send.create_and_send(
            deps, hr_id, enterprise_id, title=SAMPLE_TITLE, filename="劳动合同书.pdf",
            pdf=doc.pdf,
            signers=[
                SignerSpec("person", (Box(doc.page, doc.employee_box),), name="张三",
                           phone=employee.phone, order=1),
                SignerSpec("enterprise", (Box(doc.page, doc.enterprise_box),),
                           seal_id=seal_id, order=2),
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
    return verify_lines(deps.config.server.base_url, pdf_path, root_path)


def verify_lines(base_url: str, pdf: Path, root: Path) -> list[str]:
    """Where the signed sample is and the two ways to check it."""
    nss = pdf.parent / "nss"
    return [
        "",
        "Signed sample: a labour contract (劳动合同书) with 张三's handwritten signature and the",
        "company's contract seal, each dated and timestamped:",
        f"  {pdf}",
        "Check its signatures:",
        f"  in the browser:  {base_url.rstrip('/')}/verify  (upload the PDF)",
        "  with pdfsig:     (trusting the demo root certificate in a throw-away NSS database)",
        f"    mkdir -p {nss} && certutil -N --empty-password -d sql:{nss}",
        f"    certutil -A -t CT,C,C -n laborsign -i {root} -d sql:{nss}",
        f"    pdfsig -nssdir sql:{nss} {pdf}",
    ]
