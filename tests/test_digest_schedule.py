"""Digest slots: local time zones (with DST), exactly once per slot, late once after downtime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from nps_bot.followups import schedule as ds
from nps_bot.followups import subscriptions
from nps_bot.followups.subscriptions import Subscription
from nps_bot.store import create_engine_for, migrate


def sub(cron: str, tz: str = "Europe/Vilnius", created: datetime | None = None) -> Subscription:
    return Subscription(
        id=1, kind="digest", platform="slack", channel_id="C1", created_by="U1",
        created_at=created or datetime(2026, 1, 1, tzinfo=UTC), cron=cron, timezone=tz, period_days=7,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("words", "cron"),
    [
        (("weekly", "mon", "09:00"), "0 9 * * 1"),
        (("daily", "08:30"), "30 8 * * *"),
        (("WEEKLY", "Sunday", "7:05"), "5 7 * * 0"),
    ],
)
def test_rules_from_words(words: tuple[str, ...], cron: str) -> None:
    assert ds.rule_from_words(*words) == cron


@pytest.mark.parametrize("words", [(), ("weekly", "funday", "09:00"), ("daily", "25:00"), ("hourly",), ("daily", "9")])
def test_bad_rules_say_what_is_accepted(words: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|weekday|time like"):
        ds.rule_from_words(*words)


def test_local_time_in_winter_and_summer() -> None:
    monday_9 = sub("0 9 * * 1")
    # Vilnius is UTC+2 in winter, UTC+3 in summer.
    assert ds.latest_slot(monday_9, datetime(2026, 11, 23, 7, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )
    assert ds.latest_slot(monday_9, datetime(2026, 11, 23, 6, 59, tzinfo=UTC)) == datetime(
        2026, 11, 16, 7, 0, tzinfo=UTC
    )
    assert ds.latest_slot(monday_9, datetime(2026, 7, 6, 6, 0, tzinfo=UTC)) == datetime(2026, 7, 6, 6, 0, tzinfo=UTC)


def test_dst_switch_days() -> None:
    daily = sub("30 8 * * *")
    # Clocks go forward on 29 March 2026 and back on 25 October 2026 in Vilnius.
    assert ds.latest_slot(daily, datetime(2026, 3, 29, 6, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 5, 30, tzinfo=UTC)
    assert ds.latest_slot(daily, datetime(2026, 3, 28, 7, 0, tzinfo=UTC)) == datetime(2026, 3, 28, 6, 30, tzinfo=UTC)
    assert ds.latest_slot(daily, datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 6, 30, tzinfo=UTC)


def test_no_slot_before_the_subscription() -> None:
    created = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # after Monday's 07:00 UTC slot
    assert ds.latest_slot(sub("0 9 * * 1", created=created), created + timedelta(hours=1)) is None
    later = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert ds.latest_slot(sub("0 9 * * 1", created=created), later) == later


def test_unknown_time_zone_falls_back_to_utc() -> None:
    assert ds.latest_slot(sub("0 9 * * *", tz="Mars/Olympus"), datetime(2026, 11, 23, 10, tzinfo=UTC)) == datetime(
        2026, 11, 23, 9, tzinfo=UTC
    )


@pytest.fixture
def engine(any_db_url: str) -> Iterator:  # type: ignore[type-arg]
    e = create_engine_for(any_db_url)
    migrate(e)
    yield e
    e.dispose()


def test_each_slot_is_claimed_once_then_retried_only_when_stale(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    s = subscriptions.save(engine, kind="digest", platform="slack", channel_id="C1", created_by="U1",
                           now=now - timedelta(days=30), cron="0 9 * * 1", timezone="Europe/Vilnius")  # fmt: skip
    slot = ds.latest_slot(s, now)
    assert slot is not None
    assert ds.claim(engine, s.id, slot, "worker-a", now)
    assert not ds.claim(engine, s.id, slot, "worker-b", now), "a second worker does not post the same slot"
    ds.mark_failed(engine, s.id, slot, "channel_not_found")
    assert not ds.claim(engine, s.id, slot, "worker-b", now + timedelta(minutes=1)), "no retry storm"
    assert ds.claim(engine, s.id, slot, "worker-b", now + ds.RETRY_AFTER + timedelta(seconds=1))
    ds.mark_posted(engine, s.id, slot, "C1:1.2", now + timedelta(minutes=6))
    assert not ds.claim(engine, s.id, slot, "worker-c", now + timedelta(hours=2)), "posted slots stay posted"
    (run,) = ds.runs(engine, s.id)
    assert (run.claimed_by, run.message_ref, run.error) == ("worker-b", "C1:1.2", None)


def _weekly(engine, now: datetime) -> tuple[Subscription, datetime]:  # type: ignore[no-untyped-def]
    s = subscriptions.save(engine, kind="digest", platform="slack", channel_id="C1", created_by="U1",
                           now=now - timedelta(days=30), cron="0 9 * * 1", timezone="Europe/Vilnius")  # fmt: skip
    slot = ds.latest_slot(s, now)
    assert slot is not None
    return s, slot


def test_retries_back_off_then_give_up(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    s, slot = _weekly(engine, now)
    t = now
    tries = []
    for failed in range(1, ds.MAX_ATTEMPTS + 1):
        assert ds.take(engine, s.id, slot, "w", t) is ds.Claim.CLAIMED
        tries.append(t - now)
        again = ds.mark_failed(engine, s.id, slot, "slack: internal_error", owner="w")
        assert again == (failed < ds.MAX_ATTEMPTS)
        wait = ds.retry_delay(failed)
        assert ds.take(engine, s.id, slot, "w", t + wait - timedelta(seconds=1)) is (
            ds.Claim.BUSY if again else ds.Claim.SETTLED
        )
        t += wait
    assert tries == [timedelta(minutes=m) for m in (0, 5, 15, 35, 75)]
    assert ds.take(engine, s.id, slot, "w", now + timedelta(days=5)) is ds.Claim.SETTLED
    (run,) = ds.runs(engine, s.id)
    assert run.posted_at is None and run.error == "slack: internal_error"
    assert (run.attempts, run.gave_up) == (5, True)


def test_final_errors_and_stale_owners(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    s, slot = _weekly(engine, now)
    assert ds.claim(engine, s.id, slot, "slow", now)
    later = now + ds.RETRY_AFTER
    assert ds.claim(engine, s.id, slot, "fresh", later), "a lease nobody renewed is taken over"
    assert not ds.mark_failed(engine, s.id, slot, "timeout", owner="slow"), "the old holder's failure is not counted"
    (run,) = ds.runs(engine, s.id)
    assert (run.error, run.attempts, run.gave_up) == (None, 0, False)
    assert not ds.mark_failed(engine, s.id, slot, "slack: is_archived", owner="fresh", final=True)
    assert ds.take(engine, s.id, slot, "other", later + timedelta(days=1)) is ds.Claim.SETTLED
    (run,) = ds.runs(engine, s.id)
    assert (run.error, run.attempts, run.gave_up) == ("slack: is_archived", 1, True)


def test_posted_slots_keep_their_first_post_and_notes(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    s, slot = _weekly(engine, now)
    assert ds.claim(engine, s.id, slot, "a", now)
    ds.mark_posted(engine, s.id, slot, "C1:1.1", now)
    ds.mark_posted(engine, s.id, slot, "C1:2.2", now + timedelta(minutes=9))  # a late duplicate report
    ds.note_posted(engine, s.id, slot, "chart: slack: internal_error")
    assert not ds.mark_failed(engine, s.id, slot, "late failure")
    (run,) = ds.runs(engine, s.id)
    assert (run.message_ref, run.posted_at, run.error) == ("C1:1.1", now, "chart: slack: internal_error")
    assert (run.attempts, run.gave_up) == (0, False), "a note on a posted slot is not a failure"
    assert ds.take(engine, s.id, slot, "b", now + timedelta(hours=1)) is ds.Claim.SETTLED


def test_one_takeover_wins_among_many_workers(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    s, slot = _weekly(engine, now)
    assert ds.claim(engine, s.id, slot, "dead", now)
    later = now + ds.RETRY_AFTER + timedelta(seconds=1)
    barrier = threading.Barrier(6)
    won: list[str] = []

    def worker(name: str) -> None:
        barrier.wait()
        if ds.claim(engine, s.id, slot, name, later):
            won.append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert ds.runs(engine, s.id)[0].claimed_by == won[0]


def test_unusable_cron_has_no_slot() -> None:
    assert ds.latest_slot(sub("0 0 30 2 *"), datetime(2026, 11, 23, tzinfo=UTC)) is None
    assert ds.latest_slot(sub("not a rule"), datetime(2026, 11, 23, tzinfo=UTC)) is None
    assert ds.latest_slot(sub(""), datetime(2026, 11, 23, tzinfo=UTC)) is None
