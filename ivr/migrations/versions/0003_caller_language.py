"""The language each returning caller chose last, by the keyed hash of their number.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caller_languages",
        sa.Column("caller_hash", sa.String(64), primary_key=True),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("time_utc", sa.DateTime, nullable=False),
    )
    op.create_index("ix_caller_languages_time_utc", "caller_languages", ["time_utc"])
