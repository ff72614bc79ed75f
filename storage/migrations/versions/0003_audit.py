"""Audit chains per enterprise

The single `audit_head` row, locked by every audited write, serialised all tenants.
Entries now carry their chain (the enterprise id, or "" for platform events) and their
position in it; `audit_chains` holds one head per chain. The global `seq` stays as the
storage order and is assigned by the database. Existing entries become the platform
chain "" with their positions unchanged, so their hashes still verify.

Revision ID: 0003_audit
Revises: 0002
Create Date: 2026-12-03 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_audit'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('audit_chains',
    sa.Column('chain', sa.String(length=32), nullable=False),
    sa.Column('seq', SEQ, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chains'))
    )
    op.execute("INSERT INTO audit_chains (chain, seq, hash) SELECT '', seq, hash FROM audit_head")
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=32), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('chain_seq', SEQ, nullable=True))
    op.execute("UPDATE audit_log SET chain_seq = seq")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('chain', server_default=None)
        batch_op.alter_column('chain_seq', existing_type=SEQ, nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_chain'), ['chain', 'chain_seq'])
    if op.get_bind().dialect.name == 'postgresql':
        # What BIGSERIAL would have made: the database numbers new entries.
        op.execute("CREATE SEQUENCE audit_log_seq_seq OWNED BY audit_log.seq")
        op.execute("SELECT setval('audit_log_seq_seq', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false)")
        op.execute("ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq_seq')")


def downgrade() -> None:
    # Only a log with the platform chain alone goes back to one global chain intact.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE audit_log ALTER COLUMN seq DROP DEFAULT")
        op.execute("DROP SEQUENCE audit_log_seq_seq")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_chain'), type_='unique')
        batch_op.drop_column('chain_seq')
        batch_op.drop_column('chain')
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', SEQ, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit_chains WHERE chain = ''")
    op.drop_table('audit_chains')
