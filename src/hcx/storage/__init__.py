"""SQLAlchemy 2 storage: models, the unit of work, Alembic migrations. SQLite or PostgreSQL."""
