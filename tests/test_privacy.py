"""Privacy controls: `forget` erases one person and keeps anonymous counts; the retention job purges
old personal data; reports read the same before and after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.cli import main
from nps_bot.config import Settings
from nps_bot.followups.outbox import enqueue
from nps_bot.models import Customer, Interaction
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.store.schema import customers, outbox, responses, surveys
from nps_bot.surveys.privacy import RetentionJob, forget
from tests.support.app import services

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(any_db_url: str) -> Iterator[AppContext]:
    context = services(any_db_url, START, throttle_days=0)
    yield context
    context.engine.dispose()


def survey(ctx: AppContext, n: int, email: str, score: int | None = None, comment: str | None = None) -> int:
    outcome = ctx.surveys.schedule(
        Interaction(
            connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", subject=f"Refund for {email}", team="Billing",
            customer=Customer(email=email, name=email.split("@")[0].title(), attributes={"plan": "pro"}),
        )
    )  # fmt: skip
    assert outcome.survey_id is not None
    if score is not None:
        with ctx.engine.begin() as conn:
            conn.execute(surveys.update().where(surveys.c.id == outcome.survey_id).values(state="sent", sent_at=START))
            token = conn.execute(sa.select(surveys.c.token).where(surveys.c.id == outcome.survey_id)).scalar_one()
        ctx.surveys.record_score(token, score, source="web")
        if comment:
            ctx.surveys.record_comment(token, comment)
    return outcome.survey_id


def report(ctx: AppContext) -> tuple[int, float | None]:
    r = score_report(ctx.engine, parse_period("90d", ctx.clock.now()), "team", min_n=1)
    return r.overall.n, r.overall.estimate.value


def test_forget_erases_the_person_and_keeps_the_counts(ctx: AppContext) -> None:
    answered = survey(ctx, 1, "ana@example.com", score=3, comment="Call Ana on +370 600 00000")
    waiting = survey(ctx, 2, "ana@example.com")
    other = survey(ctx, 3, "bob@example.com", score=10, comment="Great")
    with ctx.engine.begin() as conn:
        enqueue(conn, "response.created", {"survey_id": answered, "comment": "Call Ana"}, START, ["https://h.example"])
        enqueue(conn, "response.created", {"survey_id": other, "comment": "Great"}, START, ["https://h.example"])
    before = report(ctx)

    erased = forget(ctx.engine, " ANA@Example.com ", START, actor="test")

    assert (erased.customers, erased.surveys, erased.comments, erased.withdrawn, erased.events) == (1, 2, 1, 1, 1)
    assert report(ctx) == before, "anonymous counts stay"
    with ctx.engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(sa.select(surveys.c.id, surveys.c.customer_key, surveys.c.subject, surveys.c.state,
                                            surveys.c.reason, surveys.c.team))
        }  # fmt: skip
        comments = dict(conn.execute(sa.select(responses.c.survey_id, responses.c.comment)).all())
        people = conn.execute(sa.select(customers.c.key, customers.c.email, customers.c.name)).all()
        pending = [r.payload["survey_id"] for r in conn.execute(sa.select(outbox.c.payload))]
    assert rows[answered].customer_key is None and rows[answered].subject is None and rows[answered].team == "Billing"
    assert (rows[waiting].state, rows[waiting].reason) == ("suppressed", "forgotten on request")
    assert comments == {answered: None, other: "Great"}
    assert rows[other].customer_key == "email:bob@example.com" and rows[other].subject == "Refund for bob@example.com"
    assert sorted((p.email or "", p.name or "") for p in people) == [("", ""), ("bob@example.com", "Bob")]
    assert not any("ana" in p.key for p in people)
    assert pending == [other], "the unsent event quoting Ana is dropped"


def test_forget_from_the_command_line(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    survey(ctx, 1, "ana@example.com", score=9, comment="ok")
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", str(ctx.engine.url.render_as_string(hide_password=False)))
    assert main(["forget", "ana@example.com"]) == 0
    assert "1 customer record(s), 1 survey(s) (1 comment(s) erased" in capsys.readouterr().out
    assert main(["forget", "not-an-address"]) == 2


def test_retention_purges_old_personal_data_hourly(ctx: AppContext) -> None:
    old = survey(ctx, 1, "old@example.com", score=2, comment="old complaint")
    ctx.clock.advance(timedelta(days=40))  # type: ignore[attr-defined]
    new = survey(ctx, 2, "new@example.com", score=9, comment="fresh praise")
    before = report(ctx)
    job = RetentionJob(ctx.engine, days=30)
    assert job.run_due(ctx.clock.now()) == 2  # the old survey and its customer
    assert job.run_due(ctx.clock.now() + timedelta(minutes=10)) == 0, "at most once an hour"
    with ctx.engine.connect() as conn:
        comments = dict(conn.execute(sa.select(responses.c.survey_id, responses.c.comment)).all())
        emails = set(conn.execute(sa.select(customers.c.email)).scalars())
    assert comments == {old: None, new: "fresh praise"}
    assert emails == {None, "new@example.com"}
    assert report(ctx) == before


def test_retention_is_registered_only_when_configured(any_db_url: str) -> None:
    on = AppContext.build(Settings(database_url=any_db_url, retention_days=365), load_integrations=False)
    off = AppContext.build(Settings(database_url=any_db_url), load_integrations=False)
    assert [j.name for j in on.periodic_jobs()] == ["retention"] and off.periodic_jobs() == []
    on.engine.dispose()
    off.engine.dispose()
