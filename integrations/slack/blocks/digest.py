"""The scheduled digest message: headline with margin, change, best and worst segments, comments."""

from __future__ import annotations

from datetime import datetime, timedelta

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.followups.digests import (
    Digest,
    arrow,
    change_line,
    comment_meta,
    follow_up_line,
    other_kind_lines,
    segment_lines,
    too_few_line,
)
from nps_bot.followups.schedule import zone
from nps_bot.followups.subscriptions import Subscription
from nps_bot.reporting.scoring import margin_label
from nps_bot.reporting.text import count, percent, signed, split

COMMENT_SHOWN = 700  # a digest quotes, it doesn't reprint essays
LATE_AFTER = timedelta(minutes=10)  # later than this past its slot, the digest says when it was due


def _headline(digest: Digest) -> str:
    o = digest.report.overall
    if not o.counts.n:
        return f"*No NPS answers in the {escape(digest.report.period.label)}.*"
    est = o.estimate
    parts = [f"*NPS {signed(est.value)}*", arrow(digest.change), f"({margin_label(est)} at 95 %)"]
    text = " ".join(p for p in parts if p)
    text += f"\n{count(o.counts.n, 'answer')}"
    if o.response_rate is not None:
        text += f" · response rate {percent(o.response_rate)}"
    if o.counts.n < digest.report.min_n:
        text += f"\n_Too few answers to be reliable (fewer than {digest.report.min_n})._"
    return text


def _other_kinds(digest: Digest) -> kit.Block | None:
    lines = other_kind_lines(digest)
    return kit.section("\n".join(f"*{escape(line)}*" for line in lines)) if lines else None


def _segments(digest: Digest) -> Blocks:
    dimension = digest.report.dimension
    if not dimension:
        return []
    table = kit.code("\n".join(segment_lines(digest)))
    return kit.present(
        kit.section(f"*Best and worst by {escape(dimension)}*\n{table}"),
        kit.context(escape(too_few_line(digest))),
    )


def _comments(digest: Digest) -> Blocks:
    if not digest.comments:
        return []
    blocks = [kit.divider(), kit.section("*Recent comments*")]
    for c in digest.comments:
        blocks.append(kit.section(f"> {escape(kit.fit(' '.join(c.comment.split()), COMMENT_SHOWN))}"))
        blocks.extend(kit.present(kit.context(escape(comment_meta(c)), kit.link(c.ticket_url, "ticket"))))
    return blocks


def digest_blocks(digest: Digest, *, note: str | None = None) -> tuple[str, Blocks]:
    """The digest message (within Slack limits) and its notification fallback text.

    At most 14 blocks whatever the data: long tables are cut at a line, comments at COMMENT_SHOWN.
    `note` (plain text, e.g. "posted late") goes in a context line under the header.
    """
    report = digest.report
    counted = bool(report.overall.counts.n)
    blocks = [
        kit.header(digest.title),
        kit.context(f"_{escape(note)}_") if note else None,
        kit.section(_headline(digest)),
        kit.context(escape(change_line(digest)), escape(split(report.overall))) if counted else None,
        _other_kinds(digest),
        *_segments(digest),
        *_comments(digest),
        kit.divider(),
        kit.context(f":white_check_mark: {escape(follow_up_line(digest.follow_up))}"),
    ]
    return kit.message(blocks, escape(f"{digest.title}: {digest.headline}"))


def late_note(sub: Subscription, slot: datetime, now: datetime) -> str | None:
    if now - slot <= LATE_AFTER:
        return None
    tz = zone(sub.timezone)
    return f"Scheduled for {slot.astimezone(tz):%a %d %b %H:%M} ({tz.key}); posted late."
