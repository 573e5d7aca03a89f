"""The connector SDK's own edges (nps_bot/plugin): signature headers a sender controls, a vendor's odd
Retry-After, ids and hosts as admins and payloads write them, and what `nps-bot config` prints."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings
from starlette.requests import Request

from nps_bot import settings_doc
from nps_bot.plugin import auth, http, signing
from nps_bot.plugin.payloads import language_code
from nps_bot.plugin.ports import BadPayload, DeliveryRetry, DeliveryUnavailable, json_value
from nps_bot.plugin.reply import numeric_id
from nps_bot.plugin.requests import read_limited
from nps_bot.plugin.retry import MAX_BACKOFF, backoff
from nps_bot.plugin.settings import base_config, host_name
from tests.conftest import Live
from tests.db_helpers import survey_rows as rows
from tests.support.app import generic_event

NOW = 1_800_000_000.0

# -- our own signature (X-NPS-Signature) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param(f"t={'9' * 400},v1=00", "not an integer", id="timestamp-of-400-digits"),
        pytest.param(f"t={int(NOW):+d},v1=00", "not an integer", id="signed-timestamp"),
        pytest.param("t=1_800_000_000,v1=00", "not an integer", id="underscores"),
        pytest.param("t=١٨٠٠٠٠٠٠٠٠,v1=00", "not an integer", id="other-scripts-digits"),
    ],
)
def test_a_timestamp_that_is_not_plain_digits_is_refused_with_a_reason(header: str, reason: str) -> None:
    with pytest.raises(signing.SignatureError, match=reason):
        signing.verify(["s3cret"], header, b"{}", NOW, 300)


@pytest.mark.parametrize("sent_at", [10**400, float("inf"), float("nan")], ids=["huge-int", "inf", "nan"])
def test_a_timestamp_no_float_can_hold_is_outside_the_window(sent_at: float) -> None:
    with pytest.raises(auth.SignatureError, match="outside the allowed window"):
        auth.check_fresh(sent_at, NOW, 300)


def test_a_huge_signature_timestamp_over_http_is_a_401(make_live: Callable[..., Live]) -> None:
    live = make_live()
    response = live.http.post(
        "/webhooks/generic",
        json=generic_event(),
        headers={signing.HEADER: f"t={'9' * 400},v1=00"},
    )
    assert response.status_code == 401, response.text
    assert rows(live) == []


def test_many_signatures_in_one_header_cost_one_hmac_per_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender can list thousands of v1 entries in one header: each must not cost an HMAC of the whole body."""
    body = b"x" * 100_000
    header = f"t={int(NOW)}," + ",".join(f"v1={n:064x}" for n in range(2000))
    made: list[int] = []
    real_new = hmac.new

    def counting_new(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return real_new(*args, **kwargs)

    monkeypatch.setattr(hmac, "new", counting_new)
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(["old-secret", "new-secret"], header, body, NOW, 300)
    assert len(made) == 2
    # ... and a real signature among forged ones still verifies.
    good = signing.sign("new-secret", body, int(NOW)).split(",")[1]
    signing.verify(["old-secret", "new-secret"], f"{header},{good}", body, NOW, 300)


# -- vendor HTTP: Retry-After, and what an error message may carry -------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("soon", None),
        ("inf", None),
        ("1e400", None),
        ("nan", None),
        ("-5", 0.0),
    ],
)
def test_retry_after_is_read_or_ignored_never_an_error(value: str, expected: float | None) -> None:
    assert http.retry_after_seconds(httpx.Response(503, headers={"retry-after": value})) == expected


def test_retry_after_as_an_http_date_without_a_zone_is_gmt() -> None:
    in_a_minute = httpx.Response(503, headers={"retry-after": "Wed, 01 Jan 2098 00:01:00 -0000"})
    seconds = http.retry_after_seconds(in_a_minute)
    expected = 4_039_372_860 - time.time()  # 2098-01-01T00:01:00Z
    assert seconds is not None and abs(seconds - expected) < 5


def test_a_503_with_an_unreadable_retry_after_is_a_plain_retry() -> None:
    with respx.mock() as router, httpx.Client() as client:
        router.post("https://api.vendor.example/reply").mock(
            return_value=httpx.Response(503, headers={"retry-after": "soon"})
        )
        with pytest.raises(DeliveryRetry) as exc:
            http.send(client, "POST", "https://api.vendor.example/reply", what="vendor reply", attempts=1)
    assert exc.value.retry_after is None
    assert "HTTP 503" in str(exc.value)


