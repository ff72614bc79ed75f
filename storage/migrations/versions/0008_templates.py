"""Contract templates: drafts, published versions, and each contract's template version

Revision ID: 0008_templates
Revises: 0004_jobs
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008_templates'
down_revision: str | None = '0006_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('templates',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('business_type', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('page_sizes', sa.JSON(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('published_version', sa.Integer(), nullable=False),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'],
                            name=op.f('fk_templates_enterprise_id_enterprises'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates'))
    )
    op.create_index('ix_templates_enterprise_updated', 'templates',
                    ['enterprise_id', 'updated_at'], unique=False)
    op.create_table('template_versions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('business_type', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('page_sizes', sa.JSON(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('law_check', sa.JSON(), nullable=True),
    sa.Column('published_by', sa.String(length=32), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'],
                            name=op.f('fk_template_versions_template_id_templates'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_versions')),
    sa.UniqueConstraint('template_id', 'version',
                        name=op.f('uq_template_versions_template_id'))
    )
    op.create_index(op.f('ix_template_versions_template_id'), 'template_versions',
                    ['template_id'], unique=False)
    op.create_table('template_contracts',
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('version_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('employee_fields', sa.JSON(), nullable=False),
    sa.Column('employee_signer_id', sa.String(length=32), nullable=True),
    sa.Column('employee_filled_at', sa.DateTime(timezone=True),
              nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                            name=op.f('fk_template_contracts_contract_id_contracts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['template_versions.id'],
                            name=op.f('fk_template_contracts_version_id_template_versions')),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_template_contracts'))
    )
    op.create_index(op.f('ix_template_contracts_template_id'), 'template_contracts',
                    ['template_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_template_contracts_template_id'), table_name='template_contracts')
    op.drop_table('template_contracts')
    op.drop_index(op.f('ix_template_versions_template_id'), table_name='template_versions')
    op.drop_table('template_versions')
    op.drop_index('ix_templates_enterprise_updated', table_name='templates')
    op.drop_table('templates')
