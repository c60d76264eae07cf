"""The call log, voicemails and their e-mail outbox, and the count of steps that could not be kept.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Databases from before migrations already have call_steps (made by create_all): keep it.
    existing_log = sa.inspect(op.get_bind()).has_table("call_steps")
    if not existing_log:
        op.create_table(
            "call_steps",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("call_sid", sa.String(64), nullable=False),
            sa.Column("time_utc", sa.DateTime, nullable=False),
            sa.Column("caller_hash", sa.String(64)),
            sa.Column("lang", sa.String(2)),
            sa.Column("event", sa.String(16), nullable=False),
            sa.Column("detail", sa.String(64)),
            sa.Column("seconds", sa.Integer),
            sa.Column("recording_url", sa.String(300)),
        )
        op.create_index("ix_call_steps_time_utc", "call_steps", ["time_utc"])
    op.create_table(
        "voicemails",
        sa.Column("recording_sid", sa.String(64), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("time_utc", sa.DateTime, nullable=False),
        sa.Column("lang", sa.String(2)),
        sa.Column("seconds", sa.Integer),
        sa.Column("recording_url", sa.String(300)),
    )
    op.create_index("ix_voicemails_time_utc", "voicemails", ["time_utc"])
    if existing_log:
        # Voicemails were "message" steps (detail: the RecordingSid), once per callback.
        op.execute("INSERT INTO voicemails (recording_sid, call_sid, time_utc, lang, seconds, recording_url) "
                   "SELECT detail, MIN(call_sid), MIN(time_utc), MIN(lang), MAX(seconds), MIN(recording_url) "
                   "FROM call_steps WHERE event = 'message' AND detail IS NOT NULL GROUP BY detail")
    op.create_table(
        "voicemail_emails",
        sa.Column("recording_sid", sa.String(64),
                  sa.ForeignKey("voicemails.recording_sid", ondelete="CASCADE"), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_utc", sa.DateTime, nullable=False),
        sa.Column("sent_utc", sa.DateTime),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_table(
        "dropped_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("time_utc", sa.DateTime, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
    )
