"""When digests are due: cron rules in the subscriber's time zone, one post per slot.

A slot is claimed by inserting its `digest_runs` row, so with any number of workers, and after a
restart, each slot is posted once. Only the latest slot is ever due: after downtime the missed
digest is posted late, once, and older missed slots are skipped (a pile of stale digests helps
no one). A claim whose post failed or whose worker died is taken over after RETRY_AFTER, until
the next slot replaces it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy import Engine

from nps_bot.store.schema import digest_runs
from nps_bot.store.sql import insert_ignore
from nps_bot.subscriptions import Subscription

RETRY_AFTER = timedelta(minutes=5)
DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
RULE_HELP = "`weekly <mon..sun> HH:MM` or `daily HH:MM` (24-hour clock, your Slack time zone)"


def _hhmm(text: str) -> tuple[int, int]:
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"`{text}` is not a time like 09:00; use {RULE_HELP}")
    return int(match.group(1)), int(match.group(2))


def rule_from_words(*words: str) -> str:
    """`weekly mon 09:00` → `0 9 * * 1`; `daily 08:30` → `30 8 * * *`."""
    words = tuple(w.lower() for w in words)
    if len(words) == 3 and words[0] == "weekly":
        if words[1][:3] not in DAYS:
            raise ValueError(f"`{words[1]}` is not a weekday; use {RULE_HELP}")
        hour, minute = _hhmm(words[2])
        return f"{minute} {hour} * * {DAYS[words[1][:3]]}"
    if len(words) == 2 and words[0] == "daily":
        hour, minute = _hhmm(words[1])
        return f"{minute} {hour} * * *"
    raise ValueError(f"say when: {RULE_HELP}")


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def latest_slot(sub: Subscription, now: datetime) -> datetime | None:
    """The most recent fire time at or before `now` (UTC), unless it came before the subscription."""
    if not sub.cron:
        return None
    tz = zone(sub.timezone)
    # croniter walks naive wall-clock time (+1 s makes a slot at exactly `now` due); fold=0 maps a
    # wall time that happens twice when clocks go back to its first occurrence, so it fires once.
    it = croniter(sub.cron, now.astimezone(tz).replace(tzinfo=None) + timedelta(seconds=1))
    while (slot_utc := it.get_prev(datetime).replace(tzinfo=tz).astimezone(UTC)) > now:
        pass  # a wall time inside a spring-forward gap maps past `now`: take the one before
    if slot_utc < sub.created_at:
        return None
    return slot_utc


def claim(engine: Engine, sub_id: int, slot: datetime, owner: str, now: datetime) -> bool:
    """True when this worker may post `slot` now: first claim, or a stale unposted one taken over."""
    with engine.begin() as conn:
        values = {"subscription_id": sub_id, "slot_at": slot, "claimed_by": owner, "claimed_at": now}
        if insert_ignore(conn, digest_runs, values, ("subscription_id", "slot_at")):
            return True
        taken = conn.execute(
            digest_runs.update()
            .where(
                digest_runs.c.subscription_id == sub_id,
                digest_runs.c.slot_at == slot,
                digest_runs.c.posted_at.is_(None),
                digest_runs.c.claimed_at < now - RETRY_AFTER,
            )
            .values(claimed_by=owner, claimed_at=now)
        )
        return taken.rowcount == 1


def mark_posted(engine: Engine, sub_id: int, slot: datetime, ref: str, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            digest_runs.update()
            .where(digest_runs.c.subscription_id == sub_id, digest_runs.c.slot_at == slot)
            .values(posted_at=now, message_ref=ref, error=None)
        )


def mark_failed(engine: Engine, sub_id: int, slot: datetime, error: str) -> None:
    """Keep the claim (so no other worker retries at once) with the error; retried after RETRY_AFTER."""
    with engine.begin() as conn:
        conn.execute(
            digest_runs.update()
            .where(digest_runs.c.subscription_id == sub_id, digest_runs.c.slot_at == slot)
            .values(error=error[:2000])
        )


def runs(engine: Engine, sub_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(digest_runs).where(digest_runs.c.subscription_id == sub_id).order_by(digest_runs.c.slot_at)
            )
        )
