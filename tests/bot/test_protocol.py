"""The webhook's protocol: signatures, safe mode, key rotation, retries, hostile input."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import func, select

from core.clock import FrozenClock
from core.config import Config
from core.outbox import OutboxWorker
from core.wechat.protocol import (
    DEV_AES_KEY,
    BadSignature,
    ProtocolError,
    check_signature,
    decrypt,
    encrypt,
    parse_xml,
    render_xml,
    settings,
    signature,
    text_reply,
)
from handlers.app import build_deps, deliverers, init_app
from storage.models import AuditEntry, ConsoleWechatMessage, WechatScene
from tests.bot.wx import FakeWechat, url_check

# Public test vector of Tencent's WXBizMsgCrypt sample (same algorithm for the official
# account's safe mode): token, EncodingAESKey, appid, and a signed encrypted message.
OFFICIAL = {
    "token": "QDG6eK",
    "key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "app_id": "wx5823bf96d3bd56c7",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "encrypt": (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qcz"
        "cdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8q"
        "Ljvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4L"
        "UMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rU"
        "PA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXd"
        "Q2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
    "echo_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "echo_timestamp": "1409659589",
    "echo_nonce": "263014780",
    "echostr": (
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    ),
}


def test_official_message_signature_vector_verifies() -> None:
    o = OFFICIAL
    check_signature((o["timestamp"], o["nonce"], o["encrypt"]), o["token"], o["msg_signature"])


def test_official_message_decrypts_to_its_xml() -> None:
    o = OFFICIAL
    fields = parse_xml(decrypt(o["encrypt"], o["key"], o["app_id"]))
    assert fields["ToUserName"] == "wx5823bf96d3bd56c7"
    assert fields["MsgType"] == "text"


def test_official_echostr_vector_verifies_and_decrypts() -> None:
    o = OFFICIAL
    check_signature((o["echo_timestamp"], o["echo_nonce"], o["echostr"]), o["token"],
                    o["echo_signature"])
    assert decrypt(o["echostr"], o["key"], o["app_id"]) == "1616140317555161061"


def test_tampered_signature_is_refused() -> None:
    o = OFFICIAL
    with pytest.raises(BadSignature):
        check_signature((o["timestamp"], o["nonce"], o["encrypt"]), o["token"],
                        "577715d11cdb4164915debcba66cb864d751f3e6")


def test_decrypt_with_wrong_app_id_is_refused() -> None:
    o = OFFICIAL
    with pytest.raises(ProtocolError):
        decrypt(o["encrypt"], o["key"], "wx0000000000000000")


def test_url_signature_matches_an_independent_sha1() -> None:
    token, ts, nonce = "laborsign-dev", "1700000000", "42"
    expected = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()  # noqa: S324
    assert signature(token, ts, nonce) == expected


async def test_url_verification_echoes_echostr(client, config: Config) -> None:
    resp = await client.get("/wechat", params=url_check(config, "hello-123"))
    assert (resp.status, await resp.text()) == (200, "hello-123")


async def test_url_verification_with_bad_signature_is_403(client) -> None:
    params = {"timestamp": "1700000000", "nonce": "42", "echostr": "x", "signature": "0" * 40}
    resp = await client.get("/wechat", params=params)
    assert resp.status == 403


async def test_post_with_bad_signature_is_403_and_does_nothing(wx: FakeWechat, deps) -> None:
    answer = await wx.post(wx.message("o_bad", MsgType="text", Content="人工", MsgId=1),
                           good_signature=False)
    assert answer.status == 403
    async with deps.db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 0


async def test_safe_mode_reply_is_encrypted_and_signed(wx: FakeWechat, config: Config) -> None:
    answer = await wx.post(wx.message("o_safe", MsgType="text", Content="帮助", MsgId=7),
                           encrypted=True, timestamp="1700000001", nonce="99")
    fields = parse_xml(answer.body)
    s = settings(config)
    check_signature(("1700000001", "99", fields["Encrypt"]), s.token, fields["MsgSignature"])
    assert "「合同」" in answer.content and "Content" not in answer.body


async def test_long_chinese_text_in_safe_mode_gets_a_normal_reply(wx: FakeWechat) -> None:
    # ~2,000 characters (6 KB of UTF-8): the encrypted field is ~8,500 base64 characters.
    text = "您好，我想请教一下关于上个月加班时长的计算"[:20] * 100
    assert len(text) == 2000
    answer = await wx.post(wx.message("o_long", MsgType="text", Content=text, MsgId=8),
                           encrypted=True)
    assert answer.status == 200 and "「合同」" in answer.content  # the help text


async def test_oversized_decrypted_message_is_refused(wx: FakeWechat) -> None:
    # Within the body limit once encrypted, but a field longer than WeChat ever sends.
    text = "合" * 5000
    answer = await wx.post(wx.message("o_huge", MsgType="text", Content=text, MsgId=9),
                           encrypted=True)
    assert answer.status == 400


async def _client_with(aiohttp_client, config: Config, clock: FrozenClock, **wechat: object):
    cfg = config.replace(wechat=wechat)
    deps = build_deps(cfg, clock=clock)
    client = await aiohttp_client(init_app(cfg, deps=deps, run_workers=False))
    return client, deps, cfg


async def test_previous_key_still_decrypts_during_rotation(aiohttp_client, config, clock) -> None:
    new_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    client, deps, cfg = await _client_with(
        aiohttp_client, config, clock, encoding_aes_key=new_key,
        previous_encoding_aes_key=DEV_AES_KEY,
    )
    wx = FakeWechat(client, cfg)
    old = await wx.post(wx.message("o_rot", MsgType="text", Content="帮助", MsgId=11),
                        encrypted=True, key=DEV_AES_KEY)
    assert old.status == 200 and "「合同」" in old.content
    await deps.db.dispose()


async def test_unknown_key_is_refused(wx: FakeWechat) -> None:
    other = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"
    answer = await wx.post(wx.message("o_k", MsgType="text", Content="x", MsgId=12),
                           encrypted=True, key=other)
    assert answer.status == 400


async def test_same_msgid_three_times_has_one_side_effect(wx: FakeWechat, deps) -> None:
    await wx.say("o_retry", "人工")
    replies = [await wx.say("o_retry", "合同签不了", msg_id=555) for _ in range(3)]
    assert replies[0] == replies[1] == replies[2] and "已收到" in replies[0]
    async with deps.db.sessions() as s:
        count = (await s.execute(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "wechat.handoff")
        )).scalar_one()
    assert count == 1


async def test_event_retry_gets_the_same_reply(wx: FakeWechat) -> None:
    xml = wx.message("o_evt", MsgType="event", Event="subscribe", EventKey="")
    first, second = await wx.post(xml), await wx.post(xml)
    assert first.content and first.body == second.body


async def _scene(deps, kind: str = "onboarding") -> str:
    from core.wechat.scenes import create_scene

    return (await create_scene(deps, kind, {"enterprise_name": "示例厂"})).token


async def _scans(deps, token: str) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(WechatScene.scans).where(WechatScene.token == token))
                ).scalar_one()


async def test_subscribe_with_qrscene_prefix_scans_the_scene(wx: FakeWechat, deps) -> None:
    token = await _scene(deps)
    reply = await wx.event("o_new", "subscribe", f"qrscene_{token}", Ticket="t")
    assert "示例厂" in reply and "欢迎关注" in reply
    assert await _scans(deps, token) == 1


async def test_scan_event_without_prefix_scans_the_scene(wx: FakeWechat, deps) -> None:
    token = await _scene(deps)
    reply = await wx.event("o_old", "SCAN", token, Ticket="t")
    assert "示例厂" in reply and "欢迎关注" not in reply
    assert await _scans(deps, token) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><FromUserName>o</FromUserName>",  # unclosed
        b"not xml at all",
        b"<root><FromUserName>o</FromUserName></root>",  # wrong root
        b"<xml><ToUserName>gh</ToUserName></xml>",  # no sender / type
        b"",
        "<xml><FromUserName>\u00e9</FromUserName>".encode("latin-1"),  # bad encoding
    ],
    ids=["unclosed", "not-xml", "wrong-root", "missing-fields", "empty", "bad-encoding"],
)
async def test_malformed_xml_is_400(wx: FakeWechat, body: bytes) -> None:
    assert (await wx.post(body)).status == 400


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o_x</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><FromUserName>o_l</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>
<Content>&lol3;</Content><MsgId>2</MsgId></xml>"""


