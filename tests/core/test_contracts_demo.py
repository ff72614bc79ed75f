"""`laborsign demo` leaves a certified enterprise and a signed, timestamped sample contract."""

from __future__ import annotations

from core.contracts.verification import verify_upload
from core.demo import seed_demo
from handlers.app import deliverers
from tests.contract_support import start_tsa


async def test_demo_leaves_a_signed_sample_and_the_root(deps, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    lines = await seed_demo(deps, deliverers())
    pdf = deps.config.var_dir / "demo" / "sample-contract-signed.pdf"
    root = deps.config.var_dir / "demo" / "laborsign-root.pem"
    assert any(str(pdf) in line for line in lines) and any(str(root) in line for line in lines)
    assert root.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    result = await verify_upload(deps, pdf.read_bytes())
    assert result.report.all_valid
    assert [s.signer_name for s in result.report.signatures] == ["张三", "杭州示例劳务科技有限公司"]
    assert all(s.timestamp_valid for s in result.report.signatures)
    assert result.registered is not None and result.registered.contract_state == "completed"

    again = await seed_demo(deps, deliverers())  # a second run reuses what is there
    assert again[-3:] == lines[-3:]
