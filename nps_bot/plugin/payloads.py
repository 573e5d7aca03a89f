"""Helpers for webhook bodies that help-desk admins write themselves with placeholders.

Such bodies carry the marks of their templates: a placeholder that does not apply renders as ""
(or stays unexpanded, "{{ticket.x}}"), times come in whatever format the help desk prints, and a
language may be a tag ("lt-LT") or a name ("Lithuanian").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from babel import Locale

_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
LIQUID_MARKS = ("{{", "{%")


def clean(value: Any, marks: tuple[str, ...] = LIQUID_MARKS) -> Any:
    """Strip strings; "" and unrendered placeholders become None, recursively."""
    if isinstance(value, str):
        text = value.strip()
        if not text or any(m in text for m in marks):
            return None
        return text
    if isinstance(value, dict):
        return {str(k): clean(v, marks) for k, v in value.items()}
    if isinstance(value, list):
        return [item for item in (clean(v, marks) for v in value) if item is not None]
    return value


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 (naive means UTC); anything unparseable is None rather than an error."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cache
def _language_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code, name in Locale("en").languages.items():
        if "_" not in code:
            names.setdefault(name.lower(), code)
    return names


def language_code(*candidates: str | None) -> str | None:
    """The first usable language among candidates: a tag ("lt", "en-US") or an English name ("Lithuanian")."""
    for value in candidates:
        if not value:
            continue
        if _LANG_TAG.match(value):
            return value[:35]
        code = _language_names().get(value.split("(")[0].strip().lower())
        if code:
            return code
    return None
