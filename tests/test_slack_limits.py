"""Every Block Kit payload stays within Slack's limits and lets no untrusted text ping or phish,
whatever the input: long and odd strings (names, comments, tags, URLs, emoji, right-to-left text,
mrkdwn and Slack control syntax) go through every builder, and each payload is validated with
slack_sdk's Block Kit models plus the documented limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from integrations.slack.blocks.alerts import alert_message, outcome_modal
from integrations.slack.blocks.digest import digest_blocks
from integrations.slack.blocks.home import HomeData, home_view
from integrations.slack.blocks.reports import comments_blocks, report_blocks, trend_blocks
from integrations.slack.blocks.survey import answered_message, comment_modal, survey_message
from integrations.slack.services.commands import Reply, usage
from nps_bot.followups.alerts import AlertRow, OpenFollowUp, SurveyDetails
from nps_bot.followups.digests import Digest
from nps_bot.models import SCALES, Answer, OutgoingSurvey, SurveyRef, SurveyState
from nps_bot.reporting.periods import Period
from nps_bot.reporting.queries import CommentRow, FollowUp, ScoreReport, SegmentStats, TrendPoint
from nps_bot.reporting.scoring import NpsCounts
from nps_bot.surveys import i18n

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CLAIMER = "U0CLAIMER"
HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<@U0BOSS>",
    "<https://evil.example|your bank>",
    "<mailto:a@evil.example|HR>",
    "&amp; &lt; & < > |",
    "*bold* _it_ ~s~ `code` ```block```",
    "שלום עולם مرحبا بالعالم \u202eevil\u202c",
    "👩‍👩‍👧‍👦🇱🇹🏳️‍🌈" * 3,
    "\u0000\t\r\n\u200b",
    "x" * 3000,
]
untrusted = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300),
    st.builds(lambda a, b, n: (a + b) * n, st.sampled_from(HOSTILE), st.text(max_size=20), st.integers(1, 40)),
)
maybe = st.one_of(st.none(), untrusted)
urls = st.one_of(
    st.none(),
    untrusted,
    st.builds(lambda s: "https://help.example.com/t/" + s, untrusted),
    st.builds(lambda n: "https://x.example/" + "p" * n, st.integers(0, 3000)),
)
kinds = st.sampled_from(["nps", "csat", "ces"])
FUZZ = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# What a bot may legitimately put between < and > in mrkdwn: links it built, its own mentions and channels.
_ALLOWED = re.compile(r"<(?:https?://[^\s|<>]+\|[^<>|]*|@U0CLAIMER|#C[A-Z0-9]+)>")


def _texts(node: Any) -> list[tuple[str, str]]:
    """(type, text) of every text object in a payload."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append((node["type"], node["text"]))
        for value in node.values():
            found += _texts(value)
    elif isinstance(node, list):
        for value in node:
            found += _texts(value)
    return found


def check_no_pings(payload: Any, text: str | None = None) -> None:
    mrkdwn = [t for kind, t in _texts(payload) if kind == "mrkdwn"] + ([text] if text is not None else [])
    for value in mrkdwn:
        leftover = _ALLOWED.sub("", value)
        assert "<" not in leftover, f"raw Slack syntax in {value[:200]!r}"


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int) -> None:
    assert 0 < len(blocks) <= max_blocks
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
        kind = block["type"]
        if kind == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif kind == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 2000 for e in block["elements"])
        elif kind == "actions":
            assert len(block["block_id"]) <= 255 and len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["value"]) <= 2000 and 0 < len(element["text"]["text"]) <= 75
                assert len(element["action_id"]) <= 255


def check_message(message: tuple[str, list[dict[str, Any]]]) -> None:
    text, blocks = message
    assert 0 < len(text) <= 3000
    check_blocks(blocks, 50)
    check_no_pings(blocks, text)
    json.dumps(blocks)


