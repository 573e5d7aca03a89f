"""Scheduled digests: content, terminal and Block Kit rendering, and exactly-once posting per slot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient

from integrations.slack.blocks.digest import digest_blocks
from integrations.slack.services.digests import DigestJob
from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.delivery import claims
from nps_bot.delivery.worker import Worker
from nps_bot.followups import schedule as ds
from nps_bot.followups import subscriptions
from nps_bot.followups.digests import Digest, build_digest, render_text
from nps_bot.followups.schedule import latest_slot, runs
from nps_bot.followups.subscriptions import Subscription
from nps_bot.models import Agent, Customer, Interaction
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import CommentRow, FollowUp, ScoreReport, SegmentStats, TrendPoint
from nps_bot.reporting.scoring import NpsCounts
from nps_bot.store.schema import alerts, surveys
from tests.fakes.slack import FakeSlack

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday
FIRST_SLOT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 09:00 in Vilnius (EET, UTC+2)
WEEKLY = "0 9 * * 1"
VILNIUS = "Europe/Vilnius"
CHANNEL = "C0DIGEST1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ctx(url: str) -> AppContext:
    settings = Settings(database_url=url, survey_delay=timedelta(0), embedded_worker=False, min_segment_n=3)
    return AppContext.build(settings, clock=ManualClock(START), load_integrations=False)


@pytest.fixture
def ctx(any_db_url: str) -> Iterator[AppContext]:
    context = _ctx(any_db_url)
    yield context
    context.engine.dispose()


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.base_url)


def _interaction(n: int, team: str) -> Interaction:
    return Interaction(
        connector="generic",
        event_id=f"evt_{n}",
        ticket_id=f"T-{n}",
        ticket_url=f"https://help.example.com/tickets/{n}?a=1&b=2",
        team=team,
        customer=Customer(email=f"c{n}@example.com", name=f"Customer {n}"),
        agent=Agent(id=str(n % 2), name="Ona" if n % 2 else "Jonas"),
    )


# (team, score, comment): Billing 3 promoters + 1 detractor, Tech 1 passive + 2 detractors, Sales 1 promoter.
ANSWERS: list[tuple[str, int, str | None]] = [
    ("Billing", 10, "Quick and kind"),
    ("Billing", 9, None),
    ("Billing", 9, None),
    ("Billing", 4, "Waited three days"),
    ("Tech", 7, None),
    ("Tech", 2, "Nobody called back <@channel> & co"),
    ("Tech", 5, None),
    ("Sales", 10, "Great"),
]


def seed(ctx: AppContext) -> list[int]:
    """Answers at START; returns the survey ids in ANSWERS order."""
    for n, (team, _, _) in enumerate(ANSWERS):
        ctx.surveys.schedule(_interaction(n, team))
    now = ctx.clock.now()
    for sid in claims.claim_due(ctx.engine, "seed", now, timedelta(minutes=2), 100):
        claims.finish(ctx.engine, sid, "seed", now, state="sent", sent_at=now)
    with ctx.engine.connect() as conn:
        rows = list(conn.execute(sa.select(surveys.c.id, surveys.c.token).order_by(surveys.c.id)))
    for (_, token), (_, score, comment) in zip(rows, ANSWERS, strict=True):
        ctx.surveys.record_score(token, score, source="test")
        if comment:
            ctx.surveys.record_comment(token, comment)
    return [sid for sid, _ in rows]


def subscribe(ctx: AppContext, cron: str = WEEKLY, tz: str = VILNIUS, at: datetime = START) -> Subscription:
    return subscriptions.save(
        ctx.engine,
        kind="digest",
        platform="slack",
        channel_id=CHANNEL,
        created_by="U0ADMIN",
        now=at,
        cron=cron,
        timezone=tz,
        period_days=7,
        dimension="team",
    )


def posts(fake: FakeSlack) -> list[Any]:
    return [c for c in fake.calls_to("chat.postMessage") if c.ok]


# ---------------------------------------------------------------------- schedule


def test_posts_once_at_the_slot_with_chart(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    seed(ctx)
    sub = subscribe(ctx)
    job = DigestJob(ctx, client)
    assert job.run_due(FIRST_SLOT - timedelta(minutes=1)) == 0, "not before the first slot"
    assert posts(fake_slack) == []
    assert job.run_due(FIRST_SLOT) == 1
    for later in (timedelta(seconds=30), timedelta(minutes=10), timedelta(days=6)):
        assert job.run_due(FIRST_SLOT + later) == 0
    (post,) = posts(fake_slack)
    assert post.params["channel"] == CHANNEL
    assert any(b["type"] == "header" for b in post.params["blocks"])
    (get_url,) = fake_slack.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "nps-trend.png"
    (complete,) = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == CHANNEL
    (png,) = fake_slack.uploads.values()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    order = [c.method for c in fake_slack.calls]
    assert order.index("chat.postMessage") < order.index("files.getUploadURLExternal"), "message first, chart under it"
    assert "posted late" not in repr(post.params["blocks"])
    (run,) = runs(ctx.engine, sub.id)
    assert run.slot_at == FIRST_SLOT and run.posted_at == FIRST_SLOT
    assert run.message_ref == f"{CHANNEL}:{post.response['ts']}"


def test_two_workers_post_once(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    subscribe(ctx)
    jobs = [DigestJob(ctx, client, owner="worker-a"), DigestJob(ctx, client, owner="worker-b")]
    barrier = threading.Barrier(len(jobs))
    done: list[int] = []

    def poll(job: DigestJob) -> None:
        barrier.wait()
        for minute in range(3):
            done.append(job.run_due(FIRST_SLOT + timedelta(minutes=minute)))

    threads = [threading.Thread(target=poll, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 1
    assert len(posts(fake_slack)) == 1


def test_no_repost_after_restart(any_db_url: str, fake_slack: FakeSlack, client: WebClient) -> None:
    first = _ctx(any_db_url)
    subscribe(first)
    assert DigestJob(first, client).run_due(FIRST_SLOT) == 1
    first.engine.dispose()
    restarted = _ctx(any_db_url)  # same database, new process
    try:
        assert DigestJob(restarted, client).run_due(FIRST_SLOT + timedelta(minutes=1)) == 0
    finally:
        restarted.engine.dispose()
    assert len(posts(fake_slack)) == 1


def test_missed_slots_posted_late_once(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    job = DigestJob(ctx, client)
    assert job.run_due(FIRST_SLOT) == 1
    # Down across the next three Mondays; back on Wednesday.
    back = FIRST_SLOT + timedelta(weeks=3, days=2)
    assert job.run_due(back) == 1
    assert job.run_due(back + timedelta(minutes=1)) == 0
    assert [r.slot_at for r in runs(ctx.engine, sub.id)] == [FIRST_SLOT, FIRST_SLOT + timedelta(weeks=3)]
    on_time, late = posts(fake_slack)
    assert "posted late" not in repr(on_time.params["blocks"])
    assert "Scheduled for Mon 14 Dec 09:00 (Europe/Vilnius); posted late." in repr(late.params["blocks"])


def test_runs_inside_the_worker(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    subscribe(ctx)
    ctx.extra_jobs.append(DigestJob(ctx, client))
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.set(FIRST_SLOT)
    worker = Worker(ctx, owner="w")
    worker.run_once()
    worker.run_once()
    assert len(posts(fake_slack)) == 1


def test_slack_failure_is_retried_with_backoff(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    job = DigestJob(ctx, client)
    fake_slack.fail("chat.postMessage", status=200, error="internal_error", times=2)
    assert job.run_due(FIRST_SLOT) == 0
    (run,) = runs(ctx.engine, sub.id)
    assert run.posted_at is None and (run.error, run.attempts, run.gave_up) == ("slack: internal_error", 1, False)
    assert job.run_due(FIRST_SLOT + timedelta(minutes=4)) == 0, "the claim holds for 5 minutes"
    assert DigestJob(ctx, client).run_due(FIRST_SLOT + timedelta(minutes=4, seconds=59)) == 0
    assert job.run_due(FIRST_SLOT + timedelta(minutes=5, seconds=1)) == 0, "second failure"
    assert job.run_due(FIRST_SLOT + timedelta(minutes=14)) == 0, "then it waits 10 minutes"
    assert job.run_due(FIRST_SLOT + timedelta(minutes=15, seconds=2)) == 1
    assert job.run_due(FIRST_SLOT + timedelta(minutes=40)) == 0
    assert len(posts(fake_slack)) == 1
    (run,) = runs(ctx.engine, sub.id)
    assert run.posted_at == FIRST_SLOT + timedelta(minutes=15, seconds=2) and run.error is None
    (post,) = posts(fake_slack)
    assert "posted late" in repr(post.params["blocks"]), "15 minutes after its slot the digest says so"


def test_a_slot_is_given_up_after_max_attempts(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    job = DigestJob(ctx, client)
    fake_slack.fail("chat.postMessage", status=200, error="internal_error", times=ds.MAX_ATTEMPTS)
    for minute in range(0, 24 * 60, 1):  # a poll a minute for a day
        job.run_due(FIRST_SLOT + timedelta(minutes=minute))
    tried = fake_slack.calls_to("chat.postMessage")
    assert len(tried) == ds.MAX_ATTEMPTS == 5 and posts(fake_slack) == []
    (run,) = runs(ctx.engine, sub.id)
    assert run.posted_at is None and (run.attempts, run.gave_up) == (5, True)
    assert job.run_due(FIRST_SLOT + timedelta(weeks=1)) == 1, "the next slot is posted as usual"


def test_permanent_errors_give_up_at_once(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    fake_slack.add_channel(CHANNEL, "cx", is_archived=True)
    fake_slack.fail("chat.postMessage", status=200, error="is_archived")
    job = DigestJob(ctx, client)
    for minute in range(0, 120, 5):
        assert job.run_due(FIRST_SLOT + timedelta(minutes=minute)) == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    (run,) = runs(ctx.engine, sub.id)
    assert (run.error, run.attempts, run.gave_up) == ("slack: is_archived", 1, True)


def test_chart_failure_does_not_repost(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    fake_slack.fail("files.completeUploadExternal", status=200, error="internal_error")
    job = DigestJob(ctx, client)
    assert job.run_due(FIRST_SLOT) == 1
    for minute in (1, 6, 30, 120):
        assert DigestJob(ctx, client).run_due(FIRST_SLOT + timedelta(minutes=minute)) == 0
    assert len(posts(fake_slack)) == 1
    (run,) = runs(ctx.engine, sub.id)
    assert run.posted_at == FIRST_SLOT and run.error == "chart: slack: internal_error"


def test_a_worker_that_died_mid_post_is_taken_over(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    sub = subscribe(ctx)
    slot = latest_slot(sub, FIRST_SLOT)
    assert slot == FIRST_SLOT and ds.claim(ctx.engine, sub.id, slot, "dead-worker", FIRST_SLOT)
    survivor = DigestJob(ctx, client, owner="survivor")
    assert survivor.run_due(FIRST_SLOT + timedelta(minutes=4)) == 0, "the dead worker's lease still holds"
    assert survivor.run_due(FIRST_SLOT + ds.RETRY_AFTER) == 1
    assert survivor.run_due(FIRST_SLOT + ds.RETRY_AFTER + timedelta(minutes=30)) == 0
    (run,) = runs(ctx.engine, sub.id)
    assert run.claimed_by == "survivor" and len(posts(fake_slack)) == 1


def test_polls_between_slots_do_not_write(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    subscribe(ctx)
    job = DigestJob(ctx, client)
    assert job.run_due(FIRST_SLOT) == 1
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    sa.event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        for second in range(2, 600, 2):
            assert job.run_due(FIRST_SLOT + timedelta(seconds=second)) == 0
        memo = len(statements)
        # The Slack integration may hand the worker a new job per poll: still no writes.
        for second in range(600, 700, 2):
            assert DigestJob(ctx, client).run_due(FIRST_SLOT + timedelta(seconds=second)) == 0
    finally:
        sa.event.remove(ctx.engine, "before_cursor_execute", record)
    assert memo == 299, "with the job kept, a poll reads the subscriptions and nothing else"
    assert set(statements) == {"SELECT"}


# ---------------------------------------------------------------------- time zones


def _sub(cron: str, tz: str = VILNIUS, created: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> Subscription:
    return Subscription(1, "digest", "slack", CHANNEL, None, created, cron=cron, timezone=tz)


def test_vilnius_monday_nine_is_seven_utc_in_winter() -> None:
    sub = _sub(WEEKLY)
    assert latest_slot(sub, FIRST_SLOT) == FIRST_SLOT
    assert latest_slot(sub, FIRST_SLOT - timedelta(seconds=1)) == FIRST_SLOT - timedelta(weeks=1)
    assert latest_slot(_sub(WEEKLY, created=START), FIRST_SLOT - timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Spring forward on Sunday 29 March 2026: EET (UTC+2) → EEST (UTC+3).
        (datetime(2026, 3, 23, 7, 0, tzinfo=UTC), datetime(2026, 3, 30, 6, 0, tzinfo=UTC)),
        # Fall back on Sunday 25 October 2026: EEST → EET.
        (datetime(2026, 10, 19, 6, 0, tzinfo=UTC), datetime(2026, 10, 26, 7, 0, tzinfo=UTC)),
    ],
)
def test_weekly_slot_keeps_local_time_across_dst(before: datetime, after: datetime) -> None:
    sub = _sub(WEEKLY)
    assert latest_slot(sub, after - timedelta(minutes=1)) == before
    assert latest_slot(sub, after) == after
    assert latest_slot(sub, after + timedelta(days=3)) == after


def test_daily_slots_across_dst_days() -> None:
    sub = _sub("0 9 * * *")
    days = [datetime(2026, 3, d, tzinfo=UTC) for d in (28, 29, 30)] + [
        datetime(2026, 10, d, tzinfo=UTC) for d in (24, 25, 26)
    ]
    got = [latest_slot(sub, day + timedelta(hours=12)) for day in days]
    offsets = [7, 6, 6, 6, 7, 7]  # 09:00 local in UTC
    assert got == [day + timedelta(hours=h) for day, h in zip(days, offsets, strict=True)]


def test_ambiguous_and_missing_local_times_give_one_slot_per_day() -> None:
    """03:30 happens twice on 25 Oct and not at all on 29 Mar in Vilnius: still one slot a day."""
    sub = _sub("30 3 * * *")
    for day in (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC)):
        slots = {latest_slot(sub, day + timedelta(minutes=m)) for m in range(0, 24 * 60, 10)}
        today = {s for s in slots if s is not None and s.date() == day.date()}
        assert len(today) <= 1, today


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        ("Europe/Vilnius", datetime(2026, 3, 29, tzinfo=UTC)),  # 03:00 → 04:00
        ("Europe/Vilnius", datetime(2026, 10, 25, tzinfo=UTC)),  # 04:00 → 03:00
        ("America/New_York", datetime(2026, 3, 8, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 11, 1, tzinfo=UTC)),
        ("Australia/Lord_Howe", datetime(2026, 4, 4, tzinfo=UTC)),  # a 30-minute shift
        ("Australia/Lord_Howe", datetime(2026, 10, 3, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("cron", ["30 3 * * *", "0 2 * * *", "30 1 * * *", "0 9 * * 1", "15 * * * *"])
def test_latest_slot_never_goes_back_in_time(tz: str, day: datetime, cron: str) -> None:
    """Across a DST change: never later than now, never earlier than before, one slot per local day."""
    sub = _sub(cron, tz)
    previous: datetime | None = None
    seen: set[datetime] = set()
    for minute in range(-12 * 60, 36 * 60, 5):
        now = day + timedelta(minutes=minute)
        slot = latest_slot(sub, now)
        assert slot is not None and slot <= now
        assert previous is None or slot >= previous, (now, slot, previous)
        previous = slot
        seen.add(slot)
    if cron.endswith("* * *") and not cron.startswith("15"):
        local_days = [s.astimezone(ds.zone(tz)).date() for s in seen]
        assert len(local_days) == len(set(local_days)), sorted(seen)


def test_repeated_hour_after_downtime_posts_today_only(
    ctx: AppContext, fake_slack: FakeSlack, client: WebClient
) -> None:
    """Down over Saturday's 03:30; back on Sunday 25 Oct after 03:30 summer time. While the clocks
    repeat 03:00-04:00, Saturday's missed slot must not come back as "the latest"."""
    sub = subscribe(ctx, cron="30 3 * * *", at=datetime(2026, 10, 1, tzinfo=UTC))
    job = DigestJob(ctx, client)
    back = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 03:40 EEST
    for minute in range(0, 180):
        job.run_due(back + timedelta(minutes=minute))
    assert [r.slot_at for r in runs(ctx.engine, sub.id)] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]
    assert len(posts(fake_slack)) == 1


