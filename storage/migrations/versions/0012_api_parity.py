"""Webhook endpoints that keep failing are switched off by themselves

Revision ID: 0012_api_parity
Revises: 0010_batch
Create Date: 2026-12-03 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012_api_parity'
down_revision: str | None = '0014_page_marks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.add_column(sa.Column('consecutive_failures', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('disabled_reason', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_column('disabled_at')
        batch.drop_column('disabled_reason')
        batch.drop_column('consecutive_failures')
