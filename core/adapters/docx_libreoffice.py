"""Word (.docx) to PDF with LibreOffice, as a separate, short-lived, contained process.

Each conversion runs `soffice --headless --convert-to pdf` on a copy of the upload in its
own fresh temporary directory, which also holds a fresh LibreOffice profile
(`-env:UserInstallation=file:///…`), so conversions share nothing with each other or with
a desktop LibreOffice of the same user, and everything is deleted afterwards.

Containment:
- time: killed, with its whole process group (oosplash, soffice.bin), after
  `[templates] convert_timeout_seconds`; also when the request is cancelled;
- CPU: `nice -n [templates] convert_nice`; at most `convert_concurrency` conversions per
  process, later ones wait (up to the timeout) and are then refused as busy;
- never on the event loop: an asyncio subprocess, file I/O in a worker thread;
- macros: a headless convert never runs document macros (LibreOffice only runs them on
  an interactive load after the user allows it); the profile also sets the macro
  security level to "very high" and disables macro execution, and the caller refuses
  a package that carries a VBA project at all;
- network: when the kernel lets us (`unshare --net --map-root-user`, probed once), the
  process runs in a network namespace with no interfaces; in every case the profile sends
  LibreOffice's own HTTP/HTTPS/FTP fetches (linked images, remote templates) to a closed
  local port and blocks untrusted referer links, and the proxy variables point there too;
- output: a PDF larger than `max_output_bytes` is refused; the caller then checks it as
  any uploaded PDF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from core.ports import (
    ConversionFailed,
    ConversionTimedOut,
    ConverterBusy,
    ConverterUnavailable,
)

log = logging.getLogger(__name__)

# ooInetProxyType 2 is "manual". Nothing listens on the discard port of loopback, so
# every fetch through it fails at once.
_DEAD_PROXY_HOST, _DEAD_PROXY_PORT = "127.0.0.1", 9

_INET = "/org.openoffice.Inet/Settings"
_SCRIPTING = "/org.openoffice.Office.Common/Security/Scripting"
_SETTINGS: tuple[tuple[str, str, object], ...] = (
    (_INET, "ooInetProxyType", 2),
    (_INET, "ooInetHTTPProxyName", _DEAD_PROXY_HOST),
    (_INET, "ooInetHTTPProxyPort", _DEAD_PROXY_PORT),
    (_INET, "ooInetHTTPSProxyName", _DEAD_PROXY_HOST),
    (_INET, "ooInetHTTPSProxyPort", _DEAD_PROXY_PORT),
    (_INET, "ooInetFTPProxyName", _DEAD_PROXY_HOST),
    (_INET, "ooInetFTPProxyPort", _DEAD_PROXY_PORT),
    (_INET, "ooInetNoProxy", ""),
    (_SCRIPTING, "MacroSecurityLevel", 3),
    (_SCRIPTING, "DisableMacrosExecution", "true"),
    (_SCRIPTING, "BlockUntrustedRefererLinks", "true"),
)
_REGISTRY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<oor:items xmlns:oor="http://openoffice.org/2001/registry"'
    ' xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    + "".join(f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse">'
              f"<value>{value}</value></prop></item>\n" for path, name, value in _SETTINGS)
    + "</oor:items>\n"
)


def _prepare(work: Path, data: bytes) -> None:
    (work / "profile" / "user").mkdir(parents=True)
    (work / "profile" / "user" / "registrymodifications.xcu").write_text(_REGISTRY, "utf-8")
    (work / "out").mkdir()
    (work / "document.docx").write_bytes(data)


def _read_output(path: Path, limit: int) -> bytes | None:
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return f.read(limit + 1)


class LibreOfficeConverter:
    name = "libreoffice"

    def __init__(self, soffice: str, *, timeout_seconds: float, concurrency: int = 1,
                 nice: int = 10, max_output_bytes: int = 10 * 1024 * 1024,
                 work_dir: str | None = None) -> None:
        self.soffice = soffice
        self.timeout = timeout_seconds
        self.nice = nice
        self.max_output_bytes = max_output_bytes
        # Where each conversion's temporary directory is made (None: the system's).
        self.work_dir = work_dir
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._netns: bool | None = None

    @staticmethod
    def find(soffice: str) -> str | None:
        """The program's path, or None when it is not installed here."""
        return shutil.which(soffice)

    async def _isolation_prefix(self) -> list[str]:
        """`unshare --net --map-root-user` when this kernel allows it (probed once)."""
        unshare = shutil.which("unshare")
        if unshare is None:
            return []
        if self._netns is None:
            try:
                probe = await asyncio.create_subprocess_exec(
                    unshare, "--net", "--map-root-user", "true",
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                self._netns = await asyncio.wait_for(probe.wait(), 5) == 0
            except (OSError, TimeoutError):
                self._netns = False
            if not self._netns:
                log.info("no network namespace for the document converter; "
                         "its fetches are sent to a closed local port instead")
        return [unshare, "--net", "--map-root-user"] if self._netns else []

    async def docx_to_pdf(self, data: bytes) -> bytes:
        program = self.find(self.soffice)
        if program is None:
            raise ConverterUnavailable(self.soffice)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except TimeoutError:
            raise ConverterBusy() from None
        try:
            return await self._convert(program, data)
        finally:
            self._slots.release()

    async def _convert(self, program: str, data: bytes) -> bytes:
        work = Path(await asyncio.to_thread(
            tempfile.mkdtemp, prefix="laborsign-soffice-", dir=self.work_dir))
        try:
            await asyncio.to_thread(_prepare, work, data)
            nice = shutil.which("nice")
            argv = [*await self._isolation_prefix(),
                    *([nice, "-n", str(self.nice)] if nice and self.nice else []),
                    program, f"-env:UserInstallation={(work / 'profile').as_uri()}",
                    "--headless", "--invisible", "--nologo", "--norestore", "--nolockcheck",
                    "--nodefault", "--convert-to", "pdf:writer_pdf_Export",
                    "--outdir", str(work / "out"), str(work / "document.docx")]
            proxy = f"http://{_DEAD_PROXY_HOST}:{_DEAD_PROXY_PORT}"
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
                   "TMPDIR": str(work), "LANG": "C.UTF-8", "SAL_USE_VCLPLUGIN": "svp",
                   "http_proxy": proxy, "https_proxy": proxy, "ftp_proxy": proxy,
                   "all_proxy": proxy, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
                   "no_proxy": "", "NO_PROXY": ""}
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=str(work), env=env, start_new_session=True,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
            except OSError as err:
                raise ConverterUnavailable(str(err)) from None
            try:
                code = await asyncio.wait_for(proc.wait(), self.timeout)
            except TimeoutError:
                log.warning("document conversion killed after %.1f s", self.timeout)
                raise ConversionTimedOut() from None
            finally:
                # The whole group: soffice is a launcher, soffice.bin does the work.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        await proc.wait()
            pdf = await asyncio.to_thread(_read_output, work / "out" / "document.pdf",
                                          self.max_output_bytes)
            if code != 0 or not pdf:
                log.info("document conversion produced no PDF (exit %s)", code)
                raise ConversionFailed()
            return pdf
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
