"""Human-friendly durations ("90", "15m", "1h", "2d") used by settings and slash commands."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse seconds or a number with a unit suffix; raises ValueError with the accepted forms."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        return timedelta(seconds=value)
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"invalid duration {value!r}: use seconds or a number with s, m, h, d or w (e.g. 1h)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNITS[(unit or "s").lower()])
