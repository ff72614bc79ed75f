"""Where the text lines and horizontal rules of a template's pages are, for the placement
editor's snapping ("吸附到文字行").

Per page, three kinds of line, as fractions of the page as it is shown (the rendered page
image: crop box, page rotation applied, origin top left):

- `rule`: a horizontal stroke drawn as a path (a line, a thin rectangle, the edge of a
  table cell) at least `MIN_RULE` points long; `y` is its middle.
- `blank`: a run of two or more underscores in the text ("姓名：______"); `y` is the middle
  of the underscores' glyphs, `x0`/`x1` the run's ends.
- `text`: a line of text (characters on one baseline, split at wide gaps); `y` is the
  baseline, `x1` where the text ends (after a label such as "乙方姓名：").

Extraction (pdfium, in the CPU pool) is bounded: pages, objects, path segments and
characters per page, lines kept per page, and a time budget; whatever is cut off is
reported as `truncated`. The result depends only on the PDF's bytes, so it is cached on
disk by the file's SHA-256 (like the page images) and computed once per file.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.context import Deps
from core.cpu import run_cpu
from core.errors import NotFound
from core.files import file_store, read_verified
from core.templates import service
from storage.models import TemplateVersion

FORMAT = 1                  # bump to ignore older cached results
MAX_PAGES = 60
MAX_LINES_PER_PAGE = 200
MAX_OBJECTS_PER_PAGE = 20_000
MAX_SEGMENTS_PER_PAGE = 40_000
MAX_CHARS_PER_PAGE = 20_000
MAX_FORM_DEPTH = 4
TIME_BUDGET = 5.0           # seconds for one file, all pages
MIN_RULE = 12.0             # points: shorter strokes are not lines to write on
FLAT = 0.6                  # points: a segment this close to horizontal is horizontal
MERGE_GAP = 2.5             # points: strokes this close (a thin rectangle's edges) are one
UNDERSCORES = frozenset("_＿")
SPACES = frozenset(" \u3000\u00a0\t\r\n\x02\ufffe")
KIND_ORDER = {"rule": 0, "blank": 1, "text": 2}

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass
class _Budget:
    deadline: float
    truncated: bool = False

    def out(self) -> bool:
        if time.monotonic() > self.deadline:
            self.truncated = True
        return self.truncated


@dataclass
class _View:
    """Page space (points, bottom left) to the shown page (points, top left)."""

    left: float
    bottom: float
    right: float
    top: float
    rotation: int
    width: float = field(init=False)
    height: float = field(init=False)

    def __post_init__(self) -> None:
        w, h = self.right - self.left, self.top - self.bottom
        self.width, self.height = (h, w) if self.rotation in (90, 270) else (w, h)

    def point(self, x: float, y: float) -> tuple[float, float]:
        if self.rotation == 90:
            return y - self.bottom, x - self.left
        if self.rotation == 180:
            return self.right - x, y - self.bottom
        if self.rotation == 270:
            return self.top - y, self.right - x
        return x - self.left, self.top - y

    def box(self, left: float, bottom: float, right: float, top: float
            ) -> tuple[float, float, float, float]:
        (u1, v1), (u2, v2) = self.point(left, bottom), self.point(right, top)
        return min(u1, u2), min(v1, v2), max(u1, u2), max(v1, v2)


@dataclass
class _Line:
    kind: str
    y: float        # points from the top of the shown page
    x0: float
    x1: float

    def as_json(self, view: _View) -> dict[str, Any]:
        return {"kind": self.kind, "y": round(self.y / view.height, 5),
                "x0": round(max(self.x0, 0.0) / view.width, 5),
                "x1": round(min(self.x1, view.width) / view.width, 5)}


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """`inner` first, then `outer`."""
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


# ---------------------------------------------------------------- rules (paths)


class _Rules:
    def __init__(self, view: _View, budget: _Budget) -> None:
        self.view, self.budget = view, budget
        self.found: list[_Line] = []
        self.objects = 0
        self.segments = 0
        self.cut = False

    def _segment(self, p: tuple[float, float], q: tuple[float, float]) -> None:
        (u1, v1), (u2, v2) = self.view.point(*p), self.view.point(*q)
        if abs(v1 - v2) <= FLAT and abs(u1 - u2) >= MIN_RULE:
            self.found.append(_Line("rule", (v1 + v2) / 2, min(u1, u2), max(u1, u2)))

    def path(self, obj: Any, m: Matrix) -> None:
        import pypdfium2.raw as raw

        fill, stroke = ctypes.c_int(0), ctypes.c_int(0)
        if raw.FPDFPath_GetDrawMode(obj, fill, stroke) and not fill.value and not stroke.value:
            return  # a clipping path: nothing is drawn
        count = raw.FPDFPath_CountSegments(obj)
        start = current = None
        x, y = ctypes.c_float(0), ctypes.c_float(0)
        for ix in range(max(count, 0)):
            if self.segments >= MAX_SEGMENTS_PER_PAGE:
                self.cut = True
                return
            self.segments += 1
            seg = raw.FPDFPath_GetPathSegment(obj, ix)
            if not seg or not raw.FPDFPathSegment_GetPoint(seg, x, y):
                continue
            point = _apply(m, x.value, y.value)
            kind = raw.FPDFPathSegment_GetType(seg)
            if kind == raw.FPDF_SEGMENT_MOVETO:
                start = point
            elif kind == raw.FPDF_SEGMENT_LINETO and current is not None:
                self._segment(current, point)
            current = point
            if raw.FPDFPathSegment_GetClose(seg) and start is not None:
                self._segment(point, start)
                current = start

    def walk(self, parent: Any, m: Matrix, depth: int, form: bool) -> None:
        import pypdfium2.raw as raw

        count = (raw.FPDFFormObj_CountObjects(parent) if form
                 else raw.FPDFPage_CountObjects(parent))
        for ix in range(max(count, 0)):
            if self.cut or self.objects >= MAX_OBJECTS_PER_PAGE:
                self.cut = True
                return
            self.objects += 1
            if self.objects % 256 == 0 and self.budget.out():
                return
            obj = (raw.FPDFFormObj_GetObject(parent, ix) if form
                   else raw.FPDFPage_GetObject(parent, ix))
            if not obj:
                continue
            kind = raw.FPDFPageObj_GetType(obj)
            if kind not in (raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_FORM):
                continue
            fm = raw.FS_MATRIX()
            if not raw.FPDFPageObj_GetMatrix(obj, fm):
                continue
            own = _compose((fm.a, fm.b, fm.c, fm.d, fm.e, fm.f), m)
            if kind == raw.FPDF_PAGEOBJ_PATH:
                self.path(obj, own)
            elif depth < MAX_FORM_DEPTH:
                self.walk(obj, own, depth + 1, True)


def _merge(lines: list[_Line]) -> list[_Line]:
    """Strokes on (nearly) the same height that overlap become one: a thin rectangle's two
    edges, a line drawn twice, touching cell borders."""
    out: list[_Line] = []
    lines.sort(key=lambda ln: (ln.y, ln.x0))
    group: list[_Line] = []

    def flush() -> None:
        group.sort(key=lambda ln: ln.x0)
        merged: list[tuple[_Line, int]] = []
        for ln in group:
            if merged and ln.x0 <= merged[-1][0].x1 + 1.0:
                last, n = merged[-1]
                last.x1 = max(last.x1, ln.x1)
                last.y = (last.y * n + ln.y) / (n + 1)
                merged[-1] = (last, n + 1)
            else:
                merged.append((_Line(ln.kind, ln.y, ln.x0, ln.x1), 1))
        out.extend(m for m, _ in merged)

    for ln in lines:
        if group and ln.y - group[0].y > MERGE_GAP:
            flush()
            group = []
        group.append(ln)
    if group:
        flush()
    return out


# ---------------------------------------------------------------- text


def _text_lines(page: Any, view: _View, budget: _Budget) -> tuple[list[_Line], bool]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        cut = count > MAX_CHARS_PER_PAGE
        texts: list[_Line] = []
        blanks: list[_Line] = []
        run: _Line | None = None          # the current text line
        size = 0.0
        reach = 0.0                       # the right end of the line's last character
        under: list[float] | None = None  # [x0, x1, top, bottom] of an underscore run
        under_n = 0
        ox, oy = ctypes.c_double(0), ctypes.c_double(0)

        def end_under() -> None:
            nonlocal under, under_n
            if under is not None and under_n >= 2 and under[1] - under[0] >= 4:
                blanks.append(_Line("blank", (under[2] + under[3]) / 2, under[0], under[1]))
            under, under_n = None, 0

        for ix in range(min(count, MAX_CHARS_PER_PAGE)):
            if ix % 512 == 0 and budget.out():
                cut = True
                break
            char = chr(raw.FPDFText_GetUnicode(textpage, ix) or 32)
            if char in SPACES:
                end_under()
                continue
            if not raw.FPDFText_GetCharOrigin(textpage, ix, ox, oy):
                continue
            try:
                # The loose box spans the advance (a label ends after its colon's advance,
                # not at the colon's ink); the tight box is the glyph's ink.
                left, _, right, _ = view.box(*textpage.get_charbox(ix, loose=True))
                _, top_, _, bottom = view.box(*textpage.get_charbox(ix))
            except pdfium.PdfiumError:  # no box: not a character to place against
                continue
            _, v = view.point(ox.value, oy.value)
            font = raw.FPDFText_GetFontSize(textpage, ix) or (bottom - top_) or 10.0
            new_line = (run is None or abs(v - run.y) > max(1.0, 0.3 * size)
                        or left < run.x0 - 1.0 or left - reach > 3 * max(size, font))
            reach = right if new_line else max(reach, right)
            if char in UNDERSCORES:
                if under is not None and not new_line and left - under[1] <= font:
                    under[1] = max(under[1], right)
                    under[2], under[3] = min(under[2], top_), max(under[3], bottom)
                    under_n += 1
                else:
                    end_under()
                    under, under_n = [left, right, top_, bottom], 1
                if run is not None and not new_line:
                    continue  # the underscores are a blank, not more text
            else:
                end_under()
            if new_line:
                if run is not None:
                    texts.append(run)
                run = _Line("text", v, left, right)
                size = font
                if char in UNDERSCORES:
                    run.x1 = left
            else:
                assert run is not None
                run.x1 = max(run.x1, right)
                size = max(size, font)
        end_under()
        if run is not None:
            texts.append(run)
        return [t for t in texts if t.x1 > t.x0] + blanks, cut
    finally:
        textpage.close()


# ---------------------------------------------------------------- one file


def extract_lines(data: bytes, budget_seconds: float = TIME_BUDGET) -> dict[str, Any]:
    """Lines of every page (at most `MAX_PAGES`), within the time budget (CPU pool)."""
    import pypdfium2 as pdfium

    budget = _Budget(time.monotonic() + budget_seconds)
    pages: list[list[dict[str, Any]]] = []
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return {"format": FORMAT, "pages": [], "truncated": True}
    try:
        total = len(pdf)
        truncated = total > MAX_PAGES
        for ix in range(min(total, MAX_PAGES)):
            if budget.out():
                pages.append([])
                continue
            page = pdf[ix]
            try:
                left, bottom, right, top = page.get_cropbox()
                view = _View(left, bottom, right, top, page.get_rotation() % 360)
                if view.width <= 0 or view.height <= 0:
                    pages.append([])
                    continue
                rules = _Rules(view, budget)
                rules.walk(page, IDENTITY, 0, False)
                texts, text_cut = _text_lines(page, view, budget)
            finally:
                page.close()
            found = [ln for ln in _merge(rules.found) + texts
                     if -1 <= ln.y <= view.height + 1 and ln.x1 - ln.x0 > 0]
            found.sort(key=lambda ln: (KIND_ORDER[ln.kind], ln.y, ln.x0))
            if rules.cut or text_cut or len(found) > MAX_LINES_PER_PAGE:
                truncated = True
            kept = sorted(found[:MAX_LINES_PER_PAGE], key=lambda ln: (ln.y, ln.x0))
            pages.append([ln.as_json(view) for ln in kept])
        return {"format": FORMAT, "pages": pages, "truncated": truncated or budget.truncated}
    finally:
        pdf.close()


# ---------------------------------------------------------------- cached, with permissions


def _cache_path(deps: Deps, sha256: str) -> Path:
    return deps.config.var_dir / "cache" / "lines" / sha256[:2] / f"{sha256}-{FORMAT}.json"


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("format") == FORMAT else None


def _write_cache(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), "utf-8")
    tmp.replace(path)


async def file_lines(deps: Deps, key: str, sha256: str) -> dict[str, Any]:
    path = _cache_path(deps, sha256)
    found = await asyncio.to_thread(_read_cache, path)
    if found is not None:
        return found
    pdf = await asyncio.to_thread(read_verified, file_store(deps), key, sha256)
    value = await run_cpu(extract_lines, pdf)
    await asyncio.to_thread(_write_cache, path, value)
    return value


async def template_lines(deps: Deps, user_id: str, enterprise_id: str, template_id: str,
                         version: int | None = None) -> dict[str, Any]:
    """The lines of the draft's PDF (what the editor shows), or of published `version`.
    Reading needs what reading the template needs (`service.require_read`)."""
    async with deps.db.transaction() as tx:
        actor = await service.require_read(tx, user_id, enterprise_id)
        t = await service.load(tx, enterprise_id, template_id, actor=actor)
        key, digest, number = t.file_key, t.sha256, 0
        if version is not None:
            row = (await tx.session.execute(
                select(TemplateVersion).where(TemplateVersion.template_id == t.id,
                                              TemplateVersion.version == version)
            )).scalar_one_or_none()
            if row is None:
                raise NotFound("没有这个版本", code="version_not_found")
            key, digest, number = row.file_key, row.sha256, row.version
    found = await file_lines(deps, key, digest)
    return {"template_id": template_id, "version": number, "sha256": digest,
            "pages": found["pages"], "truncated": bool(found.get("truncated"))}
