"""The text-message outbox and call-back requests (issue 22).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_messages",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("time_utc", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_utc", sa.DateTime, nullable=False),
        sa.Column("sent_utc", sa.DateTime),
        sa.Column("failed_utc", sa.DateTime),
        sa.Column("message_sid", sa.String(64)),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_index("ix_text_messages_caller_hash", "text_messages", ["caller_hash"])
    op.create_index("ix_text_messages_time_utc", "text_messages", ["time_utc"])
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("caller_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("number_encrypted", sa.String(300), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(2)),
        sa.Column("time_utc", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_utc", sa.DateTime, nullable=False),
        sa.Column("sent_utc", sa.DateTime),
        sa.Column("failed_utc", sa.DateTime),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_index("ix_callback_requests_time_utc", "callback_requests", ["time_utc"])
