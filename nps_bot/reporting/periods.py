"""Reporting periods: `7d`, `30d`, `90d`, `all`, `this-week`, `last-week`, `this-month`, `last-month`,
`quarter`, `YYYY-MM-DD..YYYY-MM-DD` (inclusive days, UTC). Each knows its equal previous period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_DAYS = re.compile(r"^(\d{1,4})d$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PERIOD_HELP = "7d, 30d, 90d, all, this-week, last-week, this-month, last-month, quarter or YYYY-MM-DD..YYYY-MM-DD"


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start, f"previous {self.label}")


def _through(now: datetime) -> datetime:
    """Exclusive end for periods that run up to and including `now`."""
    return now + timedelta(microseconds=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def parse_period(text: str, now: datetime) -> Period:
    """Raise ValueError naming the accepted forms when `text` is none of them."""
    text = text.strip().lower()
    end = _through(now)
    today = now.astimezone(UTC).date()
    if m := _DAYS.match(text):
        days = int(m.group(1))
        if days < 1:
            raise ValueError("a period needs at least one day")
        return Period(now - timedelta(days=days), end, "last 24 hours" if days == 1 else f"last {days} days")
    if text == "all":
        return Period(EPOCH, end, "all time")
    if text == "this-week":
        start = today - timedelta(days=today.weekday())
        return Period(_midnight(start), end, "this week")
    if text == "last-week":
        start = today - timedelta(days=today.weekday() + 7)
        return Period(_midnight(start), _midnight(start + timedelta(days=7)), "last week")
    if text == "this-month":
        return Period(_midnight(today.replace(day=1)), end, "this month")
    if text == "last-month":
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        return Period(_midnight(start), _midnight(end), f"{start:%B %Y}")
    if text == "quarter":
        first_month = 3 * ((today.month - 1) // 3) + 1
        start = today.replace(month=first_month, day=1)
        return Period(_midnight(start), end, f"Q{(first_month - 1) // 3 + 1} {today.year}")
    if m := _RANGE.match(text):
        try:
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError as exc:
            raise ValueError(f"bad date in {text!r}: {exc}") from None
        if last < first:
            raise ValueError("the range ends before it starts")
        try:
            period = Period(_midnight(first), _midnight(last + timedelta(days=1)), f"{first}..{last}")
            period.previous()  # reports compare with it: it must fit in the calendar too
        except OverflowError:
            raise ValueError(f"the range {text!r} reaches past the dates a report can compare") from None
        return period
    raise ValueError(f"unknown period {text!r}; use {PERIOD_HELP}")
