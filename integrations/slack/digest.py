"""Scheduled channel digests on Slack: Block Kit message, trend chart upload and the job that posts them.

Exactly-once per slot comes from nps_bot.followups.schedule (the digest_runs insert is the claim);
this module only decides what to post and records how it went. The message goes first and is
recorded as posted at once; the chart follows as a file share in the channel. A chart that fails
is noted on the run, never a reason to post the digest twice.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.blocks import Blocks, escape
from nps_bot.followups.digests import (
    Digest,
    arrow,
    build_digest,
    change_line,
    comment_meta,
    follow_up_line,
    segment_lines,
    too_few_line,
)
from nps_bot.followups.schedule import Claim, latest_slot, mark_failed, mark_posted, note_posted, take, zone
from nps_bot.followups.subscriptions import Subscription, list_for
from nps_bot.plugin.ports import Host
from nps_bot.reporting.scoring import margin_label
from nps_bot.reporting.text import percent, signed, split

log = logging.getLogger(__name__)

PLATFORM = "slack"
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000  # per context element text
CONTEXT_ELEMENTS = 10
HEADER_LIMIT = 150
COMMENT_LIMIT = 700  # a digest quotes, it doesn't reprint essays
CHART_FILENAME = "nps-trend.png"
LATE_AFTER = timedelta(minutes=10)  # later than this past its slot, the digest says when it was due
# Slack errors that the same request will get again: give the slot up instead of retrying it.
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "is_archived",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "not_authed",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
    }
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _context(*texts: str) -> dict[str, Any] | None:
    elements = [{"type": "mrkdwn", "text": _cut(t, CONTEXT_LIMIT)} for t in texts if t][:CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements} if elements else None


def _code(lines: list[str]) -> str:
    """A ``` block that fits a section, cut at a line boundary."""
    body = escape("\n".join(lines))
    if len(body) > SECTION_LIMIT - 6:
        body = body[: SECTION_LIMIT - 10].rsplit("\n", 1)[0] + "\n…"
    return f"```{body}```"


def _link(url: str | None, label: str) -> str:
    if not url or not url.startswith(("https://", "http://")) or "|" in url or len(url) > 1000:
        return ""
    return f"<{escape(url)}|{label}>"


def _quote(comment: str) -> str:
    text = escape(_cut(" ".join(comment.split()), COMMENT_LIMIT))
    return f"> {text}"


def _headline(digest: Digest) -> str:
    o = digest.report.overall
    if not o.counts.n:
        return f"*No answers in the {escape(digest.report.period.label)}.*"
    est = o.estimate
    parts = [f"*NPS {signed(est.value)}*", arrow(digest.change), f"({margin_label(est)} at 95 %)"]
    text = " ".join(p for p in parts if p)
    text += f"\n{o.counts.n} answers"
    if o.response_rate is not None:
        text += f" · response rate {percent(o.response_rate)}"
    if o.counts.n < digest.report.min_n:
        text += f"\n_Too few answers to be reliable (fewer than {digest.report.min_n})._"
    return text


def digest_blocks(digest: Digest, *, note: str | None = None) -> tuple[str, Blocks]:
    """The digest message (within Slack limits) and its notification fallback text.

    At most 14 blocks whatever the data: long tables are cut at a line, comments at COMMENT_LIMIT.
    `note` (plain text, e.g. "posted late") goes in a context line under the header.
    """
    report = digest.report
    blocks: list[dict[str, Any] | None] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(digest.title, HEADER_LIMIT), "emoji": True}},
        _context(f"_{escape(note)}_") if note else None,
        _section(_headline(digest)),
    ]
    if report.overall.counts.n:
        blocks.append(_context(escape(change_line(digest)), escape(split(report.overall))))
    if report.dimension:
        blocks.append(_section(f"*Best and worst by {escape(report.dimension)}*\n{_code(segment_lines(digest))}"))
        blocks.append(_context(escape(too_few_line(digest))))
    if digest.comments:
        blocks.append({"type": "divider"})
        blocks.append(_section("*Recent comments*"))
        for c in digest.comments:
            blocks.append(_section(_quote(c.comment)))
            blocks.append(_context(escape(comment_meta(c)), _link(c.ticket_url, "ticket")))
    blocks.append({"type": "divider"})
    blocks.append(_context(f":white_check_mark: {escape(follow_up_line(digest.follow_up))}"))
    text = f"{digest.title}: {digest.headline}"
    return _cut(text, SECTION_LIMIT), [b for b in blocks if b is not None][:MAX_BLOCKS]


def late_note(sub: Subscription, slot: datetime, now: datetime) -> str | None:
    if now - slot <= LATE_AFTER:
        return None
    tz = zone(sub.timezone)
    return f"Scheduled for {slot.astimezone(tz):%a %d %b %H:%M} ({tz.key}); posted late."


class DigestJob:
    """Posts each Slack digest subscription once per slot (nps_bot.plugin.ports.PeriodicJob)."""

    name = "slack-digests"

    def __init__(self, ctx: Host, client: WebClient, owner: str | None = None) -> None:
        self.ctx = ctx
        self.client = client
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}")[:64]
        # Slots known to be posted or given up, per subscription: polls between slots cost one
        # SELECT of the subscriptions and no write.
        self._settled: dict[int, datetime] = {}

    def run_due(self, now: datetime) -> int:
        posted = 0
        for sub in list_for(self.ctx.engine, platform=PLATFORM, kind="digest"):
            slot = latest_slot(sub, now)
            if slot is None or self._settled.get(sub.id) == slot:
                continue
            try:
                state = take(self.ctx.engine, sub.id, slot, self.owner, now)
            except Exception:  # e.g. the subscription was deleted under us; the others still run
                log.exception("digest slot %s for %s could not be claimed", slot, sub.channel_id)
                continue
            if state is Claim.SETTLED:
                self._settled[sub.id] = slot
            elif state is Claim.CLAIMED:
                posted += self._run(sub, slot, now)
        return posted

    def _run(self, sub: Subscription, slot: datetime, now: datetime) -> int:
        engine = self.ctx.engine
        try:
            digest = build_digest(self.ctx, sub, slot)
            text, blocks = digest_blocks(digest, note=late_note(sub, slot, now))
            response = self.client.chat_postMessage(
                channel=sub.channel_id, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
            again = mark_failed(
                engine, sub.id, slot, f"slack: {error}", owner=self.owner, final=error in PERMANENT_ERRORS
            )
            log.warning(
                "digest for %s (slot %s) failed: %s; %s",
                sub.channel_id,
                slot,
                error,
                "retried later" if again else "gave up",
            )
            return 0
        except Exception as exc:  # a bug or an outage must not stop the other subscriptions
            log.exception("digest for %s (slot %s) failed", sub.channel_id, slot)
            mark_failed(engine, sub.id, slot, repr(exc), owner=self.owner)
            return 0
        mark_posted(engine, sub.id, slot, f"{response['channel']}:{response['ts']}", now)
        self._settled[sub.id] = slot
        if problem := self._upload_chart(sub, digest):
            note_posted(engine, sub.id, slot, problem)
        return 1

    def _upload_chart(self, sub: Subscription, digest: Digest) -> str | None:
        """Share the trend chart under the digest; returns what went wrong, if anything."""
        try:
            self.client.files_upload_v2(
                channel=sub.channel_id,
                file=digest.chart_png(),
                filename=CHART_FILENAME,
                title=digest.chart_title(),
                alt_txt="Weekly NPS line with its 95 % margin-of-error band",
                initial_comment=None,
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
            log.warning("digest chart for %s not uploaded: %s", sub.channel_id, error)
            return f"chart: slack: {error}"
        except Exception as exc:
            log.exception("digest chart for %s not uploaded", sub.channel_id)
            return f"chart: {exc!r}"
        return None
