"""A two-party contract signed by the engine, checked by pdfsig (NSS), qpdf and openssl.

Both signatures are timestamped by the app's own TSA over HTTP (the production path) and
carry the CA's CRLs (PAdES B-LT). Artefacts land in test-output/ for people to look at.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.reader import PdfFileReader

from core.config import Config
from core.signing import service
from core.signing.pdf import FieldSpec, SignOptions, prepare_document, sign_document
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.seals import normalize_signature, round_seal
from core.signing.timestamping import HttpTimeStamperSpec
from core.signing.verify import verify_pdf
from tests.core.signing.factories import enterprise_signer, person_signer
from tests.core.signing.pdfs import with_changed_page_content

pytestmark = pytest.mark.interop

TOOLS = ("pdfsig", "qpdf", "openssl", "certutil", "pdftoppm")
missing = [tool for tool in TOOLS if shutil.which(tool) is None]
needs_tools = pytest.mark.skipif(
    bool(missing), reason=f"missing {missing} (scripts/setup.sh test installs them)"
)


@pytest.fixture(params=["ecdsa-p256", "rsa-2048"])
def config(config: Config, request: pytest.FixtureRequest) -> Config:
    return config.replace(signing={"key_algorithm": request.param})


def _handwriting() -> bytes:
    img = Image.new("RGBA", (900, 360), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(60, 280), (180, 80), (260, 300), (380, 90), (470, 290)], fill="black", width=14)
    draw.line([(520, 200), (840, 160)], fill="black", width=12)
    out = io.BytesIO()
    img.save(out, "PNG")
    return normalize_signature(out.getvalue())


async def _two_party_contract(client, deps) -> bytes:
    tsa = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    doc = prepare_document(
        sample_contract_pdf(3),
        [FieldSpec("enterprise", 2, ENTERPRISE_BOX), FieldSpec("employee", 2, EMPLOYEE_BOX)],
    )
    seal = round_seal(
        "杭州示例劳务科技有限公司", "contract", font_path=deps.config.signing.font_path
    )
    ent = await enterprise_signer(deps, doc)
    first = await asyncio.to_thread(
        sign_document, doc, "enterprise", ent, stamp_png=seal, timestamper=tsa,
        validation=await service.validation_material(deps),
        options=SignOptions(certify=True, reason="劳动合同（用人单位）"),
    )
    emp = await person_signer(deps, first)
    return await asyncio.to_thread(
        sign_document, first, "employee", emp, stamp_png=_handwriting(), timestamper=tsa,
        validation=await service.validation_material(deps),
        options=SignOptions(reason="劳动合同（劳动者）"),
    )


def _nss_db(directory: Path, root_pem: Path) -> str:
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    subprocess.run(
        ["certutil", "-A", "-t", "CT,C,C", "-n", "laborsign-root", "-i", str(root_pem), "-d", db],
        check=True,
    )
    return db


def _signature_blocks(pdfsig_output: str) -> list[str]:
    return re.split(r"^Signature #\d+:", pdfsig_output, flags=re.M)[1:]


def _check_with_tools(signed: bytes, algo: str, output_dir: Path, tmp_path: Path) -> None:
    """pdfsig, qpdf and openssl over the signed file (blocking: run in a thread)."""
    pdf_path = output_dir / f"contract-signed-{algo}.pdf"
    pdf_path.write_bytes(signed)
    root_pem = output_dir / "root.pem"
    for page in ("1", "3"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", page, "-l", page, str(pdf_path),
             str(output_dir / f"page-{algo}")],
            check=True,
        )

    # pdfsig (poppler + NSS) trusting only our root
    nss = tmp_path / "nss"
    nss.mkdir()
    db = _nss_db(nss, root_pem)
    result = subprocess.run(
        ["pdfsig", "-nssdir", db, str(pdf_path)], capture_output=True, text=True, check=False
    )
    blocks = _signature_blocks(result.stdout)
    assert len(blocks) == 2, result.stdout
    for block in blocks:
        assert "Signature is Valid." in block, block
        assert "Certificate is Trusted." in block, block
    assert "Total document signed" in blocks[-1]

    # qpdf's structural check
    assert subprocess.run(["qpdf", "--check", str(pdf_path)], capture_output=True).returncode == 0

    # openssl: each CMS verifies over exactly the bytes its ByteRange names
    reader = PdfFileReader(io.BytesIO(signed))
    for i, sig in enumerate(reader.embedded_signatures):
        a, b, c, d = (int(v) for v in sig.sig_object["/ByteRange"])
        content = tmp_path / f"content-{i}.bin"
        content.write_bytes(signed[a : a + b] + signed[c : c + d])
        cms = tmp_path / f"sig-{i}.der"
        cms.write_bytes(sig.pkcs7_content)
        check = subprocess.run(
            ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(cms), "-binary",
             "-content", str(content), "-CAfile", str(root_pem), "-purpose", "any",
             "-out", "/dev/null"],
            capture_output=True, text=True, check=False,
        )
        assert check.returncode == 0, check.stderr
        assert "Verification successful" in check.stderr


@needs_tools
async def test_two_party_contract_passes_independent_validators(
    client, deps, output_dir: Path, tmp_path: Path
) -> None:
    signed = await _two_party_contract(client, deps)
    root = service.engine(deps).ca.root_certificate().public_bytes(Encoding.PEM)
    (output_dir / "root.pem").write_bytes(root)
    algo = deps.config.signing.key_algorithm
    await asyncio.to_thread(_check_with_tools, signed, algo, output_dir, tmp_path)

    # and our own verification agrees
    report = await asyncio.to_thread(verify_pdf, signed, await service.trust_anchors(deps))
    assert report.all_valid
    ent, emp = report.signatures
    assert ent.certification and ent.modification == "signatures"
    assert emp.covers_whole_document and emp.signer_name == "张三"
    assert ent.timestamp_authority == emp.timestamp_authority == (
        "LaborSign Time Stamping Authority"
    )
    assert ent.timestamp_valid and emp.timestamp_valid


@needs_tools
async def test_byte_flip_inside_a_signed_range_breaks_integrity(client, deps, output_dir) -> None:
    signed = await _two_party_contract(client, deps)
    at = signed.index(b"LABOUR CONTRACT")
    tampered = signed[:at] + b"X" + signed[at + 1 :]
    (output_dir / "tampered-byte.pdf").write_bytes(tampered)
    report = await asyncio.to_thread(verify_pdf, tampered, await service.trust_anchors(deps))
    assert report.signatures and not any(s.intact for s in report.signatures)
    assert not report.all_valid


@needs_tools
async def test_appended_page_change_is_reported_as_modification(client, deps, output_dir) -> None:
    tampered = with_changed_page_content(await _two_party_contract(client, deps))
    (output_dir / "tampered-update.pdf").write_bytes(tampered)
    report = await asyncio.to_thread(verify_pdf, tampered, await service.trust_anchors(deps))
    assert all(s.intact for s in report.signatures)
    assert all(s.modified_after_signing and s.modification == "other" for s in report.signatures)
    assert not report.all_valid
