"""Alembic environment for the ledger: runs on the connection `Ledger.open` hands over."""
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build one from sqlalchemy.url
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
