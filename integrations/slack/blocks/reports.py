"""Replies to the read-only `/nps` commands: score report, weekly trend, recent comments."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.reporting.queries import CommentRow, ScoreReport, TrendPoint
from nps_bot.reporting.text import headline, segment_table, split

COMMENT_SHOWN = 2500  # a reply quotes, it doesn't reprint essays


def report_blocks(report: ScoreReport) -> tuple[str, Blocks]:
    text = headline(report)
    blocks = [
        kit.section(f"*{text}*"),
        kit.context(split(report.overall)) if report.overall.n else None,
        kit.section(kit.code(segment_table(report))) if report.dimension else None,
    ]
    return kit.message(blocks, text)


def trend_blocks(points: Sequence[TrendPoint], weeks: int, min_n: int) -> tuple[str, Blocks]:
    """One line per week: NPS, its margin and n, flagged when n is under `min_n`."""
    lines = [f"{'week of':<12} {'NPS':>5} {'±':>6} {'n':>5}"]
    for p in points:
        est = p.estimate
        if p.counts.n == 0:
            lines.append(f"{p.week_start:%Y-%m-%d}   {'-':>5} {'':>6} {0:>5}")
        else:
            flag = "  (few)" if p.counts.n < min_n else ""
            lines.append(f"{p.week_start:%Y-%m-%d}   {est.value:>+5.0f} {est.margin or 0:>6.1f} {p.counts.n:>5}{flag}")
    title = f"Weekly NPS, last {weeks} weeks"
    table = kit.code("\n".join(lines))
    return kit.message([kit.section(f"*{title}*\n{table}")], title)


def comments_blocks(rows: Sequence[CommentRow], period_label: str) -> tuple[str, Blocks]:
    """Each comment with its score, who was involved and a link to the ticket."""
    blocks = [kit.section(f"*Comments, {period_label}*")]
    for row in rows:
        who = " · ".join(escape(x) for x in (row.customer_name, row.agent_name, row.team) if x)
        ticket = kit.link(row.ticket_url, "ticket")
        quote = kit.fit(escape(row.comment or ""), COMMENT_SHOWN)
        blocks.append(kit.section(f"*{row.score}* · {who}{' · ' + ticket if ticket else ''}\n> {quote}"))
    return kit.message(blocks, f"{len(rows)} comments {period_label}")
