"""My signatures: QR hand-over tokens, the pad upload, defaults."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from core import signatures
from core.context import RequestMeta
from core.errors import Conflict, InvalidInput, NotFound, RateLimited
from storage.models import HandwrittenSignature, User

META = RequestMeta(ip="127.0.0.1", user_agent="pytest")


def drawn_png(width: int = 600, height: int = 240, ink: bool = True) -> bytes:
    """A canvas export as the pad sends it: transparent, with black strokes."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if ink:
        draw = ImageDraw.Draw(image)
        draw.line([(60, 150), (140, 60), (220, 170), (320, 80), (420, 160)], fill="#111",
                  width=6)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


async def new_user(deps, phone: str = "13900000001") -> str:
    async with deps.db.transaction() as tx:
        user = User(phone=phone, created_at=deps.clock.now())
        tx.session.add(user)
        await tx.session.flush()
        return user.id


async def count_signatures(deps, user_id: str) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).where(
            HandwrittenSignature.user_id == user_id,
            HandwrittenSignature.deleted_at.is_(None)))).scalar_one()


async def test_qr_handover_adds_the_signature_to_the_pc_users_account(deps) -> None:
    user_id = await new_user(deps)
    handover = await signatures.start_handover(deps, user_id, META)
    assert handover.pad_url.endswith(f"/pad/{handover.token}")
    assert await signatures.handover_status(deps, user_id, handover.id) == "waiting"

    await signatures.submit_from_pad(deps, handover.token, drawn_png(), META)

    assert await signatures.handover_status(deps, user_id, handover.id) == "done"
    [item] = await signatures.list_signatures(deps, user_id)
    assert item.is_default and item.source == "pad_qr"


async def test_a_pad_token_works_only_once(deps) -> None:
    user_id = await new_user(deps)
    handover = await signatures.start_handover(deps, user_id, META)
    await signatures.submit_from_pad(deps, handover.token, drawn_png(), META)
    with pytest.raises(Conflict) as err:
        await signatures.submit_from_pad(deps, handover.token, drawn_png(), META)
    assert err.value.code == "pad_token_used"
    assert await count_signatures(deps, user_id) == 1


async def test_a_pad_token_expires_after_five_minutes(deps, clock) -> None:
    user_id = await new_user(deps)
    handover = await signatures.start_handover(deps, user_id, META)
    clock.advance(minutes=5, seconds=1)
    assert await signatures.handover_status(deps, user_id, handover.id) == "expired"
    with pytest.raises(Conflict) as err:
        await signatures.submit_from_pad(deps, handover.token, drawn_png(), META)
    assert err.value.code == "pad_token_expired"
    assert await count_signatures(deps, user_id) == 0


async def test_unknown_pad_token_is_not_found(deps) -> None:
    with pytest.raises(NotFound):
        await signatures.check_pad_token(deps, "forged-token")


async def test_empty_drawing_is_refused_and_the_token_stays_usable(deps) -> None:
    user_id = await new_user(deps)
    handover = await signatures.start_handover(deps, user_id, META)
    with pytest.raises(InvalidInput) as err:
        await signatures.submit_from_pad(deps, handover.token, drawn_png(ink=False), META)
    assert err.value.code == "signature_empty"
    await signatures.check_pad_token(deps, handover.token)  # still live: the user redraws


async def test_handover_status_of_another_user_is_not_found(deps) -> None:
    owner = await new_user(deps, "13900000001")
    other = await new_user(deps, "13900000002")
    handover = await signatures.start_handover(deps, owner, META)
    with pytest.raises(NotFound):
        await signatures.handover_status(deps, other, handover.id)


async def test_handover_codes_are_rate_limited(deps) -> None:
    user_id = await new_user(deps)
    for _ in range(20):
        await signatures.start_handover(deps, user_id, META)
    with pytest.raises(RateLimited):
        await signatures.start_handover(deps, user_id, META)


async def test_choosing_a_default_and_deleting_it_promotes_another(deps, clock) -> None:
    user_id = await new_user(deps)
    first = await signatures.add_signature(deps, user_id, drawn_png(), META)
    clock.advance(seconds=1)
    second = await signatures.add_signature(deps, user_id, drawn_png(500, 200), META)
    await signatures.set_default(deps, user_id, second, META)
    views = {v.id: v.is_default for v in await signatures.list_signatures(deps, user_id)}
    assert views == {first: False, second: True}

    await signatures.delete_signature(deps, user_id, second, META)
    [left] = await signatures.list_signatures(deps, user_id)
    assert left.id == first and left.is_default
    assert await signatures.default_signature_png(deps, user_id) is not None


