"""Abandoned batch drafts: an upload that was checked and previewed but never confirmed
keeps the names, phones and ID numbers of its rows (and, for a paper-archive batch, the
scans). They are discarded after `DRAFT_KEEP` (the preview pages say so), a bounded
number per run so one sweep never holds SQLite's write turn for long; each discard is an
audit entry of its enterprise.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from core.context import Deps
from core.contracts import archive_batch
from core.enterprise.common import log
from storage.models import BatchRow, ContractBatch

DRAFT_KEEP = timedelta(days=7)
PER_RUN = 100


async def discard_abandoned(deps: Deps) -> int:
    """Delete sending and archive drafts older than DRAFT_KEEP; the number deleted."""
    return (await _discard_sending_drafts(deps)
            + await archive_batch.discard_abandoned(deps, DRAFT_KEEP, PER_RUN))


async def _discard_sending_drafts(deps: Deps) -> int:
    cutoff = deps.clock.now() - DRAFT_KEEP
    async with deps.db.transaction() as tx:
        drafts = (await tx.session.execute(
            select(ContractBatch.id, ContractBatch.enterprise_id, ContractBatch.total,
                   ContractBatch.created_at)
            .where(ContractBatch.state == "draft", ContractBatch.created_at < cutoff)
            .order_by(ContractBatch.created_at).limit(PER_RUN)
            # Held until commit: a confirmation of the same draft waits, then finds it gone.
            .with_for_update(skip_locked=True))).all()
        if not drafts:
            return 0
        ids = [d.id for d in drafts]
        await tx.session.execute(delete(BatchRow).where(BatchRow.batch_id.in_(ids)))
        await tx.session.execute(delete(ContractBatch).where(ContractBatch.id.in_(ids)))
        for d in drafts:
            await log(tx, deps, "batch.draft_discarded", actor_id=None,
                      enterprise_id=d.enterprise_id, subject_type="contract_batch",
                      subject_id=d.id,
                      data={"rows": d.total, "drafted_at": d.created_at.isoformat(),
                            "kept_days": DRAFT_KEEP.days})
        return len(drafts)
