"""A two-signer contract produced by the real flow (send → employee signs with the SMS code →
the enterprise seals), checked by pdfsig with an NSS database trusting our root, qpdf and
openssl cms; tampered copies are rejected by our own verification. The signed PDF and the
root certificate are left in test-output/ for people to open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from core.contracts import access
from core.contracts.states import ContractState
from core.contracts.verification import verify_upload
from core.signing import service
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import company, parties, person, send_contract, sign_as
from tests.core.signing.pdfs import with_changed_page_content
from tests.interop.test_signing_interop import _check_with_tools, needs_tools

pytestmark = pytest.mark.interop


async def _flow_contract(client, deps, outbox, *, enterprise_first: bool) -> tuple[bytes, str]:
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    p = await parties(deps)
    signers = ([company(p.seal_id, order=1), person(p.employee_phone, order=2)]
               if enterprise_first else
               [person(p.employee_phone, order=1), company(p.seal_id, order=2)])
    contract_id = await send_contract(deps, p, signers)
    first, second = ((p.sealer_id, p.employee_id) if enterprise_first
                     else (p.employee_id, p.sealer_id))
    await sign_as(deps, outbox, first, contract_id)
    outcome = await sign_as(deps, outbox, second, contract_id)
    assert outcome.contract_state == ContractState.COMPLETED
    return (await access.download(deps, p.employee_id, contract_id)).data, contract_id


@needs_tools
@pytest.mark.parametrize("enterprise_first", [True, False], ids=["seal-first", "person-first"])
async def test_flow_contract_passes_independent_validators(
    client, deps, outbox, output_dir: Path, tmp_path: Path, enterprise_first: bool
) -> None:
    signed, _ = await _flow_contract(client, deps, outbox, enterprise_first=enterprise_first)
    root = service.engine(deps).ca.root_certificate().public_bytes(Encoding.PEM)
    (output_dir / "root.pem").write_bytes(root)
    label = "flow-seal-first" if enterprise_first else "flow-person-first"
    await asyncio.to_thread(_check_with_tools, signed, label, output_dir, tmp_path)

    result = await verify_upload(deps, signed)
    assert result.report.all_valid and result.registered is not None
    assert result.registered.latest
    assert all(s.timestamp_valid for s in result.report.signatures)


@needs_tools
async def test_tampered_flow_copies_are_rejected(client, deps, outbox, output_dir) -> None:
    signed, _ = await _flow_contract(client, deps, outbox, enterprise_first=True)
    at = signed.index(b"LABOUR CONTRACT")
    flipped = signed[:at] + bytes([signed[at] ^ 0x20]) + signed[at + 1:]
    appended = with_changed_page_content(signed)
    (output_dir / "flow-tampered-byte.pdf").write_bytes(flipped)
    (output_dir / "flow-tampered-update.pdf").write_bytes(appended)

    flipped_result = await verify_upload(deps, flipped)
    assert not flipped_result.report.all_valid and flipped_result.registered is None
    assert not any(s.intact for s in flipped_result.report.signatures)

    appended_result = await verify_upload(deps, appended)
    assert not appended_result.report.all_valid and appended_result.registered is None
    assert all(s.modified_after_signing and s.modification == "other"
               for s in appended_result.report.signatures)
