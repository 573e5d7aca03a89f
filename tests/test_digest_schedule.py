"""Digest slots: local time zones (with DST), exactly once per slot, late once after downtime."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from nps_bot import digest_schedule as ds
from nps_bot import subscriptions
from nps_bot.store import create_engine_for, migrate
from nps_bot.subscriptions import Subscription


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
