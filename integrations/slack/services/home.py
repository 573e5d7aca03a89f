"""What the App Home tab shows, read from the reports and the open alerts."""

from __future__ import annotations

from integrations.slack.blocks.home import HomeData
from integrations.slack.services import PLATFORM
from nps_bot.followups.alerts import open_follow_ups
from nps_bot.plugin.ports import Host
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import ReportKind, score_report, weekly_trend

REPORT_PERIOD = "30d"
TREND_WEEKS = 8
MAX_FOLLOW_UPS = 10
OTHER_KINDS: tuple[ReportKind, ...] = ("csat", "ces")


def home_data(ctx: Host, platform: str = PLATFORM, people: bool = True) -> HomeData:
    """`people`: whether the viewer may see customer names and follow-ups (NPS_BOT_SLACK_HOME_PEOPLE)."""
    now = ctx.clock.now()
    period = parse_period(REPORT_PERIOD, now)
    min_n = ctx.settings.min_segment_n
    return HomeData(
        report=score_report(ctx.engine, period, min_n=min_n),
        trend=weekly_trend(ctx.engine, TREND_WEEKS, now),
        follow_ups=open_follow_ups(ctx.engine, platform=platform, limit=MAX_FOLLOW_UPS) if people else (),
        people=people,
        other_kinds=[score_report(ctx.engine, period, kind=kind, min_n=min_n) for kind in OTHER_KINDS],
    )
