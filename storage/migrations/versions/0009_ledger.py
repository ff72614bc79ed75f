"""The enterprise contract ledger: contract numbers, business types, confidential, cc

`contracts` gains `number` (HT + Beijing date + the enterprise's sequence of that day,
unique per enterprise), `business_type_id` and `confidential`; `contract_ccs` holds who a
contract is copied to (抄送); `contract_number_counters` the last number per enterprise
and day. Existing enterprises get the default business types they lack; existing
contracts become 劳动合同 and are numbered in the order they were made.

Revision ID: 0009_ledger
Revises: 0005_lifecycle
Create Date: 2026-12-03 18:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0009_ledger'
down_revision: str | None = '0007_evidence'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TYPES = ('劳动合同', '劳务派遣合同', '保密协议', '实习协议', '劳务合同', '其他')
BEIJING = timedelta(hours=8)


def _backfill() -> None:
    conn = op.get_bind()
    types = sa.table('business_types', sa.column('id', sa.String), sa.column('enterprise_id', sa.String),
                     sa.column('name', sa.String), sa.column('created_at', sa.DateTime(timezone=True)))
    contracts = sa.table('contracts', sa.column('id', sa.String),
                         sa.column('enterprise_id', sa.String),
                         sa.column('created_at', sa.DateTime(timezone=True)),
                         sa.column('number', sa.String),
                         sa.column('business_type_id', sa.String))
    counters = sa.table('contract_number_counters', sa.column('enterprise_id', sa.String),
                        sa.column('day', sa.String), sa.column('last', sa.Integer))
    have: dict[str, dict[str, str]] = {}
    for tid, ent, name in conn.execute(sa.select(types.c.id, types.c.enterprise_id, types.c.name)):
        have.setdefault(ent, {})[name] = tid
    now = datetime.now(UTC)
    for ent, names in have.items():
        for name in DEFAULT_TYPES:
            if name not in names:
                tid = uuid.uuid4().hex
                conn.execute(types.insert().values(id=tid, enterprise_id=ent, name=name,
                                                   created_at=now))
                names[name] = tid
    last: dict[tuple[str, str], int] = {}
    rows = conn.execute(sa.select(contracts.c.id, contracts.c.enterprise_id,
                                  contracts.c.created_at)
                        .order_by(contracts.c.enterprise_id, contracts.c.created_at,
                                  contracts.c.id)).all()
    for cid, ent, created in rows:
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        day = (created.astimezone(UTC) + BEIJING).strftime('%Y%m%d')
        seq = last.get((ent, day), 0) + 1
        last[(ent, day)] = seq
        conn.execute(contracts.update().where(contracts.c.id == cid).values(
            number=f'HT{day}{seq:04d}',
            business_type_id=have.get(ent, {}).get('劳动合同')))
    for (ent, day), seq in last.items():
        conn.execute(counters.insert().values(enterprise_id=ent, day=day, last=seq))


def upgrade() -> None:
    op.create_table('contract_number_counters',
    sa.Column('enterprise_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('enterprise_id', 'day', name=op.f('pk_contract_number_counters'))
    )
    op.create_table('contract_ccs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('member_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_contract_ccs_contract_id_contracts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_contract_ccs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_ccs')),
    sa.UniqueConstraint('contract_id', 'phone', name=op.f('uq_contract_ccs_contract_id'))
    )
    with op.batch_alter_table('contract_ccs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_ccs_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_contract_ccs_phone', ['phone'], unique=False)
        batch_op.create_index('ix_contract_ccs_user', ['user_id'], unique=False)

    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('business_type_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('confidential', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_contracts_enterprise_sent', ['enterprise_id', 'sent_at'], unique=False)
        batch_op.create_index('ix_contracts_enterprise_type', ['enterprise_id', 'business_type_id'], unique=False)
    _backfill()
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.alter_column('confidential', server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_contracts_enterprise_id'), ['enterprise_id', 'number'])


def downgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_contracts_enterprise_id'), type_='unique')
        batch_op.drop_index('ix_contracts_enterprise_type')
        batch_op.drop_index('ix_contracts_enterprise_sent')
        batch_op.drop_column('confidential')
        batch_op.drop_column('business_type_id')
        batch_op.drop_column('number')

    with op.batch_alter_table('contract_ccs', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_ccs_user')
        batch_op.drop_index('ix_contract_ccs_phone')
        batch_op.drop_index(batch_op.f('ix_contract_ccs_contract_id'))

    op.drop_table('contract_ccs')
    op.drop_table('contract_number_counters')
