"""A bounded, streaming reader for the one worksheet of an .xlsx upload.

openpyxl (even read-only) trusts the file: it loads every shared string into memory
before the first row, and walks every row element, empty or not. A 200 kB upload that
unpacks to 23 million `<row/>` elements or 3 million shared strings then costs minutes
and gigabytes (docs/benchmarks.md, "Excel import of hostile files"). This reader checks
what the zip declares before reading anything (member sizes, compression ratios, the
sheet's <dimension>, the shared strings' count), then streams the XML through expat in
small chunks and stops at the first bound passed: rows (empty ones included), cells,
shared strings, characters in a cell, and a CPU-time budget. Memory stays at one chunk
plus the cells of the kept columns.

Values come out as openpyxl's read-only mode gives them: shared/inline strings as str,
numbers as int or float, numbers in a date format as datetime, booleans as bool.
"""

from __future__ import annotations

import functools
import posixpath
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

from core.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from core.files import MB
from core.zipcheck import MAGIC, NotAZip, ZipLimits, ZipTooLarge, open_bounded

CHUNK = 64 * 1024
MAX_MEMBERS = 200
MAX_SMALL_PART = 2 * MB  # workbook.xml, its relationships, styles.xml
# A worksheet or string table deflates 5-20x; hostile padding (23 million `<row/>`)
# deflates ~700x. Small members may legitimately compress better than this.
MAX_RATIO = 100
RATIO_FLOOR = 1 * MB
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NOT_XLSX = "请上传 .xlsx 格式的 Excel 文件"
_TOO_LARGE = {"members": "包含的部件过多", "uncompressed": "解压后过大", "ratio": "压缩比异常"}


@dataclass(frozen=True)
class Limits:
    """Bounds of one read. Rows and cells include empty ones: they cost work too."""

    max_rows: int  # data rows (the header is row 1)
    max_sheet_rows: int  # last row index, empty rows included
    max_columns: int  # cells beyond this column are counted, not kept
    max_cells: int
    max_shared_strings: int
    max_uncompressed: int
    seconds: float

    @classmethod
    def for_rows(cls, max_rows: int, *, seconds: float = 30.0,
                 max_uncompressed: int = 60 * MB) -> Limits:
        return cls(
            max_rows=max_rows, max_sheet_rows=2 * max_rows + 1, max_columns=64,
            max_cells=(2 * max_rows + 1) * 64, max_shared_strings=(max_rows + 1) * 16,
            max_uncompressed=max_uncompressed, seconds=seconds,
        )


def too_many_rows(max_rows: int) -> InvalidInput:
    return InvalidInput(f"每次最多导入 {max_rows} 行（空行也计入），请删除多余的空行或分批导入",
                        code="too_many_rows")


def _too_large(what: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"Excel 文件{what}，请使用下载的模板", code="upload_too_large")


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.process_time() + seconds

    def check(self) -> None:
        if time.process_time() > self.deadline:
            raise InvalidInput("Excel 文件处理超时，请减少行数后分批导入", code="import_timeout")


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _parser() -> expat.XMLParserType:
    p = expat.ParserCreate(namespace_separator="}")

    def refuse(*_: object) -> None:
        raise UnsupportedMedia("Excel 文件含有不允许的内容", code="not_xlsx")

    # No DTDs, so no entity expansion (billion laughs) and no external entities.
    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    return p


def _feed(stream: IO[bytes], parser: expat.XMLParserType, budget: _Budget,
          after_chunk: Callable[[], None] | None = None) -> Iterator[None]:
    """Parse in chunks; yield after each so the caller can hand out what it produced."""
    try:
        while chunk := stream.read(CHUNK):
            parser.Parse(chunk, False)
            budget.check()
            if after_chunk:
                after_chunk()
            yield
        parser.Parse(b"", True)
    except expat.ExpatError:
        raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx") from None
    yield


