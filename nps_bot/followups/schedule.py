"""When digests are due: cron rules in the subscriber's time zone, one post per slot.

A slot is claimed by inserting its `digest_runs` row, so with any number of workers, and after a
restart, each slot is posted once. Only the latest slot is ever due: after downtime the missed
digest is posted late, once, and older missed slots are skipped (a pile of stale digests helps
no one); a subscription never gets a slot that fired before it was created (or last changed).

Failures: the row keeps its claim (posted_at NULL) with the error, and another poll takes it
over after a backoff that doubles per failure (RETRY_AFTER, 2x, 4x...), at most MAX_ATTEMPTS
times; errors that retrying cannot fix (archived channel, revoked token) give up at once. The
row counts failed posts in `attempts` and marks `gave_up`. A worker that dies mid-post records
nothing: its claim is a lease that another worker takes over after RETRY_AFTER (such takeovers
are not counted).
"""

from __future__ import annotations

import enum
import logging
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import CroniterError, croniter
from sqlalchemy import Engine

from nps_bot.followups.subscriptions import Subscription
from nps_bot.store.schema import digest_runs
from nps_bot.store.sql import insert_ignore

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)  # the claim's lease, and the wait before the first retry
MAX_ATTEMPTS = 5  # posts tried per slot: at +0, +5, +15, +35 and +75 minutes
DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# Wall clocks jump by at most 2 h at a DST change (Troll, Antarctica); candidates further back
# than this from the local time of `now` cannot be later than one closer in.
_WALL_MARGIN = timedelta(hours=3)
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


def _instant(wall: datetime, tz: tzinfo) -> datetime:
    """A naive local wall time as UTC. fold=0: a time that happens twice when clocks go back is its
    first occurrence (so it fires once); one skipped when they go forward reads with the old offset,
    i.e. as late as the gap is long (03:30 → 04:30 summer time), so that day still gets its slot."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def latest_slot(sub: Subscription, now: datetime) -> datetime | None:
    """The most recent fire time at or before `now` (UTC), unless it came before the subscription."""
    if not sub.cron:
        return None
    tz = zone(sub.timezone)
    wall = now.astimezone(tz).replace(tzinfo=None)
    # Walk back in wall time from a little ahead of `now`: around a DST change, local time is not
    # monotonic in UTC (the repeated hour), so the latest slot is the latest candidate <= now.
    best: datetime | None = None
    try:
        fires = croniter(sub.cron, wall + _WALL_MARGIN)
        while True:
            candidate = fires.get_prev(datetime)
            at = _instant(candidate, tz)
            if at <= now and (best is None or at > best):
                best = at
            if candidate < wall - _WALL_MARGIN:
                break
    except CroniterError as exc:  # a rule that never fires (30 Feb) or was stored broken
        log.warning("digest subscription %s: cron %r unusable: %s", sub.id, sub.cron, exc)
        return None
    if best is None or best < sub.created_at:
        return None
    return best


def retry_delay(failed: int) -> timedelta:
    """How long a claim is held before another poll may take it over."""
    return RETRY_AFTER * 2 ** max(0, failed - 1)


def _slot(sub_id: int, slot: datetime) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """The digest_runs row of one subscription's slot."""
    return digest_runs.c.subscription_id == sub_id, digest_runs.c.slot_at == slot


class Claim(enum.Enum):
    CLAIMED = "claimed"  # post it now
    BUSY = "busy"  # another worker holds it, or it waits for its retry
    SETTLED = "settled"  # posted, or given up: nothing more will happen to this slot


def take(engine: Engine, sub_id: int, slot: datetime, owner: str, now: datetime) -> Claim:
    """Claim `slot` for `owner`: the first claim inserts the row; a failed or abandoned one is taken
    over (compare-and-set on the current holder) once its retry delay has passed.

    Reads before it writes, so the polls between slots (nearly all of them) take no write lock.
    """
    key = _slot(sub_id, slot)
    current = sa.select(
        digest_runs.c.claimed_by,
        digest_runs.c.claimed_at,
        digest_runs.c.posted_at,
        digest_runs.c.attempts,
        digest_runs.c.gave_up,
    ).where(*key)
    with engine.begin() as conn:
        row = conn.execute(current).first()
        if row is None:
            values = {"subscription_id": sub_id, "slot_at": slot, "claimed_by": owner, "claimed_at": now}
            if insert_ignore(conn, digest_runs, values, ("subscription_id", "slot_at")):
                return Claim.CLAIMED
            row = conn.execute(current).first()
            if row is None:  # the subscription (and its runs) were deleted meanwhile
                return Claim.SETTLED
        if row.posted_at is not None or row.gave_up:
            return Claim.SETTLED
        if now - row.claimed_at < retry_delay(row.attempts):
            return Claim.BUSY
        taken = conn.execute(
            digest_runs.update()
            .where(
                *key,
                digest_runs.c.posted_at.is_(None),
                digest_runs.c.claimed_by == row.claimed_by,
                digest_runs.c.claimed_at == row.claimed_at,
            )
            .values(claimed_by=owner, claimed_at=now)
        )
        return Claim.CLAIMED if taken.rowcount == 1 else Claim.BUSY


def claim(engine: Engine, sub_id: int, slot: datetime, owner: str, now: datetime) -> bool:
    """True when this worker may post `slot` now: first claim, or a failed/stale one taken over."""
    return take(engine, sub_id, slot, owner, now) is Claim.CLAIMED


def mark_posted(engine: Engine, sub_id: int, slot: datetime, ref: str, now: datetime) -> None:
    """Record the post ("channel:ts"); the first one wins should a taken-over worker post too."""
    with engine.begin() as conn:
        conn.execute(
            digest_runs.update()
            .where(*_slot(sub_id, slot), digest_runs.c.posted_at.is_(None))
            .values(posted_at=now, message_ref=ref[:255], error=None)
        )


def note_posted(engine: Engine, sub_id: int, slot: datetime, note: str) -> None:
    """Keep a non-fatal problem of a posted slot (e.g. its chart failed) in its error column."""
    with engine.begin() as conn:
        conn.execute(
            digest_runs.update()
            .where(*_slot(sub_id, slot), digest_runs.c.posted_at.is_not(None))
            .values(error=note[:2000])
        )


def mark_failed(
    engine: Engine, sub_id: int, slot: datetime, error: str, *, owner: str | None = None, final: bool = False
) -> bool:
    """Count a failed post and keep the claim, so the retry waits for its backoff; `final` gives up
    on the slot at once. With `owner`, a worker whose claim was taken over meanwhile counts nothing.
    Returns True when the slot will be tried again."""
    key = [*_slot(sub_id, slot), digest_runs.c.posted_at.is_(None)]
    if owner is not None:
        key.append(digest_runs.c.claimed_by == owner)
    with engine.begin() as conn:
        previous = conn.execute(sa.select(digest_runs.c.attempts).where(*key)).first()
        if previous is None:
            return False
        failed = previous.attempts + 1
        gave_up = final or failed >= MAX_ATTEMPTS
        conn.execute(digest_runs.update().where(*key).values(attempts=failed, gave_up=gave_up, error=error[:2000]))
    return not gave_up


def runs(engine: Engine, sub_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(digest_runs).where(digest_runs.c.subscription_id == sub_id).order_by(digest_runs.c.slot_at)
            )
        )
