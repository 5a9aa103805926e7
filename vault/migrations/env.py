"""Alembic environment: always given a live connection by vault.migrate (no alembic.ini URL).

For ``--autogenerate`` the metadata of every package must be loaded; ``flask vault db revision``
imports the whole app first, so ``Base.metadata`` then knows every table.
"""
from alembic import context

from vault.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `flask --app wsgi vault db upgrade`.")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
