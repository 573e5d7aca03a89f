"""The App Home tab: 30-day NPS (and CSAT, CES when answered) with margin and n, the weekly NPS
trend, and open follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import escape
from nps_bot.followups.alerts import OpenFollowUp
from nps_bot.models import SCALES
from nps_bot.reporting.queries import ScoreReport, TrendPoint
from nps_bot.reporting.text import count, headline, signed, split


@dataclass(frozen=True, slots=True)
class HomeData:
    """What the tab shows, gathered by integrations.slack.services.home."""

    report: ScoreReport
    trend: Sequence[TrendPoint]
    follow_ups: Sequence[OpenFollowUp]
    other_kinds: Sequence[ScoreReport] = ()  # CSAT and CES, shown when they have answers
    people: bool = True  # False: the viewer is not allowed customer names, so no follow-ups either


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
    claimer = kit.mention(item.claimed_by)
    owner = f"{claimer} is following up" if claimer else "_nobody has claimed it yet_"
    since = item.created_at.strftime("%d %b %H:%M UTC")
    top = SCALES.get(item.kind, SCALES["nps"])[1]
    kind = "" if item.kind == "nps" else f" {item.kind.upper()}"
    where = kit.channel_ref(item.channel_id) or escape(item.channel_id)
    return kit.section(f"*{item.score}/{top}*{kind} · {who} · {where} · {since}\n{owner}")


def _split(report: ScoreReport) -> kit.Block | None:
    line = split(report.overall)
    return kit.context(escape(line)) if line else None


def home_view(data: HomeData) -> dict[str, Any]:
    report = data.report
    weeks = "week" if len(data.trend) == 1 else count(len(data.trend), "week")
    trend = [kit.divider(), kit.section(f"*NPS by week (last {weeks})*\n{trend_text(data.trend)}")]
    others = [r for r in data.other_kinds if r.overall.n]
    return kit.home(
        [
            kit.header("Customer feedback"),
            kit.section(f"*{escape(headline(report))}*"),
            kit.context(escape(split(report.overall))) if report.overall.counts.n else None,
            *[b for r in others for b in kit.present(kit.section(f"*{escape(headline(r))}*"), _split(r))],
            *(trend if data.trend else []),
            *(_follow_ups(data) if data.people else [kit.divider(), kit.context(PEOPLE_FOR_ADMINS)]),
        ]
    )


PEOPLE_FOR_ADMINS = "Customer names and follow-ups are shown to admins."


def _follow_ups(data: HomeData) -> list[kit.Block | None]:
    return [
        kit.divider(),
        kit.section("*Open follow-ups*"),
        *[_follow_up(item) for item in data.follow_ups],
        None if data.follow_ups else kit.section("Nothing waiting: every alert has been followed up. :tada:"),
    ]
