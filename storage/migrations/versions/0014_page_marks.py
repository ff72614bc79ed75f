"""Contract page marks: the per-page verification QR (防抽页) and the cross-page seal (骑缝章)

Revision ID: 0014_page_marks
Revises: 0010_batch
Create Date: 2026-12-03 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014_page_marks'
down_revision: str | None = '0010_batch'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_qr', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('page_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('cross_seal', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.alter_column('page_qr', server_default=None)
        batch_op.alter_column('cross_seal', server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_contracts_page_token'), ['page_token'])


def downgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_contracts_page_token'), type_='unique')
        batch_op.drop_column('cross_seal')
        batch_op.drop_column('page_token')
        batch_op.drop_column('page_qr')
