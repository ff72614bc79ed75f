"""Evidence: signing disclosures, evidence reports, paper-copy requests, batch exports

Revision ID: 0007_evidence
Revises: 0005_lifecycle
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_evidence'
down_revision: str | None = '0005_lifecycle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('signing_disclosures',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=True),
    sa.Column('shown_at', TS, nullable=False),
    sa.Column('shown_ip', sa.String(length=64), nullable=True),
    sa.Column('shown_user_agent', sa.String(length=300), nullable=True),
    sa.Column('last_shown_at', TS, nullable=False),
    sa.Column('shown_count', sa.Integer(), nullable=False),
    sa.Column('accepted_at', TS, nullable=True),
    sa.Column('accepted_ip', sa.String(length=64), nullable=True),
    sa.Column('accepted_user_agent', sa.String(length=300), nullable=True),
    sa.Column('accepted_contract_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_signing_disclosures_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_disclosures')),
    sa.UniqueConstraint('user_id', 'version',
                        name=op.f('uq_signing_disclosures_user_id')),
    )
    with op.batch_alter_table('signing_disclosures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_disclosures_user_id'), ['user_id'],
                              unique=False)

    op.create_table('contract_evidence_reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                            name=op.f('fk_contract_evidence_reports_contract_id_contracts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_evidence_reports')),
    sa.UniqueConstraint('contract_id', 'fingerprint',
                        name=op.f('uq_contract_evidence_reports_contract_id')),
    )
    with op.batch_alter_table('contract_evidence_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_evidence_reports_contract_id'),
                              ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_evidence_reports_sha256'), ['sha256'],
                              unique=False)

    op.create_table('paper_copy_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('requested_at', TS, nullable=False),
    sa.Column('printed_at', TS, nullable=True),
    sa.Column('stamped_at', TS, nullable=True),
    sa.Column('handed_over_at', TS, nullable=True),
    sa.Column('updated_by', sa.String(length=32), nullable=True),
    sa.Column('updated_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                            name=op.f('fk_paper_copy_requests_contract_id_contracts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_paper_copy_requests_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_copy_requests')),
    sa.UniqueConstraint('contract_id', 'user_id',
                        name=op.f('uq_paper_copy_requests_contract_id')),
    )
    with op.batch_alter_table('paper_copy_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_copy_requests_contract_id'),
                              ['contract_id'], unique=False)
        batch_op.create_index('ix_paper_copy_requests_enterprise',
                              ['enterprise_id', 'state', 'requested_at'], unique=False)

    op.create_table('evidence_exports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('contract_ids', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('finished_at', TS, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_evidence_exports_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_exports')),
    )
    with op.batch_alter_table('evidence_exports', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_exports_enterprise',
                              ['enterprise_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('evidence_exports')
    op.drop_table('paper_copy_requests')
    op.drop_table('contract_evidence_reports')
    op.drop_table('signing_disclosures')
