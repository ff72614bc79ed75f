"""Image captchas for password login: random text, hashed answer, single use.

The answer is stored only as an HMAC bound to the challenge id. Rendering is CPU work
(tens of milliseconds) and runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from captcha.image import ImageCaptcha

from core import ratelimit
from core.config import Config
from core.context import Deps, RequestMeta
from core.crypto import derive_key
from core.errors import InvalidInput
from core.ratelimit import Limit
from storage.models import CaptchaChallenge
from storage.uow import Tx

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B, 9/g, U/V look-alikes: readable on a small screen.
ALPHABET = "ACDEFGHJKMNPQRTWXY34679"
MAX_ANSWER = 10


@dataclass(frozen=True)
class Captcha:
    id: str
    png: bytes
    ttl_seconds: int

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@lru_cache(maxsize=1)
def _renderer() -> ImageCaptcha:
    return ImageCaptcha(width=160, height=60)


def render_png(text: str) -> bytes:
    return _renderer().generate(text).getvalue()


def random_text() -> str:
    length = 4 + secrets.randbelow(2)
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def answer_hash(config: Config, challenge_id: str, answer: str) -> str:
    key = derive_key(config.server.secret_key, "captcha")
    message = f"{challenge_id}:{answer.strip().upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


async def new_captcha(deps: Deps, meta: RequestMeta) -> Captcha:
    text = random_text()
    png = await asyncio.to_thread(render_png, text)
    now = deps.clock.now()
    ttl = deps.config.security.captcha_ttl_seconds
    async with deps.db.transaction() as tx:
        if meta.ip:
            await ratelimit.hit(
                tx, "captcha_ip", meta.ip,
                [Limit(deps.config.security.captcha_per_ip_hourly, 3600)], now,
            )
        row = CaptchaChallenge(answer_hash="", created_at=now,
                               expires_at=now + timedelta(seconds=ttl))
        tx.session.add(row)
        await tx.session.flush()
        row.answer_hash = answer_hash(deps.config, row.id, text)
        if deps.config.server.dev_mode:
            row.dev_answer = text
    return Captcha(row.id, png, ttl)


async def check_captcha(tx: Tx, deps: Deps, challenge_id: str, answer: str) -> InvalidInput | None:
    """Use up the challenge (right or wrong) and return the error, if any.

    Returns instead of raising so the caller can commit the consumption first.
    """
    answer = (answer or "").strip()
    if not challenge_id or not answer:
        return InvalidInput("请输入图形验证码", code="captcha_required", field="captcha")
    if len(challenge_id) > 40 or len(answer) > MAX_ANSWER:
        return InvalidInput("图形验证码错误，请重新输入", code="invalid_captcha", field="captcha")
    row = await tx.session.get(CaptchaChallenge, challenge_id, with_for_update=True)
    now = deps.clock.now()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return InvalidInput("图形验证码已失效，请换一张", code="captcha_expired", field="captcha")
    row.used_at = now
    await tx.session.flush()
    if not hmac.compare_digest(row.answer_hash, answer_hash(deps.config, challenge_id, answer)):
        return InvalidInput("图形验证码错误，请重新输入", code="invalid_captcha", field="captcha")
    return None
