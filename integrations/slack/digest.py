"""Scheduled channel digests on Slack: Block Kit message, trend chart upload and the job that posts them.

Exactly-once per slot comes from nps_bot.digest_schedule (the digest_runs insert is the claim);
this module only decides what to post and records how it went.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.blocks import Blocks, escape
from nps_bot.app import AppContext
from nps_bot.digest_schedule import claim, latest_slot, mark_failed, mark_posted
from nps_bot.digests import (
    Digest,
    arrow,
    build_digest,
    change_line,
    comment_meta,
    follow_up_line,
    segment_lines,
    too_few_line,
)
from nps_bot.report_text import percent, signed, split
from nps_bot.scoring import margin_label
from nps_bot.subscriptions import Subscription, list_for

log = logging.getLogger(__name__)

PLATFORM = "slack"
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000  # per context element text
HEADER_LIMIT = 150
COMMENT_LIMIT = 700  # a digest quotes, it doesn't reprint essays
CHART_FILENAME = "nps-trend.png"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _context(*texts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": _cut(t, CONTEXT_LIMIT)} for t in texts if t][:10]
    return {"type": "context", "elements": elements}


def _code(lines: list[str]) -> str:
    """A ``` block that fits a section, cut at a line boundary."""
    body = escape("\n".join(lines))
    if len(body) > SECTION_LIMIT - 6:
        body = body[: SECTION_LIMIT - 10].rsplit("\n", 1)[0] + "\n…"
    return f"```{body}```"


def _link(url: str | None, label: str) -> str:
    if not url or not url.startswith(("https://", "http://")) or "|" in url:
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
    text = f"*NPS {signed(est.value)}* {arrow(digest.change)}  ({margin_label(est)} at 95 %)"
    text += f"\n{o.counts.n} answers"
    if o.response_rate is not None:
        text += f" · response rate {percent(o.response_rate)}"
    if o.counts.n < digest.report.min_n:
        text += f"\n_Too few answers to be reliable (fewer than {digest.report.min_n})._"
    return text


def digest_blocks(digest: Digest) -> tuple[str, Blocks]:
    """The digest message (within Slack limits) and its notification fallback text."""
    report = digest.report
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(digest.title, HEADER_LIMIT), "emoji": True}},
        _section(_headline(digest)),
    ]
    if report.overall.counts.n:
        blocks.append(_context(escape(change_line(digest)), escape(split(report.overall))))
    if report.dimension:
        blocks.append(_section(f"*Best and worst by {escape(report.dimension)}*\n{_code(segment_lines(digest))}"))
        if line := too_few_line(digest):
            blocks.append(_context(escape(line)))
    if digest.comments:
        blocks.append({"type": "divider"})
        blocks.append(_section("*Recent comments*"))
        for c in digest.comments:
            blocks.append(_section(_quote(c.comment)))
            blocks.append(_context(escape(comment_meta(c)), _link(c.ticket_url, "ticket")))
    blocks.append({"type": "divider"})
    blocks.append(_context(f":white_check_mark: {escape(follow_up_line(digest.follow_up))}"))
    text = f"{digest.title}: {digest.headline}"
    return _cut(text, SECTION_LIMIT), blocks[:MAX_BLOCKS]


class DigestJob:
    """Posts each Slack digest subscription once per slot (nps_bot.ports.PeriodicJob)."""

    name = "slack-digests"

    def __init__(self, ctx: AppContext, client: WebClient, owner: str | None = None) -> None:
        self.ctx = ctx
        self.client = client
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}")[:64]

    def run_due(self, now: datetime) -> int:
        posted = 0
        for sub in list_for(self.ctx.engine, platform=PLATFORM, kind="digest"):
            slot = latest_slot(sub, now)
            if slot is None or not claim(self.ctx.engine, sub.id, slot, self.owner, now):
                continue
            try:
                ref = self.post(sub, now)
            except SlackApiError as exc:
                error = str(exc.response.get("error") or exc)
                log.warning("digest for %s (slot %s) failed: %s; retried later", sub.channel_id, slot, error)
                mark_failed(self.ctx.engine, sub.id, slot, f"slack: {error}")
                continue
            except Exception as exc:  # a bug or an outage must not stop the other subscriptions
                log.exception("digest for %s (slot %s) failed", sub.channel_id, slot)
                mark_failed(self.ctx.engine, sub.id, slot, repr(exc))
                continue
            mark_posted(self.ctx.engine, sub.id, slot, ref, now)
            posted += 1
        return posted

    def post(self, sub: Subscription, now: datetime) -> str:
        """Upload the chart, then post the digest; returns "channel:ts"."""
        digest = build_digest(self.ctx, sub, now)
        self.client.files_upload_v2(
            channel=sub.channel_id,
            file=digest.chart_png(),
            filename=CHART_FILENAME,
            title=f"Weekly NPS trend ({len(digest.trend)} weeks)",
            alt_txt="Weekly NPS with 95 % margin-of-error band",
        )
        text, blocks = digest_blocks(digest)
        response = self.client.chat_postMessage(channel=sub.channel_id, text=text, blocks=blocks, unfurl_links=False)
        return f"{response['channel']}:{response['ts']}"
