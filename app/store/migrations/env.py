"""Alembic environment of project files: runs only on a connection passed in by app.store.migrate."""

from __future__ import annotations

from alembic import context

from app.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("project-file migrations run through app.store.migrate.upgrade(connection), "
                       "not from the alembic command line")

# The caller has begun a transaction (BEGIN is emitted explicitly, see app.store.opening), so with
# transactional_ddl the whole upgrade commits or rolls back as one.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
