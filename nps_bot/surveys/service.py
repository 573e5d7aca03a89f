"""Survey lifecycle: schedule from an interaction, record answers and comments.

Every public function is one database transaction, so a crash leaves either the whole change or
none of it; unique keys make webhook redeliveries and double clicks harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.clock import Clock
from nps_bot.models import (
    ANSWERED_STATES,
    PENDING_STATES,
    REACHED_STATES,
    SCALES,
    Answer,
    Interaction,
    ScheduleOutcome,
    SurveyRef,
    SurveyState,
)
from nps_bot.reporting.rollups import Tracker, tracked
from nps_bot.store.schema import customers, responses, survey_attributes, surveys
from nps_bot.store.sql import upsert
from nps_bot.surveys import i18n
from nps_bot.surveys.policy import SurveyPolicy
from nps_bot.surveys.schedule_statements import statements
from nps_bot.surveys.unsubscribe import REASON as UNSUBSCRIBED
from nps_bot.surveys.unsubscribe import normalise

log = logging.getLogger(__name__)

MAX_COMMENT = 3000


class SurveyError(Exception):
    """An answer that cannot be taken; the message is safe to show to the customer."""


class SurveyNotFound(SurveyError):
    pass


class SurveyNotOpen(SurveyError):
    pass


@dataclass(slots=True)
class SurveyService:
    engine: Engine
    policy: SurveyPolicy
    clock: Clock
    default_language: str = "en"

    # -- scheduling ---------------------------------------------------------------------------

    def schedule(self, interaction: Interaction) -> ScheduleOutcome:
        with self.engine.begin() as conn:
            outcome = self.schedule_in(conn, interaction)
        log_outcome(interaction, outcome)
        return outcome

    def schedule_in(
        self, conn: Connection, interaction: Interaction, received_at: datetime | None = None
    ) -> ScheduleOutcome:
        """`schedule` inside a transaction the caller holds and commits (the intake drain runs a batch
        in one); the outcome holds only once that transaction commits. `received_at`: when the webhook
        arrived, if it waited in the intake queue (the delay, throttle window and dates count from it)."""
        now = received_at or self.clock.now()
        sql = statements(conn.dialect)
        claimed = sql.claim_event.first(
            conn,
            {
                "connector": interaction.connector,
                "event_id": interaction.event_id,
                "received_at": now,
                "outcome": "pending",
            },
        )
        if claimed is None:
            return ScheduleOutcome("duplicate", reason="event already received")
        outcome = self._apply(conn, interaction, now)
        sql.finish_event.first(
            conn, {"event_row": claimed[0], "new_outcome": outcome.status, "survey_row": outcome.survey_id}
        )
        return outcome

    def schedule_now(self, interaction: Interaction) -> ScheduleOutcome:
        """Schedule with no delay (a survey an admin sends by hand); every other policy applies."""
        # A copy with that one policy change: every other field (and any added later) comes along.
        return dataclasses.replace(self, policy=dataclasses.replace(self.policy, delay=timedelta(0))).schedule(
            interaction
        )

    def _apply(self, conn: Connection, interaction: Interaction, now: datetime) -> ScheduleOutcome:
        customer_key = interaction.customer.key(interaction.connector)
        # One round trip answers every question the policy asks the database.
        checks = statements(conn.dialect).checks.first(
            conn,
            {
                "connector": interaction.connector,
                "ticket_id": interaction.ticket_id,
                "kind": interaction.kind,
                "email": normalise(interaction.customer.email) if interaction.customer.email else None,
                "customer_key": customer_key,
                "since": self.policy.throttle_since(now),
            },
        )
        assert checks is not None  # a SELECT of four scalar subqueries always has its one row
        existing_id, existing_state, unsubscribed, throttled = checks
        if existing_id is not None:
            return self._update_existing(conn, existing_id, SurveyState(existing_state), interaction, now)
        if interaction.event == "reopened":
            return ScheduleOutcome("ignored", reason="re-opened ticket has no survey")

        reason = self.policy.exclusion(interaction)
        if reason is None and unsubscribed:
            reason = UNSUBSCRIBED
        if reason is None and self.policy.sampled_out(interaction):
            reason = "not sampled"
        if reason is None and self.policy.throttle and throttled:
            reason = "throttled: surveyed recently"
        state = SurveyState.SUPPRESSED if reason else SurveyState.SCHEDULED
        survey_id = self._insert(conn, interaction, customer_key, state, reason, now)
        if survey_id is None:  # a concurrent delivery of another event for the same ticket won
            return ScheduleOutcome("duplicate", reason="ticket already has a survey")
        if reason:
            return ScheduleOutcome("suppressed", survey_id, reason=reason)
        return ScheduleOutcome("scheduled", survey_id, due_at=self.policy.due_at(interaction, now))

    def _update_existing(
        self, conn: Connection, survey_id: int, state: SurveyState, interaction: Interaction, now: datetime
    ) -> ScheduleOutcome:
        if state not in PENDING_STATES:
            return ScheduleOutcome("duplicate", survey_id, reason=f"ticket already surveyed ({state})")
        # A pending survey is unsent and unanswered, so it adds nothing to the rollups before or after
        # these updates: no rollup tracking here (it cost seven queries per webhook). The state guard
        # keeps that true if a worker sent it since the checks above.
        pending = sa.and_(surveys.c.id == survey_id, surveys.c.state.in_(PENDING_STATES))
        if interaction.event == "reopened":
            conn.execute(
                surveys.update()
                .where(pending)
                .values(state=SurveyState.ON_HOLD, reason="ticket re-opened", updated_at=now)
            )
            return ScheduleOutcome("on_hold", survey_id, reason="ticket re-opened; waits for the next close")
        due = self.policy.due_at(interaction, now)
        conn.execute(
            surveys.update()
            .where(pending)
            .values(
                state=SurveyState.SCHEDULED,
                reason=None,
                due_at=due,
                expires_at=due + self.policy.expiry,
                closed_at=interaction.closed_at or now,
                updated_at=now,
                **self._ticket_fields(interaction, self.policy.agent_credit),
            )
        )
        return ScheduleOutcome("rescheduled", survey_id, due_at=due)

    @staticmethod
    def _ticket_fields(interaction: Interaction, agent_credit: str) -> dict[str, object]:
        agent = interaction.credited_agent(agent_credit)
        return {
            "reply_context": dict(interaction.reply_context) or None,
            "ticket_url": interaction.ticket_url,
            "subject": interaction.subject,
            "channel": interaction.channel,
            "team": interaction.team,
            "agent_id": agent.id if agent else None,
            "agent_name": (agent.name or agent.email or agent.id) if agent else None,
        }

    def _insert(
        self,
        conn: Connection,
        interaction: Interaction,
        customer_key: str | None,
        state: SurveyState,
        reason: str | None,
        now: datetime,
    ) -> int | None:
        customer_id = self._upsert_customer(conn, interaction, customer_key, now) if customer_key else None
        language = i18n.negotiate(interaction.customer.language or self.default_language)
        due = self.policy.due_at(interaction, now)
        values = {
            "token": secrets.token_urlsafe(24),
            "kind": interaction.kind,
            "connector": interaction.connector,
            "ticket_id": interaction.ticket_id,
            "customer_id": customer_id,
            "customer_key": customer_key,
            "language": language,
            "state": state.value,
            "reason": reason,
            "due_at": due,
            "expires_at": due + self.policy.expiry,
            "attempts": 0,
            "closed_at": interaction.closed_at or now,
            "created_at": now,
            "updated_at": now,
            **self._ticket_fields(interaction, self.policy.agent_credit),
        }
        sql = statements(conn.dialect)
        inserted = sql.insert_survey.first(conn, values)
        if inserted is None:
            return None
        survey_id: int = inserted[0]
        if interaction.tags:
            sql.insert_tags.many(conn, [{"survey_id": survey_id, "tag": t} for t in interaction.tags])
        attributes = dict(interaction.customer.attributes)
        if interaction.customer.language:
            attributes.setdefault("language", language)
        if attributes:
            sql.insert_attributes.many(
                conn, [{"survey_id": survey_id, "name": k, "value": v} for k, v in attributes.items()]
            )
        return survey_id

    @staticmethod
    def _upsert_customer(conn: Connection, interaction: Interaction, key: str, now: datetime) -> int:
        c = interaction.customer
        row = {
            "key": key,
            "email": c.email,
            "name": c.name,
            "slack_user_id": c.slack_user_id,
            "language": c.language,
            "created_at": now,
            "updated_at": now,
        }
        upserted = statements(conn.dialect).upsert_customer.first(conn, row)
        assert upserted is not None  # an upsert RETURNING always returns its row
        customer_id: int = upserted[0]
        return customer_id

    def record_external_answer(
        self,
        interaction: Interaction,
        score: int,
        *,
        comment: str | None,
        answered_at: datetime,
        source: str,
    ) -> tuple[Answer, bool]:
        """Store an answer collected by another tool (ratings imported from a survey vendor).

        Idempotent on (connector, ticket id, kind): importing the same rating again updates it.
        Returns the answer and whether it was new.
        """
        low, high = SCALES[interaction.kind]
        if not low <= score <= high:
            raise SurveyError(f"score must be a whole number from {low} to {high}")
        now = self.clock.now()
        text = (comment or "").strip()[:MAX_COMMENT] or None
        state = SurveyState.COMMENTED if text else SurveyState.ANSWERED
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(surveys.c.token).where(
                    surveys.c.connector == interaction.connector,
                    surveys.c.ticket_id == interaction.ticket_id,
                    surveys.c.kind == interaction.kind,
                )
            ).scalar()
            if existing is None:
                key = interaction.customer.key(interaction.connector)
                self._insert(conn, interaction, key, state, None, answered_at)
                token = conn.execute(
                    sa.select(surveys.c.token).where(
                        surveys.c.connector == interaction.connector,
                        surveys.c.ticket_id == interaction.ticket_id,
                        surveys.c.kind == interaction.kind,
                    )
                ).scalar_one()
            else:
                token = existing
            ref = self._ref(conn, token)
            rollup = Tracker(conn)
            rollup.watch([ref.id])
            conn.execute(
                surveys.update()
                .where(surveys.c.id == ref.id)
                .values(state=state, sent_at=sa.func.coalesce(surveys.c.sent_at, answered_at), updated_at=now)
            )
            previous = conn.execute(sa.select(responses.c.score).where(responses.c.survey_id == ref.id)).scalar()
            upsert(
                conn,
                responses,
                {
                    "survey_id": ref.id,
                    "kind": interaction.kind,
                    "score": score,
                    "comment": text,
                    "source": source,
                    "created_at": answered_at,
                    "updated_at": now,
                },
                ("survey_id",),
                lambda excluded: {
                    "score": excluded.score,
                    "comment": excluded.comment,
                    "updated_at": excluded.updated_at,
                },
            )
            rollup.flush()
        answer = Answer(survey=_with_state(ref, state), score=score, comment=text, previous_score=previous)
        return answer, existing is None

    def stored_answer(self, interaction: Interaction) -> tuple[int, str | None] | None:
        """The score and comment stored for this interaction's ticket and kind, if any: what
        record_external_answer would update, so an importer can tell a changed answer from a re-import."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(responses.c.score, responses.c.comment)
                .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id))
                .where(
                    surveys.c.connector == interaction.connector,
                    surveys.c.ticket_id == interaction.ticket_id,
                    surveys.c.kind == interaction.kind,
                )
            ).first()
        return (row.score, row.comment) if row else None

    def set_display_names(
        self,
        survey_id: int,
        *,
        agent_name: str | None = None,
        team: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Store names a help desk gave for what its webhook named by id only (agent, team, the label of
        a dropdown value), so reports show names. None / absent leaves a value as it is; only attributes
        the survey already has are changed."""
        values: dict[str, object] = {"agent_name": agent_name[:255]} if agent_name else {}
        if team:
            values["team"] = team[:255]
        with self.engine.begin() as conn, tracked(conn, [survey_id]):  # names are segment keys
            if values:
                conn.execute(surveys.update().where(surveys.c.id == survey_id).values(**values))
            for name, value in (attributes or {}).items():
                conn.execute(
                    survey_attributes.update()
                    .where(survey_attributes.c.survey_id == survey_id, survey_attributes.c.name == name)
                    .values(value=str(value)[:255])
                )

    # -- answers ------------------------------------------------------------------------------

    def find(self, token: str) -> SurveyRef:
        with self.engine.connect() as conn:
            return self._ref(conn, token)

    @staticmethod
    def _ref(conn: Connection, token: str, *, for_update: bool = False) -> SurveyRef:
        if "\x00" in token:  # PostgreSQL refuses NUL in text; no token has one
            raise SurveyNotFound("unknown survey")
        query = (
            sa.select(
                surveys.c.id,
                surveys.c.token,
                surveys.c.kind,
                surveys.c.state,
                surveys.c.language,
                surveys.c.delivery_channel,
                surveys.c.delivery_ref,
                surveys.c.subject,
                customers.c.name.label("customer_name"),
            )
            .select_from(surveys.outerjoin(customers, customers.c.id == surveys.c.customer_id))
            .where(surveys.c.token == token)
        )
        if for_update:
            query = query.with_for_update(of=surveys)
        row = conn.execute(query).first()
        if row is None:
            raise SurveyNotFound("survey not found")
        return SurveyRef(
            id=row.id,
            token=row.token,
            kind=row.kind,
            state=SurveyState(row.state),
            language=row.language,
            delivery_channel=row.delivery_channel,
            delivery_ref=row.delivery_ref,
            customer_name=row.customer_name,
            subject=row.subject,
        )

    def record_score(self, token: str, score: int, *, source: str, responder: str | None = None) -> Answer:
        now = self.clock.now()
        with self.engine.begin() as conn:
            ref = self._ref(conn, token, for_update=True)
            low, high = SCALES[ref.kind]
            if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
                raise SurveyError(f"score must be a whole number from {low} to {high}")
            if ref.state not in (REACHED_STATES | {SurveyState.SENDING}):
                raise SurveyNotOpen("this survey is not open for answers")
            rollup = Tracker(conn)
            rollup.watch([ref.id])
            previous = conn.execute(
                sa.select(responses.c.score, responses.c.comment).where(responses.c.survey_id == ref.id)
            ).first()
            upsert(
                conn,
                responses,
                {
                    "survey_id": ref.id,
                    "kind": ref.kind,
                    "score": score,
                    "source": source,
                    "responder": responder,
                    "created_at": now,
                    "updated_at": now,
                },
                ("survey_id",),
                lambda excluded: {
                    "score": excluded.score,
                    "source": excluded.source,
                    "responder": excluded.responder,
                    "updated_at": excluded.updated_at,
                },
            )
            comment = previous.comment if previous else None
            state = SurveyState.COMMENTED if comment else SurveyState.ANSWERED
            conn.execute(surveys.update().where(surveys.c.id == ref.id).values(state=state, updated_at=now))
            rollup.flush()
        return Answer(
            survey=_with_state(ref, state),
            score=score,
            comment=comment,
            previous_score=previous.score if previous else None,
        )

    def record_comment(self, token: str, comment: str, *, responder: str | None = None) -> Answer:
        now = self.clock.now()
        # NUL: PostgreSQL cannot store it in text (SQLite can); drop it the same way on both.
        text = comment.replace("\x00", "").strip()[:MAX_COMMENT]
        with self.engine.begin() as conn:
            ref = self._ref(conn, token, for_update=True)
            if ref.state not in ANSWERED_STATES:
                raise SurveyNotOpen("please choose a score first")
            score = conn.execute(
                responses.update()
                .where(responses.c.survey_id == ref.id)
                .values(comment=text or None, updated_at=now)
                .returning(responses.c.score)
            ).scalar_one()
            state = SurveyState.COMMENTED if text else SurveyState.ANSWERED
            conn.execute(surveys.update().where(surveys.c.id == ref.id).values(state=state, updated_at=now))
        return Answer(survey=_with_state(ref, state), score=score, comment=text or None, previous_score=score)


def log_outcome(interaction: Interaction, outcome: ScheduleOutcome) -> None:
    """One line per webhook, once its transaction committed (no customer e-mail in it)."""
    log.info(
        "webhook %s/%s ticket %s: %s%s",
        interaction.connector,
        interaction.event_id,
        interaction.ticket_id,
        outcome.status,
        f" ({outcome.reason})" if outcome.reason else "",
    )


def _with_state(ref: SurveyRef, state: SurveyState) -> SurveyRef:
    return SurveyRef(**{**{f: getattr(ref, f) for f in ref.__slots__}, "state": state})


def current_answer(service: SurveyService, token: str) -> Answer:
    """The stored answer to a survey (for editing the comment); SurveyNotOpen when unanswered."""
    with service.engine.connect() as conn:
        ref = SurveyService._ref(conn, token)
        row = conn.execute(
            sa.select(responses.c.score, responses.c.comment).where(responses.c.survey_id == ref.id)
        ).first()
    if row is None:
        raise SurveyNotOpen("please choose a score first")
    return Answer(survey=ref, score=row.score, comment=row.comment, previous_score=row.score)


def latest_delivered(service: SurveyService, channel: str, ref_prefix: str) -> SurveyRef | None:
    """The newest open survey delivered through `channel` whose delivery ref starts with `ref_prefix`
    (e.g. a chat conversation id), so a free-text reply in that chat can be matched to it."""
    now = service.clock.now()
    open_states = [s.value for s in (REACHED_STATES - {SurveyState.EXPIRED})]
    with service.engine.connect() as conn:
        token = conn.execute(
            sa.select(surveys.c.token)
            .where(
                surveys.c.delivery_channel == channel,
                surveys.c.delivery_ref.startswith(ref_prefix, autoescape=True),
                surveys.c.state.in_(open_states),
                sa.or_(surveys.c.expires_at.is_(None), surveys.c.expires_at > now),
            )
            .order_by(surveys.c.sent_at.desc())
            .limit(1)
        ).scalar()
        return SurveyService._ref(conn, token) if token else None
