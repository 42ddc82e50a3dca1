"""checkout and content: order numbers, variants and shipping on orders, shipping addresses, shipping_required drops,
a product's description, specs and pictures (stored in the database, content-addressed)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("number", sa.String(32), nullable=True))
        batch.add_column(sa.Column("variant", sa.String(64), nullable=True))
        batch.add_column(sa.Column("shipping", sa.JSON(), nullable=True))
        batch.create_index("ix_orders_number", ["number"], unique=True)
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("shipping_required", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("specs", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("pictures", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("variants", sa.JSON(), nullable=True))
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("line1", sa.String(200), nullable=False),
        sa.Column("line2", sa.String(200), nullable=True),
        sa.Column("postal_code", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_addresses_user_id", "addresses", ["user_id"])
    op.create_table(
        "media_files",
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_files")
    op.drop_index("ix_addresses_user_id", table_name="addresses")
    op.drop_table("addresses")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("variants")
        batch.drop_column("pictures")
        batch.drop_column("specs")
        batch.drop_column("description")
        batch.drop_column("shipping_required")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_number")
        batch.drop_column("shipping")
        batch.drop_column("variant")
        batch.drop_column("number")
