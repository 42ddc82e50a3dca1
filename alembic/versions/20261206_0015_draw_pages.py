"""draw pages: every entry's rank packed a page of lines a row; draw_ranks keeps winners and backups

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000


def upgrade() -> None:
    pages = op.create_table(
        "draw_pages",
        sa.Column("drop_id", sa.Integer(), primary_key=True),
        sa.Column("last_entry", sa.String(32), primary_key=True),
        sa.Column("lines", sa.Text(), nullable=False),
    )
    # Draws made before: their ranks become pages (each status as drawn), their lost rows go.
    bind = op.get_bind()
    drawn = bind.execute(sa.text("SELECT drop_id, winners FROM draws WHERE drawn_at IS NOT NULL")).all()
    for drop_id, winners in drawn:
        rows = bind.execute(sa.text("SELECT entry_id, rank, status FROM draw_ranks WHERE drop_id = :d "
                                    "ORDER BY entry_id"), {"d": drop_id}).all()
        lines = [f"{eid} {rank} {'won' if rank <= winners else 'lost' if status == 'lost' else 'backup'}\n"
                 for eid, rank, status in rows]
        op.bulk_insert(pages, [{"drop_id": drop_id, "last_entry": rows[min(i + PAGE, len(rows)) - 1][0],
                                "lines": "".join(lines[i:i + PAGE])} for i in range(0, len(rows), PAGE)])
    bind.execute(sa.text("DELETE FROM draw_ranks WHERE status = 'lost'"))


def downgrade() -> None:
    bind = op.get_bind()
    users = dict(bind.execute(sa.text("SELECT id, user_id FROM draw_entries")).all())
    lost = []
    for drop_id, lines in bind.execute(sa.text("SELECT drop_id, lines FROM draw_pages")).all():
        for line in lines.splitlines():
            eid, rank, status = line.split()
            if status == "lost" and eid in users:
                lost.append({"drop_id": drop_id, "entry_id": eid, "user_id": users[eid], "rank": int(rank),
                             "status": "lost", "buy_until": None})
    if lost:
        ranks = sa.table("draw_ranks", *(sa.column(name) for name in lost[0]))
        op.bulk_insert(ranks, lost)
    op.drop_table("draw_pages")
