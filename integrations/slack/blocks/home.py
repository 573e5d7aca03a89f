"""The App Home tab: 30-day NPS with its margin and n, the weekly trend, and open follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import escape
from nps_bot.followups.alerts import OpenFollowUp
from nps_bot.reporting.queries import ScoreReport, TrendPoint
from nps_bot.reporting.text import headline, signed, split


@dataclass(frozen=True, slots=True)
class HomeData:
    """What the tab shows, gathered by integrations.slack.services.home."""

    report: ScoreReport
    trend: Sequence[TrendPoint]
    follow_ups: Sequence[OpenFollowUp]


def trend_text(points: Sequence[TrendPoint]) -> str:
    """One line per week, oldest first, as a code block."""
    lines = []
    for point in points:
        label = point.week_start.strftime("%d %b")
        if point.n == 0:
            lines.append(f"{label}   —   no answers")
        else:
            est = point.estimate
            margin = f" ± {est.margin:.0f}" if est.margin is not None else ""
            lines.append(f"{label}   {signed(est.value)}{margin}   n={point.n}")
    return kit.code("\n".join(lines))


def _follow_up(item: OpenFollowUp) -> kit.Block:
    who = escape(item.customer_name) if item.customer_name else "A customer"
    owner = f"<@{item.claimed_by}> is following up" if item.claimed_by else "_nobody has claimed it yet_"
    since = item.created_at.strftime("%d %b %H:%M UTC")
    return kit.section(f"*{item.score}/10* · {who} · <#{item.channel_id}> · {since}\n{owner}")


def home_view(data: HomeData) -> dict[str, Any]:
    report = data.report
    trend = [kit.divider(), kit.section(f"*NPS by week (last {len(data.trend)})*\n{trend_text(data.trend)}")]
    return kit.home(
        [
            kit.header("Customer feedback"),
            kit.section(f"*{escape(headline(report))}*"),
            kit.context(split(report.overall)) if report.overall.counts.n else None,
            *(trend if data.trend else []),
            kit.divider(),
            kit.section("*Open follow-ups*"),
            *[_follow_up(item) for item in data.follow_ups],
            None if data.follow_ups else kit.section("Nothing waiting: every alert has been followed up. :tada:"),
        ]
    )
