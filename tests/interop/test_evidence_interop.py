"""The evidence report and package checked by tools that do not trust our code: pdfsig
accepts the report's platform signature, the README's own `openssl ts -verify` commands
pass on the package's timestamp tokens (and fail on a tampered signature value), and the
hashes in the package match the PDF. The report's pages are rendered to PNG in
test-output/ for people to look at."""

from __future__ import annotations

import asyncio
import hashlib
import io
import shlex
import subprocess
import zipfile
from pathlib import Path

import pytest

from core.contracts import evidence, trail
from core.contracts.states import ContractState
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import parties, send_contract, sign_as
from tests.interop.test_signing_interop import _nss_db, _signature_blocks, needs_tools

pytestmark = pytest.mark.interop


def _check_package(data: bytes, out: Path, tmp: Path) -> dict[str, str]:
    """Unpack, run the README's commands, pdfsig both PDFs; blocking (run in a thread)."""
    pkg = tmp / "pkg"
    zipfile.ZipFile(io.BytesIO(data)).extractall(pkg)
    results: dict[str, str] = {}
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pkg, capture_output=True,
                          text=True, check=False)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    readme = (pkg / "README.txt").read_text()
    commands = [line.strip() for line in readme.splitlines()
                if line.strip().startswith("openssl ts -verify")]
    assert len(commands) >= 2, readme
    for command in commands:
        run = subprocess.run(shlex.split(command), cwd=pkg, capture_output=True, text=True,
                             check=False)
        assert run.returncode == 0 and "Verification: OK" in run.stdout, (
            command, run.stdout, run.stderr)
    # A signature value that was not the one timestamped fails the same command.
    sig = pkg / "timestamps" / "1.sig"
    value = bytearray(sig.read_bytes())
    value[10] ^= 0x01
    sig.write_bytes(bytes(value))
    bad = subprocess.run(shlex.split(commands[0]), cwd=pkg, capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 or "Verification: OK" not in bad.stdout

    nss = tmp / "nss"
    nss.mkdir()
    db = _nss_db(nss, pkg / "certs" / "root.pem")
    for name in ("evidence-report.pdf", "contract.pdf"):
        result = subprocess.run(["pdfsig", "-nssdir", db, str(pkg / name)],
                                capture_output=True, text=True, check=False)
        blocks = _signature_blocks(result.stdout)
        assert blocks, result.stdout
        for block in blocks:
            assert "Signature is Valid." in block, block
            assert "Certificate is Trusted." in block, block
        assert "Total document signed" in blocks[-1]
        results[name] = result.stdout
    report = pkg / "evidence-report.pdf"
    (out / "evidence-report.pdf").write_bytes(report.read_bytes())
    (out / "evidence-package.zip").write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(report), str(out / "evidence-report")],
                   check=True)
    assert subprocess.run(["qpdf", "--check", str(report)], capture_output=True).returncode == 0
    return results


@needs_tools
async def test_report_and_package_pass_independent_tools(
    client, deps, outbox, output_dir: Path, tmp_path: Path
) -> None:
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    p = await parties(deps)
    contract_id = await send_contract(deps, p)
    await sign_as(deps, outbox, p.employee_id, contract_id)
    outcome = await sign_as(deps, outbox, p.sealer_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED

    pkg = await evidence.package(deps, p.employee_id, contract_id)
    results = await asyncio.to_thread(_check_package, pkg.data, output_dir, tmp_path)
    assert "LaborSign" in results["evidence-report.pdf"]
    assert len(_signature_blocks(results["contract.pdf"])) == 2

    zf = zipfile.ZipFile(io.BytesIO(pkg.data))
    t = await trail.load_trail(deps, p.employee_id, contract_id)
    assert hashlib.sha256(zf.read("contract.pdf")).hexdigest() == t.document_sha256
    assert await asyncio.to_thread(lambda: list(output_dir.glob("evidence-report-*.png")))
