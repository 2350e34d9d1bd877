"""The only room with SQLAlchemy sessions (STYLE.md): schema, engine, archive, queries."""
