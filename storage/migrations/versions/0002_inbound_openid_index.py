"""Drop the index on wechat_inbound.openid

Nothing looks inbound messages up by openid. The index cost one more B-tree insert per
webhook message, at a random position, so every inbox batch wrote a few more pages:
about a quarter of a batch's time on SQLite (docs/benchmarks.md, "WeChat webhook").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_wechat_inbound_openid', table_name='wechat_inbound')


def downgrade() -> None:
    op.create_index('ix_wechat_inbound_openid', 'wechat_inbound', ['openid'], unique=False)
