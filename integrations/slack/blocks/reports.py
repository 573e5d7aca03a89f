"""Replies to the read-only `/nps` commands: score report, weekly trend, recent comments."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.models import SCALES
from nps_bot.reporting.queries import CommentRow, ScoreReport, TrendPoint
from nps_bot.reporting.text import count, headline, kind_name, segment_table, split, value_text

COMMENT_SHOWN = 2500  # a reply quotes, it doesn't reprint essays


def report_blocks(report: ScoreReport) -> tuple[str, Blocks]:
    text = escape(headline(report))
    blocks = [
        kit.section(f"*{text}*"),
        kit.context(escape(split(report.overall))) if report.overall.n else None,
        kit.section(kit.code(segment_table(report))) if report.dimension else None,
    ]
    return kit.message(blocks, text)


def trend_blocks(points: Sequence[TrendPoint], weeks: int, min_n: int, kind: str = "nps") -> tuple[str, Blocks]:
    """One line per week: the score (NPS, CSAT % or CES mean), its margin and n, flagged when n < `min_n`."""
    name = kind_name(kind)
    lines = [f"{'week of':<12} {name:>5} {'±':>6} {'n':>5}"]
    for p in points:
        est = p.estimate
        if p.n == 0:
            lines.append(f"{p.week_start:%Y-%m-%d}   {'-':>5} {'':>6} {0:>5}")
        else:
            flag = "  (few)" if p.n < min_n else ""
            value = value_text(kind, est.value)
            margin = f"{est.margin or 0:>6.1f}" if kind == "ces" else f"{est.margin or 0:>6.0f}"
            lines.append(f"{p.week_start:%Y-%m-%d}   {value:>5} {margin} {p.n:>5}{flag}")
    title = f"Weekly {name}, last {count(weeks, 'week')}"
    table = kit.code("\n".join(lines))
    return kit.message([kit.section(f"*{title}*\n{table}")], title)


def score_label(score: int, kind: str = "nps") -> str:
    """ "3/10" for NPS, "2/5" for CSAT, "4/7" for CES."""
    return f"{score}/{SCALES.get(kind, SCALES['nps'])[1]}"


def comments_blocks(rows: Sequence[CommentRow], period_label: str, kind: str = "nps") -> tuple[str, Blocks]:
    """Each comment (every line quoted) with its score, who was involved and a link to the ticket."""
    name = "" if kind == "nps" else f"{kind_name(kind)} "
    blocks = [kit.section(f"*{name}Comments, {escape(period_label)}*")]
    for row in rows:
        who = " · ".join(escape(x) for x in (row.customer_name, row.agent_name, row.team) if x)
        ticket = kit.link(row.ticket_url, "ticket")
        meta = " · ".join(x for x in (f"*{score_label(row.score, kind)}*", who, ticket) if x)
        quote = kit.quote(kit.fit(row.comment or "", COMMENT_SHOWN))
        blocks.append(kit.section(f"{meta}\n{quote}"))
    return kit.message(blocks, f"{count(len(rows), f'{name}comment')} {escape(period_label)}")
