"""Test data for the enterprise area: users, a certified enterprise, images, spreadsheets."""

from __future__ import annotations

import io
import itertools
import secrets
import struct
import zipfile
import zlib
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from PIL import Image
from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.crypto import FieldCipher, mask_id_number
from core.enterprise import certification as cert
from core.validators import id_card_check_char, uscc_check_char
from storage.models import DevBankTransfer, User

META = RequestMeta(ip="127.0.0.1", user_agent="pytest")
_phones = itertools.count(1)


def new_phone() -> str:
    return f"139{secrets.randbelow(10_000):04d}{next(_phones) % 10_000:04d}"


def id_number(seq: str = "123", birth: str = "19900307") -> str:
    first17 = f"110101{birth}{seq}"
    return first17 + id_card_check_char(first17)


# Drawn in turn from a random start, so no two in a process are the same (two random
# draws can meet: a setup once failed on it); 12,000 days × 800 sequence codes.
_ID_SPACE = 12_000 * 800
_id_numbers = itertools.count(secrets.randbelow(_ID_SPACE))


def unique_id_number() -> str:
    """A valid ID number no other test user has (the sequence code avoids 998/999)."""
    n = next(_id_numbers) % _ID_SPACE
    day = date(1970, 1, 1) + timedelta(days=n // 800)
    return id_number(f"{n % 800 + 100:03d}", day.strftime("%Y%m%d"))


def credit_code(body: str | None = None) -> str:
    first17 = body or f"91110000{secrets.randbelow(10**9):09d}"
    return first17 + uscc_check_char(first17)


def bad_check_credit_code() -> str:
    code = credit_code()
    wrong = "0" if code[-1] != "0" else "1"
    return code[:-1] + wrong


async def make_user(deps: Deps, phone: str | None = None, *, verified: bool = True,
                    name: str = "张三") -> str:
    phone = phone or new_phone()
    c = FieldCipher.from_config(deps.config)
    number = unique_id_number()
    async with deps.db.transaction() as tx:
        user = User(
            phone=phone, password_hash=None, status="active",
            identity_state="verified" if verified else "unverified",
            real_name=name if verified else None,
            id_type="id_card" if verified else None,
            id_number_cipher=c.encrypt(number) if verified else None,
            id_number_hash=c.lookup_hash(number) if verified else None,
            id_number_masked=mask_id_number(number) if verified else None,
            verified_at=deps.clock.now() if verified else None,
            created_at=deps.clock.now(),
        )
        tx.session.add(user)
        await tx.session.flush()
        return user.id


async def user_phone(deps: Deps, user_id: str) -> str:
    async with deps.db.sessions() as session:
        return (await session.execute(select(User.phone).where(User.id == user_id))).scalar_one()


def png_bytes(size: tuple[int, int] = (60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "JPEG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(kind: bytes, data: bytes) -> bytes:
    good = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(good, "PNG")
    raw = good.getvalue()
    return raw[:33] + _chunk(kind, data) + raw[33:]  # after the 8-byte magic and IHDR


def _bomb_header() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(
        b"IDAT", zlib.compress(b"\x00" * 1000)) + _chunk(b"IEND", b"")


def garbage_images() -> dict[str, bytes]:
    """Images that make Pillow raise: oversized text/ICC chunks, truncation, a bomb, …"""
    big = zlib.compress(b"\x00" * (2 * 1024 * 1024 + 1))
    good = io.BytesIO()
    Image.new("RGB", (200, 100), "blue").save(good, "PNG")
    jpeg = io.BytesIO()
    Image.new("RGB", (200, 100), "blue").save(jpeg, "JPEG")
    return {
        "ztxt": _png_with(b"zTXt", b"Comment\x00\x00" + big),
        "iccp": _png_with(b"iCCP", b"icc\x00\x00" + big),
        "itxt": _png_with(b"iTXt", b"XML\x00\x01\x00\x00\x00" + big),
        "truncated-png": good.getvalue()[: len(good.getvalue()) // 2],
        "truncated-jpeg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "bomb": _bomb_header(),
        "random": bytes(range(256)) * 8,
        "pdf-ish": b"%PDF-1.7\n" + b"\x00" * 100,
        "xlsx-ish": b"PK\x03\x04" + b"\x00" * 100,
    }


def enterprise_input(name: str = "测试科技有限公司", code: str | None = None,
                     rep_id: str | None = None) -> cert.EnterpriseInput:
    return cert.EnterpriseInput(
        name=name, credit_code=code or credit_code(), address="北京市海淀区中关村大街 1 号",
        legal_rep_name="李四", legal_rep_id_number=rep_id or id_number("456"),
        certificate_kind="cloud",
    )


async def submit(deps: Deps, user_id: str, **kw: object) -> cert.EnterpriseView:
    return await cert.submit_enterprise(deps, user_id, enterprise_input(**kw),  # type: ignore[arg-type]
                                        png_bytes(), META)


async def deposit_amount(deps: Deps, attempt_id: str) -> str:
    async with deps.db.sessions() as session:
        cents = (
            await session.execute(
                select(DevBankTransfer.amount_cents).where(DevBankTransfer.reference == attempt_id)
            )
        ).scalar_one()
    return f"0.{cents:02d}"


async def certify_by_deposit(deps: Deps, user_id: str, enterprise_id: str,
                             name: str = "测试科技有限公司") -> None:
    attempt = await cert.start_deposit(
        deps, user_id, enterprise_id, account_name=name, account_number="6222020200001234",
        bank_name="工商银行", meta=META,
    )
    await cert.confirm_deposit(deps, user_id, attempt.id, await deposit_amount(deps, attempt.id),
                               META)


async def certified_enterprise(deps: Deps, owner_id: str | None = None,
                               name: str = "测试科技有限公司") -> tuple[str, str]:
    """(enterprise id, main admin user id) of a freshly certified enterprise."""
    owner_id = owner_id or await make_user(deps, name="王五")
    ent = await submit(deps, owner_id, name=name)
    await certify_by_deposit(deps, owner_id, ent.id, name)
    return ent.id, owner_id


def xlsx_bytes(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "员工信息"
    ws.append(header or ["姓名*", "手机号*", "身份证号", "部门", "岗位", "入职日期"])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        f'<workbook {_NS} xmlns:r="{_REL}"><sheets>'
        '<sheet name="员工信息" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        '</Relationships>'),
}
_HEADER = ["姓名*", "手机号*", "身份证号", "部门", "岗位", "入职日期"]


def hostile_xlsx(
    out: Any, *, empty_rows: int = 0, shared_strings: int = 0, declare_count: bool = False,
    dimension: str | None = None, data_rows: int = 0,
) -> None:
    """An .xlsx written part by part as Excel would, padded the way an attacker would:
    `empty_rows` `<row/>` elements after the header (and `data_rows` real ones), and
    `shared_strings` extra entries in the string table (declared in its count or not).
    Streamed into `out` (a path or a binary file), so millions of elements cost no memory.
    """
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        deflate = zipfile.ZipInfo("xl/sharedStrings.xml")
        deflate.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(deflate, "w", force_zip64=True) as fh:
            total = len(_HEADER) + shared_strings
            counts = f' count="{total}" uniqueCount="{total}"' if declare_count else ""
            fh.write(f"<sst {_NS}{counts}>".encode())
            fh.write("".join(f"<si><t>{h}</t></si>" for h in _HEADER).encode())
            block = b"".join(b"<si><t>s%d</t></si>" % i for i in range(10_000))
            for _ in range(shared_strings // 10_000):
                fh.write(block)
            fh.write(block[:block.index(b"<si><t>s%d<" % (shared_strings % 10_000))]
                     if shared_strings % 10_000 else b"")
            fh.write(b"</sst>")
        sheet = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        sheet.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(sheet, "w", force_zip64=True) as fh:
            fh.write(f"<worksheet {_NS}>".encode())
            if dimension:
                fh.write(f'<dimension ref="{dimension}"/>'.encode())
            fh.write(b'<sheetData><row r="1">'
                     + b"".join(b'<c t="s"><v>%d</v></c>' % i for i in range(len(_HEADER)))
                     + b"</row>")
            for i in range(data_rows):
                fh.write(f'<row><c t="inlineStr"><is><t>员工{i}</t></is></c>'
                         f'<c><v>137{i:08d}</v></c></row>'.encode())
            block = b"<row/>" * 100_000
            for _ in range(empty_rows // 100_000):
                fh.write(block)
            fh.write(b"<row/>" * (empty_rows % 100_000))
            fh.write(b"</sheetData></worksheet>")


async def session_token(deps: Deps, user_id: str) -> str:
    """A live session for the user (cookie `ls_session` or Bearer token)."""
    from core.sessions import start_session

    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        assert user is not None
        issued = await start_session(tx, deps, user, "password", META)
    return issued.token


async def joined_member(deps: Deps, enterprise_id: str, admin_id: str, builtin_role: str) -> str:
    """A new verified person who asked to join and was approved with one built-in role."""
    from core.enterprise import members

    roles = {r.builtin: r.id for r in await members.list_roles(deps, admin_id, enterprise_id)}
    user = await make_user(deps)
    req = await members.request_join(deps, user, enterprise_id, "加入", META)
    await members.decide_join(deps, admin_id, enterprise_id, req.id, approve=True,
                              role_ids=[roles[builtin_role]], meta=META)
    return user
