"""`/nps` slash command: parse the words, answer with blocks. Never a stack trace to the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrations.slack.blocks import Blocks, report_blocks
from nps_bot.app import AppContext
from nps_bot.periods import PERIOD_HELP, parse_period
from nps_bot.reports import score_report

USAGE = (
    "*Usage*\n"
    "• `/nps score [7d|30d|90d|all] [by agent|team|channel|tag|helpdesk|<customer attribute>]`: "
    "NPS with margin of error, optionally per segment\n"
    "• `/nps help`: this message"
)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    blocks: Blocks

    def as_ack(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks, "response_type": "ephemeral"}


def usage(error: str | None = None) -> Reply:
    text = f":warning: {error}\n\n{USAGE}" if error else USAGE
    return Reply(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def parse_score_args(words: list[str]) -> tuple[str, str | None]:
    """`[period] [by <dimension>]` in that order; raises ValueError with the reason."""
    period, dimension = "30d", None
    rest = list(words)
    if rest and rest[0] != "by":
        period = rest.pop(0)
    if rest:
        if rest[0] != "by" or len(rest) != 2:
            raise ValueError("expected `by <segment>` after the period")
        dimension = rest[1]
    return period, dimension


def handle(ctx: AppContext, text: str) -> Reply:
    words = text.lower().split()
    if not words or words[0] in {"help", "?"}:
        return usage()
    command, args = words[0], words[1:]
    if command == "score":
        try:
            period_text, dimension = parse_score_args(args)
            period = parse_period(period_text, ctx.clock.now())
        except ValueError as exc:
            hint = f" (periods: {PERIOD_HELP})" if "period" in str(exc) else ""
            return usage(f"{exc}{hint}")
        report = score_report(ctx.engine, period, dimension, min_n=ctx.settings.min_segment_n)
        return Reply(*report_blocks(report))
    return usage(f"unknown command `{command}`")