class Workbook:
    """The zip, checked member by member before any XML is parsed."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.limits = limits
        self.budget = _Budget(limits.seconds)
        try:
            self.zf, self.sizes = open_bounded(data, ZipLimits(
                max_members=MAX_MEMBERS, max_uncompressed=limits.max_uncompressed,
                max_ratio=MAX_RATIO, ratio_floor=RATIO_FLOOR))
        except NotAZip:
            if not data.startswith(MAGIC):
                raise UnsupportedMedia(_NOT_XLSX, code="not_xlsx") from None
            raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx") from None
        except ZipTooLarge as err:
            raise _too_large(_TOO_LARGE[err.what]) from None
        if "[Content_Types].xml" not in self.sizes or "xl/workbook.xml" not in self.sizes:
            raise UnsupportedMedia(_NOT_XLSX, code="not_xlsx")

    @functools.cached_property
    def _rels(self) -> dict[str | None, tuple[str, str]]:
        """The workbook's relationships: id → (type, target)."""
        return {a.get("Id"): (a.get("Type", ""), a.get("Target", ""))
                for tag, a in self._small("xl/_rels/workbook.xml.rels")
                if tag == "Relationship"}

    def close(self) -> None:
        self.zf.close()

    def _open(self, name: str) -> IO[bytes]:
        try:
            return self.zf.open(name)
        except (KeyError, zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError):
            raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx") from None

    def _small(self, name: str) -> list[tuple[str, dict[str, str]]]:
        """The start tags (local name, attributes) of a small part."""
        info = self.sizes.get(name)
        if info is None:
            return []
        if info.file_size > MAX_SMALL_PART:
            raise _too_large("格式异常")
        tags: list[tuple[str, dict[str, str]]] = []
        p = _parser()
        p.StartElementHandler = lambda tag, attrs: tags.append((_local(tag), attrs))
        with self._open(name) as stream:
            for _ in _feed(stream, p, self.budget):
                pass
        return tags

    def _target(self, target: str) -> str:
        return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join("xl", target))

    def sheet_path(self, title: str) -> str:
        """The worksheet named `title`, else the first one."""
        sheets = [a for tag, a in self._small("xl/workbook.xml") if tag == "sheet"]
        rels = self._rels
        if not sheets:
            raise InvalidInput("Excel 中没有工作表", code="empty_import")
        chosen = next((s for s in sheets if s.get("name") == title), sheets[0])
        rid = next((v for k, v in chosen.items() if _local(k) == "id"), None)
        target = rels.get(rid, ("", ""))[1]
        if not target:
            raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx")
        path = self._target(target)
        if path not in self.sizes:
            raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx")
        return path

    def date_styles(self) -> tuple[frozenset[int], bool]:
        """Indexes of cell styles that show a date, and whether the 1904 calendar is used."""
        custom: dict[int, str] = {}
        xfs: list[int] = []
        in_cell_xfs = False
        for tag, a in self._small("xl/styles.xml"):
            if tag == "numFmt":
                try:
                    custom[int(a.get("numFmtId", ""))] = a.get("formatCode", "")
                except ValueError:
                    continue
            elif tag == "cellXfs":
                in_cell_xfs = True
            elif tag in ("cellStyles", "dxfs", "tableStyles", "cellStyleXfs"):
                in_cell_xfs = False
            elif tag == "xf" and in_cell_xfs:
                try:
                    xfs.append(int(a.get("numFmtId", "0")))
                except ValueError:
                    xfs.append(0)
        dates = frozenset(
            i for i, fmt_id in enumerate(xfs)
            if is_date_format(custom.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id, "General"))
        )
        date1904 = any(tag == "workbookPr" and a.get("date1904") in ("1", "true")
                       for tag, a in self._small("xl/workbook.xml"))
        return dates, date1904

    def check_dimension(self, path: str) -> None:
        """Refuse a sheet whose declared <dimension> passes the row bound, reading only
        the sheet's first chunk (the element comes before the rows)."""
        class _Seen(Exception):
            pass

        def start(tag: str, attrs: dict[str, str]) -> None:
            local = _local(tag)
            if local == "dimension":
                _check_dimension(attrs.get("ref", ""), self.limits)
            if local in ("dimension", "sheetData"):
                raise _Seen

        p = _parser()
        p.StartElementHandler = start
        with self._open(path) as stream:
            try:
                for _ in _feed(stream, p, self.budget):
                    break
            except _Seen:
                pass

    def shared_strings(self) -> list[str]:
        """The string table, refused as soon as it passes the bound."""
        name = next((self._target(target) for kind, target in self._rels.values()
                     if kind.endswith("/sharedStrings")), "xl/sharedStrings.xml")
        if name not in self.sizes:
            return []
        bound = self.limits.max_shared_strings
        strings: list[str] = []
        parts: list[str] = []
        state = {"depth_t": 0, "skip": 0, "chars": 0}

        def start(tag: str, attrs: dict[str, str]) -> None:
            local = _local(tag)
            if local == "sst":
                for key in ("uniqueCount", "count"):
                    value = attrs.get(key, "")
                    if key == "uniqueCount" and value.isdigit() and len(value) < 12 \
                            and int(value) > bound:
                        raise _too_large("包含的文本过多")
            elif local == "si":
                if len(strings) >= bound:
                    raise _too_large("包含的文本过多")
                parts.clear()
                state["chars"] = 0
            elif local in ("rPh", "phoneticPr"):
                state["skip"] += 1  # phonetic guides are not part of the value
            elif local == "t" and not state["skip"]:
                state["depth_t"] += 1

        def end(tag: str) -> None:
            local = _local(tag)
            if local == "si":
                strings.append("".join(parts))
            elif local in ("rPh", "phoneticPr"):
                state["skip"] -= 1
            elif local == "t" and not state["skip"] and state["depth_t"]:
                state["depth_t"] -= 1

        def text(data: str) -> None:
            if state["depth_t"]:
                state["chars"] += len(data)
                if state["chars"] > MAX_CELL_CHARS:
                    raise _too_large("单元格内容过长")
                parts.append(data)

        p = _parser()
        p.StartElementHandler = start
        p.EndElementHandler = end
        p.CharacterDataHandler = text
        with self._open(name) as stream:
            for _ in _feed(stream, p, self.budget):
                pass
        return strings

    def sheet_rows(self, title: str) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
        """The sheet of this title: its first non-empty row (the header) and an iterator
        over the rows after it. Refuses a sheet with no data."""
        path = self.sheet_path(title)
        self.check_dimension(path)
        dates, date1904 = self.date_styles()
        rows = self.rows(path, self.shared_strings(), dates, date1904)
        for _, cells in rows:
            if any(v is not None and str(v).strip() for v in cells):
                return cells, rows
        raise InvalidInput("Excel 中没有数据", code="empty_import")

    def rows(self, path: str, strings: list[str], dates: frozenset[int],
             date1904: bool) -> Iterator[tuple[int, list[Any]]]:
        """(row number, values of the first max_columns columns) for each row element.

        Empty rows are yielded too (as []), and every row element and cell counts toward
        the bounds, so padding costs the sender the bound, not us the whole file.
        """
        lim = self.limits
        epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
        done: list[tuple[int, list[Any]]] = []
        cells: dict[int, Any] = {}
        st: dict[str, Any] = {"row": 0, "col": 0, "type": "n", "style": -1, "text": None,
                              "cells": 0, "rows": 0, "chars": 0, "skip": 0}

        def start(tag: str, attrs: dict[str, str]) -> None:
            local = _local(tag)
            if local == "c":
                st["cells"] += 1
                if st["cells"] > lim.max_cells:
                    raise too_many_rows(lim.max_rows)
                ref = attrs.get("r")
                st["col"] = _column(ref) if ref else st["col"] + 1
                st["type"] = attrs.get("t", "n")
                style = attrs.get("s", "")
                st["style"] = int(style) if style.isdigit() and len(style) < 7 else -1
                st["text"] = None
            elif local in ("v", "t") and not st["skip"]:
                if st["text"] is None:
                    st["text"] = []
                    st["chars"] = 0
                st["capture"] = True
            elif local == "rPh":
                st["skip"] += 1
            elif local == "row":
                st["rows"] += 1
                ref = attrs.get("r", "")
                number = int(ref) if ref.isdigit() and len(ref) < 9 else st["row"] + 1
                if number > lim.max_sheet_rows or st["rows"] > lim.max_sheet_rows \
                        or number <= st["row"]:
                    if number <= st["row"]:
                        raise UnsupportedMedia("Excel 文件的行顺序不正确", code="not_xlsx")
                    raise too_many_rows(lim.max_rows)
                st["row"], st["col"] = number, 0
                cells.clear()
            elif local == "dimension":
                _check_dimension(attrs.get("ref", ""), lim)

        def end(tag: str) -> None:
            local = _local(tag)
            if local in ("v", "t"):
                st["capture"] = False
            elif local == "rPh":
                st["skip"] -= 1
            elif local == "c":
                if 1 <= st["col"] <= lim.max_columns and st["text"] is not None:
                    cells[st["col"]] = _value(
                        "".join(st["text"]), st["type"], st["style"], strings, dates, epoch)
            elif local == "row":
                values = [cells.get(i) for i in range(1, max(cells, default=0) + 1)]
                done.append((st["row"], values))

        def text(data: str) -> None:
            if st.get("capture"):
                st["chars"] += len(data)
                if st["chars"] > MAX_CELL_CHARS:
                    raise _too_large("单元格内容过长")
                st["text"].append(data)

        p = _parser()
        p.StartElementHandler = start
        p.EndElementHandler = end
        p.CharacterDataHandler = text
        with self._open(path) as stream:
            for _ in _feed(stream, p, self.budget):
                yield from done
                done.clear()