async def test_xxe_is_refused_before_parsing(wx: FakeWechat) -> None:
    answer = await wx.post(XXE)
    assert answer.status == 400 and "root:" not in answer.body


async def test_billion_laughs_is_refused(wx: FakeWechat) -> None:
    assert (await wx.post(LAUGHS)).status == 400


async def test_entities_inside_the_encrypted_payload_are_refused(wx: FakeWechat) -> None:
    assert (await wx.post(XXE, encrypted=True)).status == 400


async def test_oversized_body_is_413(wx: FakeWechat) -> None:
    big = wx.message("o_big", MsgType="text", Content="合" * 40000, MsgId=3)
    assert (await wx.post(big)).status == 413


async def test_unknown_message_type_gets_success(wx: FakeWechat) -> None:
    answer = await wx.post(wx.message("o_u", MsgType="miniprogrampage", MsgId=4))
    assert (answer.status, answer.body) == (200, "success")


async def test_unknown_event_gets_success(wx: FakeWechat) -> None:
    answer = await wx.post(wx.message("o_u", MsgType="event", Event="TEMPLATESENDJOBFINISH"))
    assert (answer.status, answer.body) == (200, "success")


async def _wechat_messages_sent(deps) -> list[ConsoleWechatMessage]:
    """Deliver the outbox until the console WeChat sender has recorded something."""
    worker = OutboxWorker(deps, deliverers())
    rows: list[ConsoleWechatMessage] = []
    for _ in range(50):
        await worker.drain()
        async with deps.db.sessions() as s:
            rows = list((await s.execute(select(ConsoleWechatMessage))).scalars())
        if rows:
            break
        await asyncio.sleep(0.05)
    return rows


