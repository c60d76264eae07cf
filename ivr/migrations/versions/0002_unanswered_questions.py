"""The words of questions the line could not answer (kept only with QUESTION_LOG=1).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("call_steps", sa.Column("asked", sa.String(200)))
