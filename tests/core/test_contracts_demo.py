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


async def test_the_demo_employee_signs_with_a_handwritten_name(deps, aiohttp_server) -> None:
    from core.contracts.demo import handwritten_name_png
    from core.signatures import default_signature_png
    from core.signing.seals import normalize_signature
    from tests.factories import user_by_phone

    await start_tsa(deps, aiohttp_server)
    await seed_demo(deps, deliverers())
    employee = await user_by_phone(deps, "13800000001")
    assert employee is not None
    cfg = deps.config.signing
    drawn = handwritten_name_png("张三", font_path=cfg.font_path, font_index=cfg.font_index)
    # The name written out (seeded, so the same every run), not a scribble.
    assert await default_signature_png(deps, employee.id) == normalize_signature(drawn)
    assert drawn == handwritten_name_png("张三", font_path=cfg.font_path,
                                         font_index=cfg.font_index)