async def test_slow_answer_is_followed_by_a_custom_message(
    aiohttp_client, config, clock
) -> None:
    client, deps, cfg = await _client_with(aiohttp_client, config, clock,
                                           reply_budget_seconds=0.0)
    wx = FakeWechat(client, cfg)
    answer = await wx.post(wx.message("o_slow", MsgType="text", Content="帮助", MsgId=21))
    assert answer.body == "success"
    rows = await _wechat_messages_sent(deps)
    assert [(r.openid, r.kind) for r in rows] == [("o_slow", "custom")]
    assert "「合同」" in rows[0].text
    await deps.db.dispose()


async def test_answer_missing_the_budget_gets_success_in_time_then_a_custom_message(
    aiohttp_client, config, clock, monkeypatch
) -> None:
    import bot.webhook as webhook

    real_answer = webhook.answer
    release = asyncio.Event()

    async def slow_answer(*args):  # an answer stuck on I/O, e.g. a database stall
        await release.wait()
        return await real_answer(*args)

    monkeypatch.setattr(webhook, "answer", slow_answer)
    client, deps, cfg = await _client_with(aiohttp_client, config, clock,
                                           reply_budget_seconds=0.2)
    wx = FakeWechat(client, cfg)
    msg = wx.message("o_stall", MsgType="text", Content="帮助", MsgId=22)
    started = asyncio.get_running_loop().time()
    first = await asyncio.wait_for(wx.post(msg), 2.0)
    assert first.body == "success"
    assert asyncio.get_running_loop().time() - started < 1.0
    retry = asyncio.create_task(wx.post(msg))  # WeChat's retry while the answer is stuck
    await asyncio.sleep(0.05)
    release.set()
    assert (await retry).body == "success"
    await _wechat_messages_sent(deps)
    await asyncio.sleep(0.1)  # a second message, if one were coming, would be queued now
    rows = await _wechat_messages_sent(deps)
    assert [(r.openid, r.kind) for r in rows] == [("o_stall", "custom")]
    assert "「合同」" in rows[0].text
    # A quick answer on the same server is still a direct reply.
    quick = await wx.post(wx.message("o_quick", MsgType="text", Content="帮助", MsgId=23))
    assert "「合同」" in quick.content
    await deps.db.dispose()


async def test_webhook_refuses_everything_when_unconfigured_in_production(
    aiohttp_client, config, clock
) -> None:
    cfg = config.replace(server={"dev_mode": False})
    deps = build_deps(cfg, clock=clock)
    client = await aiohttp_client(init_app(cfg, deps=deps, run_workers=False))
    params = {"timestamp": "1", "nonce": "2", "echostr": "x",
              "signature": signature("laborsign-dev", "1", "2")}
    assert (await client.get("/wechat", params=params)).status == 403
    await deps.db.dispose()


def test_encrypt_uses_fresh_randomness() -> None:
    assert encrypt("<xml/>", DEV_AES_KEY, "wx1") != encrypt("<xml/>", DEV_AES_KEY, "wx1")


def test_guard_is_independent_of_case_and_spacing() -> None:
    with pytest.raises(ProtocolError):
        parse_xml(b"<!doctype xml><xml><a>1</a></xml>")


def test_text_reply_is_the_generic_rendering_and_parses_back() -> None:
    content = "第一行\n含 ]]> 与 <&> 的内容"
    xml = text_reply("o_to", "gh_from", content, 1700000000)
    assert xml == render_xml({"ToUserName": "o_to", "FromUserName": "gh_from",
                              "CreateTime": 1700000000, "MsgType": "text",
                              "Content": content})
    assert parse_xml(xml) == {"ToUserName": "o_to", "FromUserName": "gh_from",
                              "CreateTime": "1700000000", "MsgType": "text",
                              "Content": content.strip()}
