"""Image captcha: PNG, hashed answer, single use, expiry, case-insensitive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import captcha
from core.context import RequestMeta
from core.errors import RateLimited
from storage.models import CaptchaChallenge

META = RequestMeta(ip="10.0.0.9")


async def _new(deps, monkeypatch, text: str = "AC3K") -> captcha.Captcha:
    monkeypatch.setattr(captcha, "random_text", lambda: text)
    return await captcha.new_captcha(deps, META)


async def _check(deps, challenge_id: str, answer: str):
    async with deps.db.transaction() as tx:
        return await captcha.check_captcha(tx, deps, challenge_id, answer)


def test_random_text_uses_only_unambiguous_characters() -> None:
    texts = [captcha.random_text() for _ in range(200)]
    assert {len(t) for t in texts} <= {4, 5}
    assert set("".join(texts)) <= set(captcha.ALPHABET)
    assert not set("0O1IL2Z5S8B") & set(captcha.ALPHABET)


async def test_new_captcha_is_a_png_and_the_answer_is_stored_hashed(deps, monkeypatch) -> None:
    challenge = await _new(deps, monkeypatch)
    async with deps.db.sessions() as s:
        row = (await s.execute(select(CaptchaChallenge))).scalar_one()
    assert challenge.png.startswith(b"\x89PNG")
    assert challenge.data_url.startswith("data:image/png;base64,")
    assert "AC3K" not in row.answer_hash and len(row.answer_hash) == 64


async def test_right_answer_passes_case_insensitively(deps, monkeypatch) -> None:
    challenge = await _new(deps, monkeypatch)
    assert await _check(deps, challenge.id, " ac3k ") is None


async def test_captcha_cannot_be_reused(deps, monkeypatch) -> None:
    challenge = await _new(deps, monkeypatch)
    assert await _check(deps, challenge.id, "AC3K") is None
    error = await _check(deps, challenge.id, "AC3K")
    assert error is not None and error.code == "captcha_expired"


async def test_wrong_answer_uses_the_captcha_up(deps, monkeypatch) -> None:
    challenge = await _new(deps, monkeypatch)
    error = await _check(deps, challenge.id, "XXXX")
    assert error is not None and error.code == "invalid_captcha"
    assert (await _check(deps, challenge.id, "AC3K")).code == "captcha_expired"


async def test_captcha_expires(deps, monkeypatch, clock) -> None:
    challenge = await _new(deps, monkeypatch)
    clock.advance(seconds=deps.config.security.captcha_ttl_seconds + 1)
    assert (await _check(deps, challenge.id, "AC3K")).code == "captcha_expired"


async def test_missing_or_unknown_captcha_is_refused(deps) -> None:
    assert (await _check(deps, "", "AC3K")).code == "captcha_required"
    assert (await _check(deps, "f" * 32, "AC3K")).code == "captcha_expired"
    assert (await _check(deps, "f" * 500, "AC3K")).code == "invalid_captcha"


async def test_captchas_per_ip_are_limited(deps, config, monkeypatch) -> None:
    deps.config = config.replace(security={"captcha_per_ip_hourly": 2})
    await _new(deps, monkeypatch)
    await _new(deps, monkeypatch)
    with pytest.raises(RateLimited):
        await _new(deps, monkeypatch)