async def test_someone_else_cannot_touch_my_signature(deps) -> None:
    owner = await new_user(deps, "13900000001")
    other = await new_user(deps, "13900000002")
    sig = await signatures.add_signature(deps, owner, drawn_png(), META)
    with pytest.raises(NotFound):
        await signatures.delete_signature(deps, other, sig, META)
    with pytest.raises(NotFound):
        await signatures.signature_png(deps, other, sig)


# ------------------------------------------------------------------ 预制人名章


async def verified_user(deps, name: str = "王小明") -> str:
    from tests.factories import make_user

    return (await make_user(deps, verified=True, real_name=name)).id


def is_red_seal(png: bytes) -> bool:
    raw = Image.open(io.BytesIO(png)).convert("RGBA").tobytes()
    pixels = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    inked = [p for p in pixels if p[3] > 200]
    red = [p for p in inked if p[0] > 180 and p[1] < 90 and p[2] < 90]
    return len(inked) > 500 and len(red) > 0.8 * len(inked)


async def test_verified_person_is_offered_the_name_seal_beside_drawings(deps) -> None:
    user_id = await verified_user(deps)
    items = await signatures.list_signatures(deps, user_id)
    assert [(s.label, s.is_default) for s in items] == [("预制人名章", False)]
    seal = items[0]
    assert seal.width == seal.height  # 王小明印: a square seal
    assert is_red_seal(await signatures.signature_png(deps, user_id, seal.id))
    # Listed again: drawn once, not twice.
    assert len(await signatures.list_signatures(deps, user_id)) == 1
    # A drawing added later becomes the default (none was chosen); the seal stays a choice.
    drawn = await signatures.add_signature(deps, user_id, drawn_png(), META)
    items = await signatures.list_signatures(deps, user_id)
    assert [(s.id, s.is_default) for s in items] == [(drawn, True), (seal.id, False)]


async def test_the_name_seal_can_be_the_default_and_is_what_signing_uses(deps) -> None:
    user_id = await verified_user(deps)
    await signatures.add_signature(deps, user_id, drawn_png(), META)
    seal = next(s for s in await signatures.list_signatures(deps, user_id) if s.is_name_seal)
    await signatures.set_default(deps, user_id, seal.id, META)
    stamp = await signatures.default_signature_png(deps, user_id)
    assert stamp == await signatures.signature_png(deps, user_id, seal.id) and is_red_seal(stamp)


async def test_no_name_seal_before_real_name_verification(deps) -> None:
    user_id = await new_user(deps)
    assert await signatures.list_signatures(deps, user_id) == []


async def test_the_name_seal_cannot_be_deleted_and_is_never_promoted_by_itself(deps) -> None:
    user_id = await verified_user(deps, "李四")
    drawn = await signatures.add_signature(deps, user_id, drawn_png(), META)
    seal = next(s for s in await signatures.list_signatures(deps, user_id) if s.is_name_seal)
    with pytest.raises(Conflict) as err:
        await signatures.delete_signature(deps, user_id, seal.id, META)
    assert err.value.code == "name_seal_not_deletable"
    await signatures.delete_signature(deps, user_id, drawn, META)
    assert await signatures.default_signature_png(deps, user_id) is None  # the person chooses


async def test_long_or_latin_names_get_a_rectangular_seal(deps) -> None:
    from core.signing.seals import name_seal

    cfg = deps.config.signing
    for name in ("阿卜杜·热合曼", "John Smith"):
        png = name_seal(name, font_path=cfg.name_seal_font_path,
                        fallback_font_path=cfg.font_path)
        image = Image.open(io.BytesIO(png))
        assert image.width > 1.5 * image.height and is_red_seal(png)


@pytest.mark.parametrize("kind", ["ztxt", "iccp", "itxt", "truncated-png", "truncated-jpeg",
                                  "bomb", "random"])
def test_hostile_signature_images_are_a_clear_refusal(kind: str) -> None:
    from core.signing.pdf import load_stamp_image
    from core.signing.seals import normalize_signature
    from tests.enterprise_factories import garbage_images

    image = garbage_images()[kind]
    with pytest.raises(InvalidInput):
        normalize_signature(image)
    with pytest.raises(InvalidInput):
        load_stamp_image(image)
