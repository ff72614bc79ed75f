"""Snapping fields to the text lines in a real browser, on a phone (touch) and a 1366×768 PC
(mouse): a field tapped onto "姓名：______" sits on the underscores right after the label, a
field dragged near a drawn underline sits on it, and with 吸附到文字行 off a field stays
where it was put. The saved template keeps the snapped position."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.signing.cjk_pdf import A4
from core.templates import service
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user
from tests.lines_support import NAME_Y, RULE_X, RULE_Y, form_pdf

PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}
W, H = A4


async def _fields(page) -> list[dict]:
    return await page.evaluate("JSON.parse(document.getElementById('fields_json').value)")


async def _frame_box(page) -> dict:
    frame = page.locator("figure[data-page='1'] .doc-frame")
    await frame.scroll_into_view_if_needed()
    box = await frame.bounding_box()
    assert box is not None
    return box


async def _tap(page, device: str, x: float, y: float) -> None:
    if device == "phone":
        await page.touchscreen.tap(x, y)
    else:
        await page.mouse.click(x, y)


async def _place_text(page, device: str, fx: float, fy_px_offset: float, fy: float) -> dict:
    """文本 from the palette, then a tap at (fx, fy) of the page, `fy_px_offset` screen
    pixels lower; answers the new placement."""
    await page.click("#palette .chip:text-is('文本')")
    box = await _frame_box(page)
    await _tap(page, device, box["x"] + box["width"] * fx,
               box["y"] + box["height"] * fy + fy_px_offset)
    await page.wait_for_selector("#field-panel:not([hidden])")
    return (await _fields(page))[-1]["placements"][0]


async def _done(page, device: str) -> None:
    if device == "phone":
        await page.click("#fp-close")


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_fields_snap_to_the_underline_and_not_when_switched_off(
    deps, live_server, browser, shot, output_dir: Path, device: str
) -> None:
    url = live_server.url
    n = "1" if device == "phone" else "2"
    admin = await make_user(deps, phone=f"1371234300{n}", verified=True, real_name="王五",
                            id_number=id_number(f"42{n}"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name="杭州吸附测试有限公司")
    form = form_pdf(deps.config, rectangle=False)
    token = (await login_as(deps, admin)).session.token
    ctx = await browser.new_context(**DEVICES[device])
    await ctx.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    hr = await ctx.new_page()
    await hr.goto(f"{url}/console/e/{ent}/templates")
    await hr.fill("#t-name", "入职登记表")
    await hr.select_option("#t-type", "其他")
    await hr.set_input_files("#t-file", files=[{
        "name": "表.pdf", "mimeType": "application/pdf", "buffer": form.pdf}])
    await hr.click("#template-create button[type=submit]")
    await hr.wait_for_url(re.compile(r".*/templates/[0-9a-f]{32}\?ok=saved$"))
    tid = hr.url.split("/templates/")[1].split("?")[0]
    await hr.wait_for_selector("#placer[data-lines-ready='1']", state="attached")
    assert await hr.is_checked("#snap-lines")
    lines = (await hr.evaluate(
        "fetch(document.getElementById('placer').getAttribute('data-lines'))"
        ".then(function (r) { return r.json(); })"))["pages"][0]
    blank = next(ln for ln in lines if ln["kind"] == "blank")
    rule = next(ln for ln in lines if ln["kind"] == "rule")
    assert abs(rule["y"] - (H - RULE_Y) / H) < 0.002
    assert abs(blank["x0"] - form.after_label / W) < 0.004

    # -- tap a little above the underscores, a little right of the label: it snaps ----------
    p = await _place_text(hr, device, blank["x0"] + 0.02, -4, (H - NAME_Y) / H)
    assert p["y"] + p["h"] == pytest.approx(blank["y"], abs=0.0002), (p, blank)
    assert p["x"] == pytest.approx(blank["x0"], abs=0.0002)
    assert p["x"] + p["w"] <= blank["x1"] + 0.0002
    y_input = float(await hr.input_value("#fp-y"))
    assert y_input == pytest.approx(round(p["y"] * 100, 1), abs=0.05)
    assert await hr.locator(".tpl-snapline").count() == 1
    await shot(hr, f"{device}-snapped-to-underscores")
    await hr.screenshot(path=str(output_dir / f"view-{device}-snapped-to-underscores.png"))
    await _done(hr, device)

    # -- place one away from any line, then drag it near the drawn underline ------------------
    free = await _place_text(hr, device, 0.55, 0, 0.62)
    assert abs(free["y"] + free["h"] / 2 - 0.62) < 0.01  # nothing to snap to there
    box = await _frame_box(hr)
    field = hr.locator(".tpl-selected").first
    fb = await field.bounding_box()
    assert fb is not None
    start_x, start_y = fb["x"] + fb["width"] / 2, fb["y"] + fb["height"] / 2
    target_left = box["x"] + box["width"] * rule["x0"] + 40       # well inside the rule
    target_bottom = box["y"] + box["height"] * rule["y"] + 5      # 5 px below it
    dx, dy = target_left - fb["x"], target_bottom - (fb["y"] + fb["height"])
    await hr.mouse.move(start_x, start_y)
    await hr.mouse.down()
    await hr.mouse.move(start_x + dx, start_y + dy, steps=8)
    await hr.mouse.up()
    dragged = (await _fields(hr))[-1]["placements"][0]
    assert dragged["y"] + dragged["h"] == pytest.approx(rule["y"], abs=0.0002), dragged
    assert dragged["x"] > rule["x0"] + 0.02  # not pulled to the start: it was far from it
    assert dragged["x"] + dragged["w"] <= RULE_X[1] / W + 0.0002
    await shot(hr, f"{device}-dragged-onto-rule")
    await _done(hr, device)

    # -- switched off: a field tapped just above the underline stays where it was tapped -------
    await hr.locator("#snap-lines").scroll_into_view_if_needed()
    await hr.uncheck("#snap-lines")
    bh = (await _frame_box(hr))["height"]
    # The tap puts the field's middle there: its bottom edge 5 px above the underline,
    # close enough to snap if snapping were on.
    loose = await _place_text(hr, device, 0.2, -(5 + 18 / H * bh / 2), rule["y"])
    bottom = loose["y"] + loose["h"]
    assert bottom == pytest.approx(rule["y"] - 5 / bh, abs=1.5 / bh), (loose, rule)
    assert abs(bottom - rule["y"]) > 3 / bh
    await shot(hr, f"{device}-snap-off")
    await _done(hr, device)

    # -- numeric entry never snaps ----------------------------------------------------------
    await hr.locator(".tpl-box").first.click()
    await hr.check("#snap-lines")
    await hr.locator(".tpl-box").first.click()
    near = round((rule["y"] - 0.002) * 100, 1)
    await hr.fill("#fp-y", str(near))
    typed = (await _fields(hr))[0]["placements"][0]
    assert typed["y"] == pytest.approx(near / 100, abs=0.00001)

    # -- saved as snapped -------------------------------------------------------------------
    await hr.click("#save-template")
    await hr.wait_for_url("**?ok=saved")
    view = await service.get_template(deps, admin.id, ent, tid)
    saved = [f.as_json()["placements"][0] for f in view.fields]
    assert saved[1]["y"] + saved[1]["h"] == pytest.approx(rule["y"], abs=0.0002)
    assert saved[0]["y"] == pytest.approx(near / 100, abs=0.00001)
    await ctx.close()
