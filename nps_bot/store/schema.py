"""Tables. Timestamps are stored as UTC; ids are BIGINT on PostgreSQL, INTEGER (rowid) on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
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
    false,
    text,
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
    Column("slack_checked_at", UtcDateTime),  # when slack_user_id was last looked up by e-mail
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
    Column("reminded_at", UtcDateTime),  # the one reminder of an unanswered survey
    # Stamped with the lease right before a channel is handed the survey; cleared on success and when the
    # channel answers that nothing went out. Still set at the next claim: the last attempt may have
    # delivered (its worker died, or the answer was lost), so the channel looks before sending again.
    Column("post_attempted_at", UtcDateTime),
    UniqueConstraint("connector", "ticket_id", "kind"),
    Index("ix_surveys_state_due_at", "state", "due_at"),
    Index("ix_surveys_customer_key_created_at", "customer_key", "created_at"),
    Index("ix_surveys_sent_at", "sent_at"),
    Index("ix_surveys_report", "sent_at", "kind", "state"),
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

# Addresses that asked for no more surveys (the signed unsubscribe link, RFC 8058 one-click):
# every survey for one of them is suppressed, whatever the channel.
unsubscribes = Table(
    "unsubscribes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised: trimmed, lower-case
    Column("source", String(32), nullable=False),  # "page" | "one-click"
    Column("created_at", UtcDateTime, nullable=False),
)

# Verified webhooks waiting to be scheduled. The request is answered once its row is stored
# (store/intake.py); a worker schedules each row and deletes it in one transaction (surveys/intake.py).
webhook_intake = Table(
    "webhook_intake",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    # {"received_at": ISO 8601, "interactions": [Interaction as JSON, ...]}
    Column("payload", Text, nullable=False),
    # Set when scheduling it failed for a reason a retry cannot fix; kept for `nps-bot intake`.
    Column("failed_at", UtcDateTime),
    Column("error", String(255)),
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
    # Covers the report scan (period, kind, score) so GROUP BY reads the index, not the table.
    Index("ix_responses_report", "created_at", "kind", "score", "survey_id"),
    # Answers with a comment, newest first per kind (recent_comments): only they are read, not the period.
    Index(
        "ix_responses_commented",
        "kind",
        "created_at",
        "id",
        sqlite_where=text("comment IS NOT NULL"),
        postgresql_where=text("comment IS NOT NULL"),
    ),
)


# Report rollups (nps_bot/reporting/rollups.py): per UTC day, kind and segment, the sums reports are
# made of, kept in the transaction that changes an answer or a send. Answer columns count responses
# by the day of responses.created_at; sent/answered count surveys by the day of surveys.sent_at.
# dim: "" (everyone), agent, team, channel, connector, language, tag, or "attr:<name>";
# key: "" for NULL (no value), "=" + value otherwise (so an empty value is not NULL).
report_rollups = Table(
    "report_rollups",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("dim", String(72), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("promoters", BigInteger, nullable=False, default=0),
    Column("passives", BigInteger, nullable=False, default=0),
    Column("detractors", BigInteger, nullable=False, default=0),
    Column("answers", BigInteger, nullable=False, default=0),
    Column("satisfied", BigInteger, nullable=False, default=0),
    Column("total", BigInteger, nullable=False, default=0),
    Column("sum_squares", BigInteger, nullable=False, default=0),
    Column("sent", BigInteger, nullable=False, default=0),
    Column("answered", BigInteger, nullable=False, default=0),
)

# -- results in chat: digest and alert subscriptions, digest slots, detractor alerts, outbox -----

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # "digest" | "alert"
    Column("platform", String(32), nullable=False),  # chat integration name, e.g. the Slack one
    Column("channel_id", String(64), nullable=False),
    Column("created_by", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    # digest: a cron rule evaluated in `timezone`, the report period in days, optional segment
    Column("cron", String(64)),
    Column("timezone", String(64)),
    Column("period_days", Integer),
    Column("dimension", String(64)),
    # alert: answers with score <= max_score, optionally only where filter_dimension = filter_value
    Column("max_score", Integer),
    Column("filter_dimension", String(64)),
    Column("filter_value", String(255)),
    Column("survey_kind", String(8), nullable=False, default="nps", server_default="nps"),  # what a rule watches
    UniqueConstraint("platform", "kind", "channel_id"),
)

# One row per digest slot: inserting it is the claim, so a slot is posted exactly once whatever
# the number of workers, and a restart finds what was already posted.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("slot_at", UtcDateTime, primary_key=True),
    Column("claimed_by", String(64), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("posted_at", UtcDateTime),
    Column("message_ref", String(255)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),  # failed posts so far
    Column("gave_up", Boolean, nullable=False, default=False, server_default=false()),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survey_id", Id, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
    Column("subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending | posted | failed
    Column("message_ref", String(255)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("needs_update", Boolean, nullable=False, default=False),  # comment/score changed after posting
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_at", UtcDateTime),
    Column("resolved_by", String(64)),
    Column("resolved_at", UtcDateTime),
    Column("outcome", Text),
    UniqueConstraint("survey_id", "subscription_id"),
    Index("ix_alerts_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_alerts_created_at", "created_at"),  # the digest's follow-up line reads one period's alerts
)

# Outbound signed webhooks, written in the same transaction as the change they report and
# delivered by the worker with backoff: nothing is lost when a receiver is down.
# Rate limits of outbound APIs shared by every worker in every process: a 429 pauses the method
# for all of them, and pacing hands out one slot at a time. Key: "<platform>:<method>".
api_limits = Table(
    "api_limits",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("paused_until", UtcDateTime),
    Column("next_slot_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("target_url", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)
