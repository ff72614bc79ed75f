"""Test data for contracts: a certified enterprise with an HR sender and a seal holder, a
verified employee with a handwritten signature, a running TSA, and the flow's steps."""

from __future__ import annotations

import io
from dataclasses import dataclass

from aiohttp import web
from PIL import Image, ImageDraw
from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.contracts import disclosure, send, signing
from core.contracts.send import Box, SignerSpec
from core.enterprise import members as enterprise_members
from core.enterprise import roles
from core.enterprise import seals as enterprise_seals
from core.outbox import OutboxWorker
from core.signatures import add_signature
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from handlers import tsa as tsa_routes
from handlers.keys import DEPS
from storage.models import Member, Seal, User
from tests.enterprise_factories import certified_enterprise, make_user, user_phone
from tests.factories import last_code

META = RequestMeta(ip="127.0.0.1", user_agent="pytest-phone")


def signature_png() -> bytes:
    """A drawn-looking signature: dark strokes on a transparent canvas."""
    img = Image.new("RGBA", (600, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(40, 180), (120, 60), (200, 170), (280, 70), (360, 180), (520, 90)],
              fill=(10, 10, 30, 255), width=12)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def start_tsa(deps: Deps, aiohttp_server) -> str:  # type: ignore[no-untyped-def]
    """Serve the built-in TSA on a loopback port and make the flow timestamp through it."""
    app = web.Application()
    app[DEPS] = deps
    app.add_routes(tsa_routes.routes)
    server = await aiohttp_server(app)
    url = str(server.make_url("/tsa"))
    deps.timestamper = HttpTimeStamperSpec(url)
    return url


@dataclass
class Parties:
    enterprise_id: str
    admin_id: str  # main admin, sends contracts
    sealer_id: str  # member holding the contract seal's grant
    seal_id: str
    employee_id: str
    employee_phone: str


async def seal_holder(deps: Deps, enterprise_id: str, admin_id: str, seal_id: str,
                      name: str = "赵六") -> str:
    user_id = await make_user(deps, name=name)
    phone = await user_phone(deps, user_id)
    async with deps.db.transaction() as tx:
        role_id = await roles.builtin_role_id(tx, enterprise_id, "hr")
    view = await enterprise_members.add_member(
        deps, admin_id, enterprise_id, phone=phone, name=name, role_ids=[role_id], meta=META)
    await enterprise_seals.grant_seal(deps, admin_id, enterprise_id, seal_id, view.id, META)
    return user_id


async def accept_disclosure(deps: Deps, user_id: str, contract_id: str | None = None) -> None:
    """The signing disclosure (告知), shown and accepted, as a first signing requires."""
    await disclosure.show(deps, user_id, contract_id, META)
    await disclosure.accept(deps, user_id, contract_id, META)


async def employee(deps: Deps, name: str = "张三", *, with_signature: bool = True,
                   disclosed: bool = True) -> str:
    user_id = await make_user(deps, name=name)
    if with_signature:
        await add_signature(deps, user_id, signature_png(), META)
    if disclosed:
        await accept_disclosure(deps, user_id)
    return user_id


async def parties(deps: Deps) -> Parties:
    enterprise_id, admin_id = await certified_enterprise(deps, name="杭州示例劳务科技有限公司")
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(
            select(Seal.id).where(Seal.enterprise_id == enterprise_id, Seal.kind == "contract")
        )).scalar_one()
    sealer_id = await seal_holder(deps, enterprise_id, admin_id, seal_id)
    employee_id = await employee(deps)
    return Parties(enterprise_id, admin_id, sealer_id, seal_id, employee_id,
                   await user_phone(deps, employee_id))


def person(phone: str, name: str = "张三", order: int = 1, page: int = 2,
           rect: tuple[float, float, float, float] = EMPLOYEE_BOX) -> SignerSpec:
    return SignerSpec("person", (Box(page, rect),), name=name, phone=phone, order=order)


def company(seal_id: str | None = None, order: int = 2, page: int = 2,
            rect: tuple[float, float, float, float] = ENTERPRISE_BOX) -> SignerSpec:
    return SignerSpec("enterprise", (Box(page, rect),), seal_id=seal_id, order=order)


async def send_contract(deps: Deps, p: Parties, signers: list[SignerSpec] | None = None,
                        pdf: bytes | None = None, title: str = "劳动合同（测试）") -> str:
    return await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title=title, filename="劳动合同.pdf",
        pdf=pdf or sample_contract_pdf(3),
        signers=signers or [person(p.employee_phone), company(p.seal_id)], meta=META)


async def sign_as(deps: Deps, outbox: OutboxWorker, user_id: str, contract_id: str,
                  signer_id: str | None = None) -> signing.SignOutcome:
    """request the code, read it from the dev inbox, confirm."""
    await signing.request_sign(deps, user_id, contract_id, META, signer_id)
    code = await last_code(deps, outbox, await user_phone(deps, user_id))
    return await signing.confirm_sign(deps, user_id, contract_id, code, META, signer_id)


async def user_row(deps: Deps, user_id: str) -> User:
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def member_of(deps: Deps, enterprise_id: str, user_id: str) -> Member | None:
    async with deps.db.sessions() as session:
        return (await session.execute(
            select(Member).where(Member.enterprise_id == enterprise_id, Member.user_id == user_id)
        )).scalar_one_or_none()
