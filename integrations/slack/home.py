"""The App Home tab: 30-day NPS with its margin and n, the weekly trend, and open follow-ups."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks import Blocks, escape
from nps_bot.followups import alerts as alert_store
from nps_bot.plugin.ports import Host
from nps_bot.reporting import queries as reports
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.text import headline, signed, split

log = logging.getLogger(__name__)
TREND_WEEKS = 8
MAX_FOLLOW_UPS = 10


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def trend_text(engine: Any, now: datetime, weeks: int = TREND_WEEKS) -> str | None:
    """One line per week, oldest first; None while the report module has no weekly trend."""
    weekly_trend = getattr(reports, "weekly_trend", None)
    if weekly_trend is None:
        return None
    lines = []
    for point in weekly_trend(engine, weeks, now):
        label = point.week_start.strftime("%d %b")
        if point.n == 0:
            lines.append(f"{label}   —   no answers")
        else:
            est = point.estimate
            margin = f" ± {est.margin:.0f}" if est.margin is not None else ""
            lines.append(f"{label}   {signed(est.value)}{margin}   n={point.n}")
    return "```" + "\n".join(lines) + "```"


def home_view(ctx: Host, platform: str = "slack") -> dict[str, Any]:
    now = ctx.clock.now()
    report = reports.score_report(ctx.engine, parse_period("30d", now), min_n=ctx.settings.min_segment_n)
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Customer feedback", "emoji": True}},
        _section(f"*{escape(headline(report))}*"),
    ]
    if report.overall.counts.n:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": split(report.overall)}]})
    if trend := trend_text(ctx.engine, now):
        blocks += [{"type": "divider"}, _section(f"*NPS by week (last {TREND_WEEKS})*\n{trend}")]
    blocks += [{"type": "divider"}, _section("*Open follow-ups*")]
    open_items = alert_store.open_follow_ups(ctx.engine, platform=platform, limit=MAX_FOLLOW_UPS)
    if not open_items:
        blocks.append(_section("Nothing waiting: every alert has been followed up. :tada:"))
    for item in open_items:
        who = escape(item.customer_name) if item.customer_name else "A customer"
        owner = f"<@{item.claimed_by}> is following up" if item.claimed_by else "_nobody has claimed it yet_"
        since = item.created_at.strftime("%d %b %H:%M UTC")
        blocks.append(_section(f"*{item.score}/10* · {who} · <#{item.channel_id}> · {since}\n{owner}"))
    return {"type": "home", "blocks": blocks[:100]}


def register_home(app: AsyncApp, ctx: Host) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        view = await asyncio.to_thread(home_view, ctx)
        try:
            await client.views_publish(user_id=event["user"], view=view)
        except SlackApiError as exc:
            log.warning("App Home not published: %s", exc.response.get("error"))