def test_unusable_cron_is_skipped_not_fatal(ctx: AppContext, fake_slack: FakeSlack, client: WebClient) -> None:
    subscriptions.save(
        ctx.engine, kind="digest", platform="slack", channel_id="C0BROKEN", created_by=None, now=START,
        cron="0 0 30 2 *", timezone=VILNIUS,
    )  # fmt: skip
    subscribe(ctx)
    assert DigestJob(ctx, client).run_due(FIRST_SLOT) == 1
    assert [p.params["channel"] for p in posts(fake_slack)] == [CHANNEL]


# ---------------------------------------------------------------------- content and rendering


def test_digest_content_and_terminal_text(ctx: AppContext) -> None:
    ids = seed(ctx)
    now = FIRST_SLOT
    with ctx.engine.begin() as conn:  # two detractors alerted; one claimed within 48 h, one never
        sub = subscriptions.save(
            ctx.engine, kind="alert", platform="slack", channel_id="C1", created_by=None, now=START
        )
        for sid, claimed in ((ids[3], START + timedelta(hours=2)), (ids[5], None)):
            conn.execute(
                alerts.insert().values(
                    survey_id=sid,
                    subscription_id=sub.id,
                    channel_id="C1",
                    state="posted",
                    attempts=1,
                    needs_update=False,
                    created_at=START,
                    claimed_by="U1" if claimed else None,
                    claimed_at=claimed,
                )
            )
    digest = build_digest(ctx, subscribe(ctx), now)
    report = digest.report
    assert report.overall.counts == NpsCounts(4, 1, 3)
    assert report.period.end > now >= report.period.start == now - timedelta(days=7)
    assert [s.key for s in digest.best] == ["Billing", "Tech"]  # min_n 3
    assert [s.key for s in digest.too_few] == ["Sales"]
    assert [c.score for c in digest.comments] == [2, 4, 10], "detractors first, then newest"
    assert (digest.follow_up.followed, digest.follow_up.total) == (1, 2)
    assert len(digest.trend) == 12
    assert digest.trend[-1].week_start == datetime(2026, 11, 16, tzinfo=UTC), "full weeks: the slot's week just began"
    assert digest.trend[-1].counts.n == 8 and sum(p.counts.n for p in digest.trend) == 8
    assert digest.chart_title() == "Weekly NPS, 12 full weeks to 22 Nov 2026 (95 % margin band)"

    text = render_text(digest)
    assert "NPS last 7 days: +12" in text
    assert "No answers in the previous period to compare with." in text
    assert "Detractors followed up within 48 h: 1 of 2" in text
    assert "Nobody called back" in text and "Sales (1)" in text
    assert "c1@example.com" not in text

    title, blocks = digest_blocks(digest)
    assert "NPS" in title
    dumped = repr(blocks)
    assert "&lt;@channel&gt; &amp; co" in dumped and "<@channel>" not in dumped
    assert "<https://help.example.com/tickets/5?a=1&amp;b=2|ticket>" in dumped
    assert "Detractors followed up within 48 h: 1 of 2" in dumped