def check_view(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    check_blocks(view["blocks"], 100)
    check_no_pings(view["blocks"])
    if view["type"] == "modal":
        assert all(0 < len(view[k]["text"]) <= 24 for k in ("title", "submit", "close"))
        assert len(view["private_metadata"]) <= 3000


def _ref(token: str, kind: str, lang: str, name: str | None, subject: str | None) -> SurveyRef:
    return SurveyRef(1, token, kind, SurveyState.ANSWERED, lang, "slack", "D1:1.2", name, subject)  # type: ignore[arg-type]


tokens = st.one_of(st.just("tok_abc123"), st.text(min_size=1, max_size=3000))
langs = st.sampled_from([*i18n.SUPPORTED, "xx"])


@FUZZ
@given(tokens, kinds, langs, untrusted, maybe, maybe, urls, st.data())
def test_survey_messages_and_modal(
    token: str, kind: str, lang: str, company: str, name: str | None, subject: str | None, url: str | None, data: Any
) -> None:
    survey = OutgoingSurvey(1, token, kind, lang, company, "https://x/s/t", "generic", "T-1", url, subject, name,  # type: ignore[arg-type]
                            None, "U1", None)  # fmt: skip
    check_message(survey_message(survey))
    low, high = SCALES[kind]
    score = data.draw(st.integers(low, high))
    answer = Answer(_ref(token, kind, lang, name, subject), score, data.draw(maybe))
    check_message(answered_message(answer, company))
    check_view(comment_modal(answer))


def _details(kind: str, score: int, texts: list[str | None], url: str | None, tags: list[str]) -> SurveyDetails:
    comment, ticket, subject, channel, team, agent, customer = texts
    return SurveyDetails(1, kind, score, comment, NOW, "generic", ticket or "T", url, subject, channel, team, agent,
                         customer, tuple(tags))  # fmt: skip


@FUZZ
@given(kinds, st.lists(maybe, min_size=7, max_size=7), urls, st.lists(untrusted, max_size=30), st.data())
def test_alert_message_and_outcome_modal(
    kind: str, texts: list[str | None], url: str | None, tags: list[str], data: Any
) -> None:
    low, high = SCALES[kind]
    details = _details(kind, data.draw(st.integers(low, high)), texts, url, tags)
    claimed = data.draw(st.sampled_from([None, CLAIMER]))
    resolved = data.draw(st.sampled_from([None, CLAIMER]))
    alert = AlertRow(1, 1, 1, "C1", "posted", "C1:1.2", 1, None, False, NOW, claimed, NOW if claimed else None,
                     resolved, NOW if resolved else None, data.draw(maybe))  # fmt: skip
    check_message(alert_message(details, alert, data.draw(st.integers(low, high))))
    check_view(outcome_modal(data.draw(st.integers(1, 10**12))))


def _stats(key: str | None, kind: str, n: int) -> SegmentStats:
    if kind == "nps":
        return SegmentStats(key, NpsCounts(n // 2, n // 4, n - n // 2 - n // 4), n * 2, n, kind)
    top = SCALES[kind][1]
    return SegmentStats(key, NpsCounts(0, 0, 0), n * 2, n, kind, n, n // 2, float(n * top - n), float(n * top * top))


def _report(kind: str, label: str, dimension: str | None, keys: list[str | None], n: int) -> ScoreReport:
    period = Period(NOW - timedelta(days=7), NOW, label)
    segments = tuple(_stats(k, kind, (i * 7) % 40) for i, k in enumerate(keys))
    overall = _stats(None, kind, n)
    return ScoreReport(period, dimension, overall, segments, 10, kind)


reports = st.builds(
    _report, kinds, untrusted, maybe, st.lists(maybe, max_size=250), st.integers(0, 5000)
)  # fmt: skip


def _comment(score: int, texts: list[str | None], url: str | None) -> CommentRow:
    comment, name, agent, team = texts
    return CommentRow(score, comment or "", name, agent, team, url, "generic", NOW)


comment_rows = st.builds(_comment, st.integers(0, 10), st.lists(maybe, min_size=4, max_size=4), urls)


@FUZZ
@given(reports, st.lists(comment_rows, max_size=60), untrusted, kinds, st.integers(1, 52))
def test_report_trend_and_comment_replies(
    report: ScoreReport, rows: list[CommentRow], label: str, kind: str, weeks: int
) -> None:
    check_message(report_blocks(report))
    check_message(comments_blocks(rows, label, kind))
    points = [TrendPoint(NOW - timedelta(weeks=i), NpsCounts(i, 1, 2), kind, i % 9, i % 5 if i % 5 <= i % 9 else 0,
                         4.0 * (i % 9), 16.0 * (i % 9) + i % 2) for i in range(weeks)]  # fmt: skip
    check_message(trend_blocks(points, weeks, 10, kind))


@FUZZ
@given(reports, st.lists(reports, max_size=2), st.lists(st.tuples(maybe, kinds, st.integers(0, 10)), max_size=150))
def test_home_view(report: ScoreReport, others: list[ScoreReport], items: list[tuple[str | None, str, int]]) -> None:
    follow_ups = [
        OpenFollowUp(i, i, "C0ALERTS" if i % 2 else "<!here>", None, score, name, CLAIMER if i % 3 else None, NOW, kind)
        for i, (name, kind, score) in enumerate(items)
    ]  # fmt: skip
    trend = [TrendPoint(NOW - timedelta(weeks=i), NpsCounts(i, 1, 2)) for i in range(8)]
    check_view(home_view(HomeData(report, trend, follow_ups, others)))


@FUZZ
@given(reports, st.lists(reports, max_size=2), st.lists(comment_rows, max_size=5), maybe)
def test_digest(report: ScoreReport, others: list[ScoreReport], rows: list[CommentRow], note: str | None) -> None:
    ranked = report.ranked()
    trend = tuple(TrendPoint(NOW - timedelta(weeks=i), NpsCounts(i, 1, 2)) for i in range(12))
    digest = Digest(report, tuple(ranked[:3]), tuple(ranked[-3:]), tuple(ranked), tuple(rows), FollowUp(1, 3), trend,
                    NOW, tuple(others))  # fmt: skip
    check_message(digest_blocks(digest, note=note))


@FUZZ
@given(maybe)
def test_slash_command_replies(error: str | None) -> None:
    ack = usage(error).as_ack()
    check_blocks(ack["blocks"], 50)
    check_no_pings(ack["blocks"], ack["text"])
    check_blocks(Reply(ack["text"]).as_ack()["blocks"], 50)
