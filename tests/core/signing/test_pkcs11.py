"""Signer keys inside a PKCS#11 token (SoftHSM2), signing through pyHanko for real."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from core.adapters.pkcs11_keys import Pkcs11KeyStore
from core.signing import service
from core.signing.pdf import FieldSpec, prepare_document, sign_document
from core.signing.samples import ENTERPRISE_BOX, sample_contract_pdf
from core.signing.verify import verify_pdf
from tests.core.signing.factories import unlocked_signer

SOFTHSM_LIBS = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
]
LIB = next((p for p in SOFTHSM_LIBS if os.path.exists(p)), None)

pytestmark = pytest.mark.skipif(
    LIB is None or shutil.which("softhsm2-util") is None,
    reason="SoftHSM2 is not installed (scripts/setup.sh test installs it)",
)


@pytest.fixture(scope="module")
def token(tmp_path_factory) -> Iterator[tuple[str, str, str]]:
    """A fresh SoftHSM2 token in a temp directory; SOFTHSM2_CONF points at it."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "laborsign-test",
         "--pin", "123456", "--so-pin", "12345678"],
        check=True, capture_output=True,
    )
    yield str(LIB), "laborsign-test", "123456"
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


async def test_enterprise_key_lives_in_the_token_and_signs(deps, token) -> None:
    lib, label, pin = token
    eng = service.engine(deps)
    eng.key_store = Pkcs11KeyStore(lib, label, pin)
    info = await service.issue_enterprise_certificate(
        deps, "ent-hsm", name="硬件密钥有限公司", credit_code="91330100MA2CXXXX0X"
    )
    async with deps.db.transaction() as tx:
        from storage.models import Certificate

        row = await tx.session.get(Certificate, info.id)
        assert row is not None and row.key_store == "pkcs11" and row.key_cipher is None

    doc = prepare_document(sample_contract_pdf(1), [FieldSpec("enterprise", 0, ENTERPRISE_BOX)])
    signer = await unlocked_signer(deps, "enterprise", "ent-hsm", doc, actor_id="hr-1")
    signed = await asyncio.to_thread(sign_document, doc, "enterprise", signer)
    report = await asyncio.to_thread(verify_pdf, signed, await service.trust_anchors(deps))
    (sig,) = report.signatures
    assert sig.problems == ["timestamp_missing"]  # signed without a TSA, otherwise valid
    assert sig.signer_name == "硬件密钥有限公司"
