"""Paper archive: archived paper contracts, archive batches, archive numbers

Revision ID: 0011_paper_archive
Revises: 0010_batch
Create Date: 2026-12-03 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011_paper_archive'
down_revision: str | None = '0012_api_parity'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ARCHIVE = 'contracts.archive'


def upgrade() -> None:
    op.create_table('paper_archives',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('batch_id', sa.String(length=32), nullable=True),
    sa.Column('employee_name', sa.String(length=40), nullable=False),
    sa.Column('employee_phone', sa.String(length=20), nullable=False),
    sa.Column('employee_id', sa.String(length=32), nullable=True),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=True),
    sa.Column('end_on', sa.Date(), nullable=True),
    sa.Column('remarks', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('archived_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'],
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract_id'),
    )
    op.create_index('ix_paper_archives_enterprise_created', 'paper_archives',
                    ['enterprise_id', 'created_at'], unique=False)
    op.create_index('ix_paper_archives_batch', 'paper_archives', ['batch_id'], unique=False)
    op.create_table('paper_archive_batches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('zip_name', sa.String(length=200), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('error_rows', sa.Integer(), nullable=False),
    sa.Column('archived', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'],
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_paper_archive_batches_enterprise', 'paper_archive_batches',
                    ['enterprise_id', 'created_at'], unique=False)
    op.create_table('paper_archive_number_counters',
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('enterprise_id', 'day'),
    )
    # The built-in HR role of existing enterprises may archive, as new ones' does.
    roles = sa.table('enterprise_roles', sa.column('id', sa.String),
                     sa.column('builtin', sa.String), sa.column('permissions', sa.JSON))
    bind = op.get_bind()
    for role_id, perms in bind.execute(
            sa.select(roles.c.id, roles.c.permissions).where(
                roles.c.builtin.in_(('hr', 'admin', 'main_admin')))).all():
        if ARCHIVE not in (perms or []):
            bind.execute(roles.update().where(roles.c.id == role_id)
                         .values(permissions=sorted([*(perms or []), ARCHIVE])))


def downgrade() -> None:
    op.drop_table('paper_archive_number_counters')
    op.drop_index('ix_paper_archive_batches_enterprise', table_name='paper_archive_batches')
    op.drop_table('paper_archive_batches')
    op.drop_index('ix_paper_archives_batch', table_name='paper_archives')
    op.drop_index('ix_paper_archives_enterprise_created', table_name='paper_archives')
    op.drop_table('paper_archives')

