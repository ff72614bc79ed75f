"""Text lines and rules of a template's pages (core/templates/lines.py): where an underline,
a thin rectangle, a run of underscores and a text baseline are, as page fractions, and the
limits on a hostile page."""

from __future__ import annotations

import time

from core.signing.cjk_pdf import A4, Page, write_pdf
from core.templates import lines
from core.templates.lines import MAX_LINES_PER_PAGE, extract_lines
from tests.lines_support import NAME_Y, RECT_Y, RULE_X, RULE_Y, form_pdf

H = A4[1]


def _close(a: float, b: float, tol: float = 0.002) -> bool:
    return abs(a - b) <= tol


def test_an_underline_a_thin_rectangle_underscores_and_baselines_are_found(config) -> None:
    form = form_pdf(config)
    after_label = form.after_label
    found = extract_lines(form.pdf)
    assert not found["truncated"] and len(found["pages"]) == 1
    page = found["pages"][0]
    rules = [ln for ln in page if ln["kind"] == "rule"]
    assert len(rules) == 2, rules  # the rectangle's two edges are one line
    under = min(rules, key=lambda ln: ln["y"])
    assert _close(under["y"], (H - RULE_Y) / H)
    assert _close(under["x0"], RULE_X[0] / 595) and _close(under["x1"], RULE_X[1] / 595)
    rect = max(rules, key=lambda ln: ln["y"])
    assert _close(rect["y"], (H - RECT_Y) / H) and _close(rect["x0"], 100 / 595)

    blanks = [ln for ln in page if ln["kind"] == "blank"]
    assert len(blanks) == 1, page
    blank = blanks[0]
    # An underscore's stroke sits just under the baseline (y = 500).
    assert (H - NAME_Y) / H < blank["y"] < (H - NAME_Y + 4) / H
    assert _close(blank["x0"], after_label / 595, 0.004)
    assert blank["x1"] > blank["x0"] + 0.05

    texts = {round(ln["y"], 3): ln for ln in page if ln["kind"] == "text"}
    name = texts[round((H - NAME_Y) / H, 3)]
    assert _close(name["x0"], 70 / 595, 0.004)
    assert _close(name["x1"], after_label / 595, 0.004)  # the label ends before the blank
    party = texts[round((H - 700) / H, 3)]
    assert _close(party["x1"], (70 + 9 * 12) / 595, 0.004)


def test_the_model_template_blanks_are_rules_after_their_labels(config) -> None:
    from core.templates.model import model_template

    model = model_template(font_path=config.signing.font_path,
                           font_index=config.signing.font_index)
    found = extract_lines(model.pdf)
    name = next(f for f in model.fields if f["key"] == "emp_name")["placements"][0]
    rules = [ln for ln in found["pages"][name["page"]] if ln["kind"] == "rule"]
    bottom = name["y"] + name["h"]
    nearest = min(rules, key=lambda ln: abs(ln["y"] - bottom))
    assert abs(nearest["y"] - bottom) < 0.01
    assert abs(nearest["x0"] - name["x"]) < 0.01


def test_ten_thousand_tiny_lines_give_at_most_the_cap_quickly(config) -> None:
    page = Page()
    for row in range(250):
        for col in range(40):
            x, y = 8 + col * 14.5, 40 + row * 3
            page.ops.append(f"{x:.1f} {y:.1f} m {x + 12.5:.1f} {y:.1f} l S")
    pdf = write_pdf([page], {}, "lines")
    started = time.monotonic()
    found = extract_lines(pdf)
    assert time.monotonic() - started < 10
    assert found["truncated"]
    assert 0 < len(found["pages"][0]) <= MAX_LINES_PER_PAGE


def test_a_spent_time_budget_stops_and_says_so(config) -> None:
    found = extract_lines(form_pdf(config).pdf, budget_seconds=0.0)
    assert found["truncated"] and found["pages"] == [[]]


def test_pages_beyond_the_limit_are_left_out(config, monkeypatch) -> None:
    monkeypatch.setattr(lines, "MAX_PAGES", 1)
    pdf = write_pdf([Page(), Page()], {}, "two")
    found = extract_lines(pdf)
    assert found["truncated"] and len(found["pages"]) == 1


def test_garbage_is_no_lines_not_an_error() -> None:
    assert extract_lines(b"%PDF-1.4 nothing here") == {
        "format": lines.FORMAT, "pages": [], "truncated": True}


def test_a_rotated_page_gives_lines_as_the_page_image_shows_them() -> None:
    import io

    import pypdfium2 as pdfium

    page = Page()
    page.line(300, 100, 300, 400, width=1)  # vertical on the page, horizontal when shown
    page.line(100, 500, 400, 500, width=1)  # horizontal on the page, vertical when shown
    doc = pdfium.PdfDocument(write_pdf([page], {}, "rotated"))
    doc[0].set_rotation(90)
    out = io.BytesIO()
    doc.save(out)
    doc.close()
    found = extract_lines(out.getvalue())["pages"][0]
    # Shown 842 wide and 595 high; page x becomes the shown y, page y the shown x.
    assert found == [{"kind": "rule", "y": round(300 / 595, 5), "x0": round(100 / 842, 5),
                      "x1": round(400 / 842, 5)}]