def _column(ref: str) -> int:
    letters = ref.rstrip("0123456789")
    if not letters or len(letters) > 3 or not letters.isalpha():
        return 0
    try:
        return column_index_from_string(letters.upper())
    except ValueError:
        return 0


def _check_dimension(ref: str, lim: Limits) -> None:
    """The sheet's declared extent (e.g. A1:F10001), refused before any row is read."""
    last = ref.rpartition(":")[2]
    digits = last.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$")
    if digits.isdigit() and len(digits) < 9 and int(digits) > lim.max_sheet_rows:
        raise too_many_rows(lim.max_rows)


def _value(raw: str, kind: str, style: int, strings: list[str], dates: frozenset[int],
           epoch: datetime) -> Any:
    if kind == "s":
        try:
            return strings[int(raw)]
        except (ValueError, IndexError):
            raise UnsupportedMedia("Excel 文件已损坏或格式不正确", code="not_xlsx") from None
    if kind == "d":
        try:
            return datetime.fromisoformat(raw.strip())
        except ValueError:
            return raw
    if kind in ("inlineStr", "str", "e"):
        return raw
    if kind == "b":
        return raw.strip() in ("1", "true")
    text = raw.strip()
    if not text:
        return None
    try:
        number: int | float = float(text) if any(ch in text for ch in ".eE") else int(text)
    except ValueError:
        return text
    if style in dates and isinstance(number, int | float) and 0 <= number < 2_958_466:
        try:
            return from_excel(number, epoch)
        except (ValueError, OverflowError):
            return number
    return number