def test_a_refusal_quotes_the_vendor_without_the_customers_address_or_survey_link() -> None:
    echoed = '{"error": "recipient ruta@example.com rejected", "body": "https://nps.example/s/AbCdEfGh123456?score=9"}'
    with respx.mock() as router, httpx.Client() as client:
        router.post("https://api.vendor.example/reply").mock(return_value=httpx.Response(422, text=echoed))
        with pytest.raises(DeliveryUnavailable) as exc:
            http.send(client, "POST", "https://api.vendor.example/reply", what="vendor reply")
    reason = str(exc.value)
    assert reason.startswith("vendor reply: HTTP 422") and "rejected" in reason
    assert "ruta@example.com" not in reason
    assert "AbCdEfGh123456" not in reason


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, None, timedelta(seconds=30)),
        (3, None, timedelta(minutes=2)),
        (3, 600.0, timedelta(minutes=10)),
        (80, None, MAX_BACKOFF),  # a queue that kept failing for weeks
        (1, float("inf"), MAX_BACKOFF),
        (1, 1e300, MAX_BACKOFF),
        (1, float("nan"), timedelta(seconds=30)),
    ],
)
def test_backoff_never_overflows(attempt: int, retry_after: float | None, expected: timedelta) -> None:
    assert backoff(attempt, retry_after) == expected


# -- ids, hosts, languages as payloads and admins write them ----------------------------------------


@pytest.mark.parametrize("value", ["١٢٣", "²", "12a", "", None, " 12"])
def test_only_ascii_digits_are_a_numeric_id(value: str | None) -> None:
    with pytest.raises(DeliveryUnavailable, match="is not numeric"):
        numeric_id("vendor ticket", value)


def test_ascii_digits_are_a_numeric_id() -> None:
    assert numeric_id("vendor ticket", "35436") == "35436"


async def test_a_content_length_in_other_digits_is_not_a_crash() -> None:
    sent = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return sent.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", "²".encode("latin-1"))]}
    assert await read_limited(Request(scope, receive), limit=1024) == b"{}"


@pytest.mark.parametrize(
    ("pasted", "host"),
    [
        ("acme", "acme.zendesk.com"),
        ("acme.zendesk.com", "acme.zendesk.com"),
        ("https://acme.zendesk.com/agent/tickets/35436", "acme.zendesk.com"),
        (" HTTPS://Acme.Zendesk.com/ ", "acme.zendesk.com"),
        ("acme.zendesk.com/agent", "acme.zendesk.com"),
        ("support.acme.example", "support.acme.example"),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
        ("", None),
        (None, None),
    ],
)
def test_host_name_from_what_admins_paste(pasted: str | None, host: str | None) -> None:
    assert host_name(pasted, "zendesk.com") == host


@pytest.mark.parametrize(
    ("value", "code"),
    [("lt", "lt"), ("en-US", "en-US"), ("en\n", "en"), (" pt_BR ", "pt_BR"), ("en\nX-Other: 1", None)],
)
def test_language_tags_are_whole_values(value: str, code: str | None) -> None:
    assert language_code(value) == code


# -- `nps-bot config` -------------------------------------------------------------------------------


class _Vendor(BaseSettings):
    model_config = base_config("NPS_BOT_TESTVENDOR_")
    dsn: SecretStr | None = None  # a secret whose name says nothing
    webhook_key: str = ""

    @field_validator("webhook_key")
    @classmethod
    def _long(cls, value: str) -> str:
        if value and len(value) < 40:
            raise ValueError("must be at least 40 characters")
        return value


def test_config_masks_optional_secrets_and_never_quotes_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_doc, "sources", lambda: [settings_doc.Source("testvendor", _Vendor)])
    monkeypatch.setenv("NPS_BOT_TESTVENDOR_DSN", "postgresql://app@db/x?password=hunter2")
    listed, errors = settings_doc.effective()
    [(_, rows_)] = listed
    assert {r.setting.field: r.value for r in rows_} == {"dsn": "****"}  # (unset ones are not listed)

    monkeypatch.setenv("NPS_BOT_TESTVENDOR_WEBHOOK_KEY", "too-short-but-still-secret")
    listed, errors = settings_doc.effective()
    assert listed == []
    assert errors == ["_Vendor: webhook_key: Value error, must be at least 40 characters"]


def test_settings_doc_refuses_a_readme_without_markers_in_one_line(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no table here\n", encoding="utf-8")
    assert settings_doc._main(["--write", str(readme)]) == 1
    assert "has no" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == "# no table here\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(json_values)
def test_bodies_read_as_json_reads_them(value: Any) -> None:
    # orjson does the reading where it agrees with json; integers past 64 bits (ids), NaN, 1e400 and
    # lone surrogates must come back exactly as json reads them: same values, same types.
    body = json.dumps(value).encode()
    assert repr(json_value(body)) == repr(json.loads(body))


@pytest.mark.parametrize(
    "body",
    [b'{"id": 123456789012345678901234567890}', b"[-9223372036854775809, 18446744073709551616]", b"[1e400, NaN]"],
)
def test_numbers_orjson_would_change_are_read_by_json(body: bytes) -> None:
    assert repr(json_value(body)) == repr(json.loads(body))


@pytest.mark.parametrize(("body", "reason"), [(b"{", "malformed JSON"), (b"[" * 100_000, "nested too deeply")])
def test_unreadable_bodies_keep_their_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        json_value(body)
