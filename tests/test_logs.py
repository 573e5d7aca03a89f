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
