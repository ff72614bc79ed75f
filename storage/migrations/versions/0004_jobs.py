"""Jobs on named queues; periodic tasks run once across processes

`outbox.queue` names the queue a job runs on (each queue has its own runner and
concurrency, so a code SMS never waits behind bulk work). Idempotency keys are unique
per kind instead of across all kinds. `periodic_runs` holds when each periodic task is
next due.

Revision ID: 0004_jobs
Revises: 0003_audit
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_jobs'
down_revision: str | None = '0003_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue', sa.String(length=20), nullable=False,
                                      server_default='bulk'))
        batch_op.alter_column('dedupe_key', existing_type=sa.String(length=128),
                              type_=sa.String(length=160))
        batch_op.drop_constraint('uq_outbox_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_outbox_kind_dedupe_key', ['kind', 'dedupe_key'])
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.create_index('ix_outbox_queue_status_next',
                              ['queue', 'status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('queue', server_default=None)
    op.create_table('periodic_runs',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_runs'))
    )


def downgrade() -> None:
    op.drop_table('periodic_runs')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_queue_status_next')
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'],
                              unique=False)
        batch_op.drop_constraint('uq_outbox_kind_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_outbox_dedupe_key', ['dedupe_key'])
        batch_op.alter_column('dedupe_key', existing_type=sa.String(length=160),
                              type_=sa.String(length=128))
        batch_op.drop_column('queue')
