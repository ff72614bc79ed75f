"""Whether a signer must first fill in their template fields (乙方补全) before signing.

Read by the signing flow (core.contracts.signing) before it sends the signing code, so
nobody signs a contract whose employee fields are still blank; core.templates.sending
fills them and clears the mark.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from core.errors import Conflict
from storage.models import TemplateContract
from storage.uow import Tx


class FillRequired(Conflict):
    code = "fill_required"
    message = "请先填写合同中需要您补全的内容，再签署"


# Built once: every code request asks it.
_PENDING = select(TemplateContract.contract_id).where(
    TemplateContract.contract_id == bindparam("c"),
    TemplateContract.employee_signer_id == bindparam("s"))


async def fill_pending(tx: Tx, contract_id: str, signer_id: str) -> bool:
    found = (await tx.session.execute(_PENDING, {"c": contract_id, "s": signer_id})
             ).scalar_one_or_none()
    return found is not None