def test_empty_period_renders(ctx: AppContext) -> None:
    digest = build_digest(ctx, None, FIRST_SLOT)
    assert "no answers yet" in render_text(digest)
    _, blocks = digest_blocks(digest)
    check_limits(blocks)


def check_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 2000 for e in block["elements"])


def test_blocks_within_slack_limits_for_huge_digests() -> None:
    period = parse_period("7d", FIRST_SLOT)
    segments = tuple(SegmentStats(f"Team {'x' * 80} {i}", NpsCounts(i % 17, 3, i % 5), 40, 20) for i in range(200))
    report = ScoreReport(period, "x" * 300, SegmentStats(None, NpsCounts(900, 300, 200), 4000, 1400), segments, 10)
    reliable = [s for s in report.ranked() if s.counts.n >= 10]
    few = [s for s in report.ranked() if s.counts.n < 10]
    long = "<!channel> " + "word " * 600
    comments = tuple(
        CommentRow(3, long[:3000], "N" * 300, "A" * 300, "T" * 300, "https://x.example/" + "p" * 2000, "generic", START)
        for _ in range(3)
    )
    trend = tuple(TrendPoint(START - timedelta(weeks=i), NpsCounts(i, 1, 2)) for i in range(12))
    digest = Digest(
        report, tuple(reliable[:3]), tuple(reliable[-3:]), tuple(few), comments, FollowUp(3, 9), trend, START
    )
    text, blocks = digest_blocks(digest)
    check_limits(blocks)
    assert len(text) <= 3000
    assert "<!channel>" not in repr(blocks)
    assert len(render_text(digest)) < 20_000
