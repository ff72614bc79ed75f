"""Local file store: uploaded files kept under one directory, addressed by opaque keys.

Keys are generated here (random hex + a fixed extension), never taken from the user,
so no path can escape the directory.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

KEY_RE = re.compile(r"^[a-z_]{1,20}/[0-9a-f]{32}\.[a-z]{2,4}$")


def new_key(area: str, ext: str) -> str:
    """A fresh key: 128 random bits, so keys can be neither guessed nor enumerated."""
    key = f"{area}/{secrets.token_hex(16)}.{ext}"
    if not KEY_RE.match(key):
        raise KeyError(key)
    return key


def check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise KeyError(key)
    return key


class LocalFileStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, area: str, data: bytes, ext: str) -> str:
        key = new_key(area, ext)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except KeyError:
            return False

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
