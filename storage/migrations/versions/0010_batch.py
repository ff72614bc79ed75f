"""Batch sending, multi-document sign tasks, the onboarding QR's template

Revision ID: 0010_batch
Revises: 0008_templates
Create Date: 2026-12-03 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010_batch'
down_revision: str | None = '0009_ledger'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('contract_batches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('version_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('template_name', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seal_id', sa.String(length=32), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('error_rows', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['template_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_contract_batches_enterprise_created', 'contract_batches',
                    ['enterprise_id', 'created_at'], unique=False)
    op.create_table('contract_batch_rows',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=32), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('employee_id', sa.String(length=32), nullable=True),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=True),
    sa.Column('signer_id', sa.String(length=32), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['contract_batches.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'row_no', name='uq_contract_batch_rows_row')
    )
    op.create_index('ix_contract_batch_rows_state', 'contract_batch_rows',
                    ['batch_id', 'state'], unique=False)
    op.create_index(op.f('ix_contract_batch_rows_contract_id'), 'contract_batch_rows',
                    ['contract_id'], unique=False)
    op.create_table('sign_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sign_tasks_enterprise_created', 'sign_tasks',
                    ['enterprise_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_sign_tasks_phone'), 'sign_tasks', ['phone'], unique=False)
    op.create_table('sign_task_items',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['sign_tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'contract_id')
    )
    op.create_table('onboarding_templates',
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('set_by', sa.String(length=32), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enterprise_id')
    )


def downgrade() -> None:
    op.drop_table('onboarding_templates')
    op.drop_table('sign_task_items')
    op.drop_index(op.f('ix_sign_tasks_phone'), table_name='sign_tasks')
    op.drop_index('ix_sign_tasks_enterprise_created', table_name='sign_tasks')
    op.drop_table('sign_tasks')
    op.drop_index(op.f('ix_contract_batch_rows_contract_id'), table_name='contract_batch_rows')
    op.drop_index('ix_contract_batch_rows_state', table_name='contract_batch_rows')
    op.drop_table('contract_batch_rows')
    op.drop_index('ix_contract_batches_enterprise_created', table_name='contract_batches')
    op.drop_table('contract_batches')
