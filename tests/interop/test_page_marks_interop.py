"""A contract sent with 防抽页 and 骑缝章, sealed by the enterprise then signed by the
employee through the real flow: pdfsig (trusting only our root), qpdf and our verifier
accept it. The file and its rendered pages are left in test-output/ to look at."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from core.contracts import access, send
from core.contracts.states import ContractState
from core.contracts.verification import verify_upload
from core.signing import service
from core.signing.samples import sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import META, company, parties, person, sign_as
from tests.interop.test_signing_interop import _check_with_tools, needs_tools

pytestmark = pytest.mark.interop


@needs_tools
async def test_contract_with_page_qr_and_cross_seal_passes_independent_validators(
    client, deps, outbox, output_dir: Path, tmp_path: Path
) -> None:
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    p = await parties(deps)
    contract_id = await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="劳动合同（防抽页 骑缝章）",
        filename="c.pdf", pdf=sample_contract_pdf(4),
        signers=[company(p.seal_id, order=1, page=3), person(p.employee_phone, order=2,
                                                             page=3)],
        meta=META, options=send.Options(page_qr=True, cross_seal=True))
    await sign_as(deps, outbox, p.sealer_id, contract_id)
    outcome = await sign_as(deps, outbox, p.employee_id, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED
    signed = (await access.download(deps, p.employee_id, contract_id)).data

    root = service.engine(deps).ca.root_certificate().public_bytes(Encoding.PEM)
    (output_dir / "root.pem").write_bytes(root)
    await asyncio.to_thread(_check_with_tools, signed, "page-marks", output_dir, tmp_path)
    pdf_path = output_dir / "contract-signed-page-marks.pdf"
    await asyncio.to_thread(subprocess.run, ["pdftoppm", "-png", "-r", "50", str(pdf_path),
                                             str(output_dir / "page-marks")], check=True)
    rendered = await asyncio.to_thread(lambda: list(output_dir.glob("page-marks-*.png")))
    assert len(rendered) == 4

    result = await verify_upload(deps, signed)
    assert result.report.verdict == "valid" and result.registered is not None
    assert result.registered.latest
