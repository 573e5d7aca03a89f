"""Persistence: SQLAlchemy Core tables, engine set-up, migrations and repository functions."""

from nps_bot.store.engine import create_engine_for, migrate

__all__ = ["create_engine_for", "migrate"]
