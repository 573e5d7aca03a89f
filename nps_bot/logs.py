"""Logging set-up. A filter masks e-mail addresses, Slack tokens, survey tokens in `/s/<token>` paths
and secrets in query strings (`?token=`, `&sig=`) in every record, uvicorn's access log included: the
code already avoids logging them, and a stray vendor error message or request line must not leak one."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"\b(xox[abpr]|xapp)-[\w-]+")
_SURVEY_PATH = re.compile(r"(/s/)[\w-]{8,}")
_QUERY_SECRET = re.compile(r"([?&](?:token|sig|signature|secret|api_?key)=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    text = _QUERY_SECRET.sub(r"\1***", _SURVEY_PATH.sub(r"\1***", text))
    return _TOKEN.sub(r"\1-***", _EMAIL.sub("<email>", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO on every start; keep start-up logs readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
