"""Tables. Timestamps are stored as UTC; ids are BIGINT on PostgreSQL, INTEGER (rowid) on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False, unique=True),
    Column("email", String(320)),
    Column("name", String(255)),
    Column("slack_user_id", String(64)),
    Column("language", String(35)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

surveys = Table(
    "surveys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("ticket_id", String(255), nullable=False),
    Column("ticket_url", Text),
    Column("subject", Text),
    Column("channel", String(64)),
    Column("team", String(255)),
    Column("agent_id", String(255)),
    Column("agent_name", String(255)),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("customer_key", String(400)),
    Column("language", String(35), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(255)),
    Column("due_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("delivery_channel", String(32)),
    Column("delivery_ref", String(255)),
    Column("reply_context", JSON),
    Column("closed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    UniqueConstraint("connector", "ticket_id", "kind"),
    Index("ix_surveys_state_due_at", "state", "due_at"),
    Index("ix_surveys_customer_key_created_at", "customer_key", "created_at"),
    Index("ix_surveys_sent_at", "sent_at"),
)

survey_tags = Table(
    "survey_tags",
    metadata,
    Column("survey_id", Id, ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(255), primary_key=True),
    Index("ix_survey_tags_tag", "tag"),
)

# Customer attributes as they were when the ticket closed (plan, region...): segments are
# judged by the customer's situation at the time, and a GROUP BY needs no JSON functions.
survey_attributes = Table(
    "survey_attributes",
    metadata,
    Column("survey_id", Id, ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Index("ix_survey_attributes_name_value", "name", "value"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("survey_id", Id, ForeignKey("surveys.id", ondelete="SET NULL")),
    UniqueConstraint("connector", "event_id"),
)

responses = Table(
    "responses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survey_id", Id, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("source", String(32), nullable=False),
    Column("responder", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_responses_created_at", "created_at"),
)
