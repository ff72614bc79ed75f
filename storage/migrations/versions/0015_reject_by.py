"""Who may refuse to sign a contract (拒签), chosen when it is sent

Revision ID: 0015_reject_by
Revises: 0011_paper_archive
Create Date: 2026-12-03 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015_reject_by'
down_revision: str | None = '0011_paper_archive'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Contracts sent before keep what they had: every signer may refuse.
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reject_by', sa.String(length=12), nullable=False,
                                      server_default='all'))


def downgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_column('reject_by')
