"""Alembic's entry point for the line: ivr.schema.upgrade hands it a connection that already
holds the migration lock, inside the transaction the migration runs in."""
from alembic import context

from ivr.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Migrations run when the line starts (ivr/schema.py); see ivr/migrations/README.md.")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
