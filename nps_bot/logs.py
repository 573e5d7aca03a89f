"""Logging set-up. A filter masks e-mail addresses, Slack tokens, survey tokens in `/s/<token>` paths,
signed `/unsubscribe/<token>` links (they encode the address) and secrets in query strings (`?token=`,
`&sig=`) in every record, uvicorn's access log included: the code already avoids logging them, and a
stray vendor error message or request line must not leak one."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)  # also percent-encoded
_TOKEN = re.compile(r"\b(xox[abpr]|xapp)-[\w-]+")
_SURVEY_PATH = re.compile(r"(/s/|/unsubscribe/)[\w.-]{8,}")
# Query parameters that are secrets, or personal data (survey links from help-desk templates carry them).
_QUERY_SECRET = re.compile(r"([?&](?:token|sig|signature|secret|api_?key|email|name)=)[^&\s\"']+", re.IGNORECASE)


# The console channel's whole job is to show the survey link to whoever runs the service without a
# chat platform (its log line *is* the delivery), so its survey links are kept; nothing else is.
CONSOLE_LOGGER = "nps_bot.delivery.console"
# Third-party loggers that log every request URL at INFO (survey links with tokens among them).
_CHATTY = ("httpx", "httpcore", "slack_sdk", "slack_bolt", "urllib3")


def redact(text: str, *, keep_survey_links: bool = False) -> str:
    if not keep_survey_links:
        text = _SURVEY_PATH.sub(r"\1***", text)
    text = _QUERY_SECRET.sub(r"\1***", text)
    return _TOKEN.sub(r"\1-***", _EMAIL.sub("<email>", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, keep_survey_links=record.name == CONSOLE_LOGGER)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """The last pass over the whole line: tracebacks and extra fields are redacted too, not only the
    message (the filter's part)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), keep_survey_links=record.name == CONSOLE_LOGGER)


def formatter(fmt: str = "text") -> logging.Formatter:
    """`text`: one readable line; `json`: one JSON object per line (time, level, logger, message and
    any `extra=` fields), for log pipelines."""
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        inner: logging.Formatter = JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return RedactingFormatter(inner)


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO on every start; keep start-up logs readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if root.level > logging.DEBUG:  # their request lines are detail; at DEBUG they are wanted
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
