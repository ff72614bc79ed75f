"""The signing disclosure (告知, 电子劳动合同订立指引 Art. 6).

Before a person's first signing they are shown how electronic signing works here and
their rights: to view, download and print the contract free of charge and to ask the
employer for a paper copy. Showing it and the person's acceptance are both recorded
(time, IP, device), once per text version; `request_sign` and `confirm_sign` refuse a
person who has not accepted the current version (`DisclosureRequired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from core import audit
from core.context import Deps, RequestMeta
from core.contracts import common
from core.errors import Conflict
from storage.models import SigningDisclosure
from storage.uow import Tx

VERSION = "2021-1"
TITLE = "电子劳动合同签约告知书"
# The text shown, per version: changing it means a new VERSION, accepted again.
PARAGRAPHS = (
    ("一、电子签约是什么",
     "您将通过本平台以电子方式订立劳动合同。电子劳动合同与纸质劳动合同具有同等法律效力"
     "（《中华人民共和国电子签名法》《电子劳动合同订立指引》）。"),
    ("二、签署方式",
     "签署前，平台核验您的真实身份（实名认证）；签署时，平台向您的手机号发送短信验证码，"
     "您输入验证码即表示您确认签署本合同的真实意愿。平台随后以您本人的数字证书对合同加盖"
     "数字签名，并加盖可信时间戳。签署后合同内容的任何改动都能被发现。"),
    ("三、签署记录",
     "平台记录您的身份核验方式与时间、验证码发送与确认的时间、IP 地址和设备信息、每次签署"
     "前后的文件摘要，并写入不可篡改的审计链，用于证明合同的订立过程。记录在合同终止后至少"
     "保存 2 年。"),
    ("四、您的权利",
     "合同订立后，您可以随时在平台免费查看、下载和打印合同全文，并可下载包含出证报告、时间戳"
     "和证书的证据包自行保存。您有权免费向用人单位申请一份盖章的纸质劳动合同（《电子劳动合同"
     "订立指引》第十三条），可在合同页面直接提交申请。"),
    ("五、拒绝签署",
     "您可以在签署前阅读合同全文。对合同内容有异议的，可以拒签并填写原因，或与用人单位协商。"),
)


class DisclosureRequired(Conflict):
    code = "disclosure_required"
    message = "签署前请先阅读并确认《电子劳动合同签约告知书》"


class DisclosureNotShown(Conflict):
    code = "disclosure_not_shown"
    message = "请先打开并阅读告知书后再确认"


@dataclass(frozen=True)
class DisclosureView:
    version: str
    title: str
    paragraphs: tuple[tuple[str, str], ...]
    shown_at: datetime | None
    accepted_at: datetime | None


def _view(row: SigningDisclosure | None) -> DisclosureView:
    return DisclosureView(VERSION, TITLE, PARAGRAPHS, row.shown_at if row else None,
                          row.accepted_at if row else None)


_ROW = select(SigningDisclosure).where(SigningDisclosure.user_id == bindparam("user_id"),
                                      SigningDisclosure.version == VERSION)
_ROW_LOCKED = _ROW.with_for_update()


async def _row(tx: Tx, user_id: str, *, lock: bool = False) -> SigningDisclosure | None:
    query = _ROW_LOCKED if lock else _ROW  # built once: every signature reads it
    return (await tx.session.execute(query, {"user_id": user_id})).scalar_one_or_none()


async def accepted_in(tx: Tx, user_id: str) -> bool:
    row = await _row(tx, user_id)
    return row is not None and row.accepted_at is not None


async def require_accepted(tx: Tx, user_id: str) -> None:
    if not await accepted_in(tx, user_id):
        raise DisclosureRequired()


async def is_accepted(deps: Deps, user_id: str) -> bool:
    async with deps.db.sessions() as session:
        row = (await session.execute(
            select(SigningDisclosure.accepted_at).where(SigningDisclosure.user_id == user_id,
                                                        SigningDisclosure.version == VERSION)
        )).scalar_one_or_none()
    return row is not None


async def _contract_for(tx: Tx, user_id: str, contract_id: str | None) -> object | None:
    """The contract the text is shown on the way to, for a party of it (else NotFound)."""
    if not contract_id:
        return None
    user = await common.load_user(tx, user_id)
    contract = await common.load_contract(tx, contract_id)
    await common.require_involved(tx, user, contract, await common.signers_of(tx, contract.id))
    return contract


async def _log(tx: Tx, deps: Deps, action: str, user_id: str, contract: object | None,
               meta: RequestMeta, data: dict[str, object]) -> None:
    from storage.models import Contract

    if isinstance(contract, Contract):
        await common.log(tx, deps, f"contract.{action}", contract, actor_id=user_id,
                         data=data, meta=meta)
    else:
        await audit.record(tx, at=deps.clock.now(), action=f"signing.{action}",
                           actor_id=user_id, subject_type="user", subject_id=user_id,
                           data=data, meta=meta)


async def show(deps: Deps, user_id: str, contract_id: str | None,
               meta: RequestMeta) -> DisclosureView:
    """Record that the text was displayed to the user (first display audited)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        contract = await _contract_for(tx, user_id, contract_id)
        row = await _row(tx, user_id, lock=True)
        if row is None:
            row = SigningDisclosure(
                user_id=user_id, version=VERSION, contract_id=contract_id or None,
                shown_at=now, shown_ip=meta.ip, shown_user_agent=(meta.user_agent or "")[:300],
                last_shown_at=now, shown_count=1)
            tx.session.add(row)
            await _log(tx, deps, "disclosure_shown", user_id, contract, meta,
                       {"disclosure_version": VERSION,
                        "user_agent": (meta.user_agent or "")[:300]})
        else:
            row.last_shown_at = now
            row.shown_count = min(row.shown_count + 1, 1_000_000)
        return _view(row)


async def accept(deps: Deps, user_id: str, contract_id: str | None,
                 meta: RequestMeta) -> DisclosureView:
    """Record the acceptance of the text the user was shown; idempotent."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        contract = await _contract_for(tx, user_id, contract_id)
        row = await _row(tx, user_id, lock=True)
        if row is None:
            raise DisclosureNotShown()
        if row.accepted_at is None:
            row.accepted_at, row.accepted_ip = now, meta.ip
            row.accepted_user_agent = (meta.user_agent or "")[:300]
            row.accepted_contract_id = contract_id or None
            await _log(tx, deps, "disclosure_accepted", user_id, contract, meta,
                       {"disclosure_version": VERSION,
                        "shown_at": row.shown_at.isoformat(),
                        "user_agent": row.accepted_user_agent})
        return _view(row)


async def current(deps: Deps, user_id: str) -> DisclosureView:
    async with deps.db.transaction() as tx:
        return _view(await _row(tx, user_id))
