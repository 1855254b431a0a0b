"""Alembic environment of the catalogue: always run by ``database.migrate`` on an open
connection (inside its transaction, under the migration lock), never from an ini file."""

from alembic import context

from media_platform.catalogue.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
