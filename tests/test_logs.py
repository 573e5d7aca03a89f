"""Logs never carry secrets: e-mail addresses, Slack tokens, survey tokens, query-string secrets."""

from __future__ import annotations

import logging

import pytest

from nps_bot.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    ("line", "leak"),
    [
        ('127.0.0.1:5000 - "GET /s/Zx9_kq-3LmNoPqRsTuVwXyZ012345678?score=9 HTTP/1.1" 200', "Zx9_kq-3LmNoPqRsTuVwXyZ"),
        ('127.0.0.1:5000 - "POST /s/Zx9_kq-3LmNoPqRsTuVwXyZ012345678/comment HTTP/1.1" 303', "Zx9_kq"),
        ('"POST /webhooks/liveagent?token=0123456789abcdef HTTP/1.1" 202', "0123456789abcdef"),
        ('"GET /l/zendesk/42?email=a%40b.io&score=9&sig=deadbeefcafe HTTP/1.1" 200', "deadbeefcafe"),
        ("slack said invalid_auth for xoxb-1234-5678-abcdef", "1234-5678"),
        ("customer ana.b+nps@example.co.uk bounced", "ana.b+nps@example.co.uk"),
    ],
)
def test_secrets_are_masked(line: str, leak: str) -> None:
    assert leak not in redact(line)


def test_ordinary_lines_are_untouched() -> None:
    line = '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200; survey 42 sent via slack'
    assert redact(line) == line


def test_the_filter_rewrites_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/s/abcdefghijklmnop?score=3", "1.1", 200), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert "abcdefghijklmnop" not in record.getMessage() and "/s/***" in record.getMessage()


def test_the_console_channel_keeps_its_links_but_not_e_mails() -> None:
    record = logging.LogRecord(
        "nps_bot.delivery.console", logging.INFO, __file__, 1,
        "[console] would send NPS survey 1 to %s: %s", ("ana@example.com", "http://x/s/abcdefghijklmnop"), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert "/s/abcdefghijklmnop" in record.getMessage() and "ana@example.com" not in record.getMessage()


def test_setup_quiets_request_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    from nps_bot import logs

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    for name in ("httpx", "httpcore", "slack_sdk", "slack_bolt", "urllib3", "alembic.runtime.plugins"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    logs.setup("INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("nps_bot.delivery.worker").isEnabledFor(logging.INFO)
