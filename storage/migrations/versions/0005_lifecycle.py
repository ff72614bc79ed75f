"""Contract lifecycle: urging, automatic reminders, deadline notices

`contract_signers.last_urged_at` / `urge_count`: the last urge (催办) of a signer, claimed
by a conditional UPDATE so the ten-hour limit holds across processes.
`contracts.reminders_sent` / `next_reminder_at` / `due_notice_at`: the reminder schedule
and the "due tomorrow" notice, found by the periodic sweep through their indexes.
`enterprises.reminder_*`: the schedule an enterprise sets (NULL: off).

Revision ID: 0005_lifecycle
Revises: 0004_jobs
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_lifecycle'
down_revision: str | None = '0008_templates'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contract_signers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_urged_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('urge_count', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminders_sent', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('next_reminder_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('due_notice_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_contracts_state_deadline', ['state', 'deadline'],
                              unique=False)
        batch_op.create_index('ix_contracts_state_reminder', ['state', 'next_reminder_at'],
                              unique=False)
        batch_op.create_index('ix_contracts_state_due_notice', ['state', 'due_notice_at'],
                              unique=False)
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_first_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reminder_every_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reminder_max', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.drop_column('reminder_max')
        batch_op.drop_column('reminder_every_days')
        batch_op.drop_column('reminder_first_days')
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_state_due_notice')
        batch_op.drop_index('ix_contracts_state_reminder')
        batch_op.drop_index('ix_contracts_state_deadline')
        batch_op.drop_column('due_notice_at')
        batch_op.drop_column('next_reminder_at')
        batch_op.drop_column('reminders_sent')
    with op.batch_alter_table('contract_signers', schema=None) as batch_op:
        batch_op.drop_column('urge_count')
        batch_op.drop_column('last_urged_at')
