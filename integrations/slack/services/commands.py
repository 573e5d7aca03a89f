"""`/nps` slash command: parse the words, check permissions, answer with a Reply.

Runs in a worker thread (listeners.commands acks with the reply). Unknown or malformed
arguments answer with the usage line, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError

from integrations.slack.api import SlackApi, error_code
from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from integrations.slack.blocks.reports import comments_blocks, report_blocks, trend_blocks
from integrations.slack.services import PLATFORM
from nps_bot.followups import subscriptions
from nps_bot.followups.schedule import rule_from_words
from nps_bot.models import Customer, Interaction
from nps_bot.plugin.ports import Host
from nps_bot.reporting.export import export_csv
from nps_bot.reporting.periods import PERIOD_HELP, Period, parse_period
from nps_bot.reporting.queries import recent_comments, score_report, weekly_trend

log = logging.getLogger(__name__)

USAGE = "\n".join(
    [
        "*Usage*",
        "• `/nps score [period] [by agent|team|channel|tag|helpdesk|<customer attribute>]`: NPS with margin of error",
        "• `/nps trend [weeks]`: weekly NPS",
        "• `/nps comments [detractors|passives|promoters] [period] [segment=value]`: what customers wrote",
        "• `/nps digest here weekly mon 09:00 [by team]` · `/nps digest here daily 08:30` · `/nps digest list`"
        " · `/nps digest off`",
        "• `/nps alerts here [detractors|score<=N] [segment=value]` · `/nps alerts off`",
        "• `/nps send @user|email`: send a survey now · `/nps export [period]`: CSV of answers",
        f"Periods: {PERIOD_HELP}.",
    ]
)
ADMIN_ONLY = (
    "Sorry, only workspace admins and the people in NPS_BOT_ADMINS can change digests, alerts, send surveys or export."
)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")
_SEGMENT = re.compile(r"^([a-z_][\w-]*)=(.+)$")
_SCORE_LE = re.compile(r"^score<=(\d{1,2})$")


class Usage(ValueError):
    """Bad arguments: shown to the user with the usage text."""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    blocks: Blocks = field(default_factory=list)

    def as_ack(self) -> dict[str, Any]:
        blocks = self.blocks or [kit.section(self.text)]
        return {"text": self.text, "blocks": blocks, "response_type": "ephemeral"}


def usage(error: str | None = None) -> Reply:
    return Reply(f":warning: {error}\n\n{USAGE}" if error else USAGE)


@dataclass
class Invocation:
    ctx: Host
    slack: SlackApi
    user_id: str
    channel_id: str
    admins: frozenset[str]

    def is_admin(self) -> bool:
        if self.user_id in self.admins:
            return True
        try:
            user = self.slack.user(self.user_id)
        except SlackApiError as exc:
            log.warning("/nps: users.info failed: %s", error_code(exc))
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    def user_timezone(self) -> str:
        try:
            return str(self.slack.user(self.user_id).get("tz") or "UTC")
        except SlackApiError:
            return "UTC"

    def now_period(self, text: str) -> Period:
        try:
            return parse_period(text, self.ctx.clock.now())
        except ValueError as exc:
            raise Usage(str(exc)) from None


def refusal(inv: Invocation, text: str) -> Reply | None:
    """The polite no for a non-admin, decided before a slow command is acknowledged."""
    words = text.split()
    handler = COMMANDS.get(words[0].lower()) if words else None
    if handler and handler[0](words[1:]) and not inv.is_admin():
        return Reply(ADMIN_ONLY)
    return None


def handle(inv: Invocation, text: str) -> Reply:
    words = text.split()
    if not words or words[0].lower() in {"help", "?"}:
        return usage()
    command, args = words[0].lower(), words[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        return usage(f"unknown command `{escape(command)}`")
    needs_admin, fn = handler
    if needs_admin(args) and not inv.is_admin():
        return Reply(ADMIN_ONLY)
    try:
        return fn(inv, args)
    except Usage as exc:
        return usage(str(exc))


# -- read-only commands ------------------------------------------------------------------------


def cmd_score(inv: Invocation, args: list[str]) -> Reply:
    words = [a.lower() for a in args]
    period_text, dimension = "30d", None
    if words and words[0] != "by":
        period_text = words.pop(0)
    if words:
        if words[0] != "by" or len(words) != 2:
            raise Usage("expected `by <segment>` after the period")
        dimension = words[1]
    report = score_report(inv.ctx.engine, inv.now_period(period_text), dimension, min_n=inv.ctx.settings.min_segment_n)
    return Reply(*report_blocks(report))


def cmd_trend(inv: Invocation, args: list[str]) -> Reply:
    if len(args) > 1 or (args and not args[0].isdigit()):
        raise Usage("`/nps trend [weeks]`, weeks from 1 to 52")
    weeks = int(args[0]) if args else 12
    if not 1 <= weeks <= 52:
        raise Usage("weeks must be from 1 to 52")
    points = weekly_trend(inv.ctx.engine, weeks, inv.ctx.clock.now())
    return Reply(*trend_blocks(points, weeks, inv.ctx.settings.min_segment_n))


_GROUPS = {"detractors": "detractor", "passives": "passive", "promoters": "promoter"}


def parse_segment(word: str) -> tuple[str, str]:
    match = _SEGMENT.match(word)
    if not match:
        raise Usage(f"`{escape(word)}` is not a segment filter like team=Billing")
    return match.group(1).lower(), match.group(2)


def cmd_comments(inv: Invocation, args: list[str]) -> Reply:
    group, period_text, segment = None, "30d", None
    for word in args:
        if word.lower() in _GROUPS:
            group = _GROUPS[word.lower()]
        elif "=" in word:
            segment = parse_segment(word)
        else:
            period_text = word
    period = inv.now_period(period_text)
    rows = recent_comments(inv.ctx.engine, period, group=group, segment=segment, limit=10)
    if not rows:
        return Reply(f"No comments {period.label}.")
    return Reply(*comments_blocks(rows, period.label))


# -- admin commands ----------------------------------------------------------------------------


def check_can_post(inv: Invocation) -> str | None:
    """None when the bot can post here; otherwise the exact fix to tell the user."""
    channel = inv.channel_id
    if channel.startswith("D"):
        return "Digests and alerts go to channels: run this in the channel that should get them."
    fix = "I can't post in this channel. Invite me first: `/invite @nps-bot`, then run the command again."
    try:
        info = inv.slack.channel(channel)
    except SlackApiError as exc:
        if error_code(exc) in {"channel_not_found", "not_in_channel"}:
            return fix  # private channels are invisible to apps that are not members
        raise
    if info.get("is_archived"):
        return "This channel is archived."
    if info.get("is_private") and not info.get("is_member"):
        return fix
    return None  # public channels work without an invite (chat:write.public)


def _stop(inv: Invocation, kind: subscriptions.Kind, what: str) -> Reply:
    removed = subscriptions.remove(inv.ctx.engine, platform=PLATFORM, kind=kind, channel_id=inv.channel_id)
    return Reply(f"{what} stopped for this channel." if removed else f"This channel had no {what.lower()}.")


def _subscribe(inv: Invocation, kind: subscriptions.Kind, **rule: Any) -> None:
    subscriptions.save(
        inv.ctx.engine,
        kind=kind,
        platform=PLATFORM,
        channel_id=inv.channel_id,
        created_by=inv.user_id,
        now=inv.ctx.clock.now(),
        **rule,
    )


def cmd_digest(inv: Invocation, args: list[str]) -> Reply:
    words = [a.lower() for a in args]
    if words == ["list"]:
        subs = subscriptions.list_for(inv.ctx.engine, platform=PLATFORM, kind="digest")
        if not subs:
            return Reply("No digests yet. `/nps digest here weekly mon 09:00` starts one.")
        lines = [
            f"• <#{s.channel_id}>: `{s.cron}` ({s.timezone}), last {s.period_days} days"
            + (f", by {s.dimension}" if s.dimension else "")
            for s in subs
        ]
        return Reply("Digests:\n" + "\n".join(lines))
    if words == ["off"]:
        return _stop(inv, "digest", "Digest")
    if not words or words[0] != "here":
        raise Usage("`/nps digest here weekly mon 09:00 [by team]`, `/nps digest list` or `/nps digest off`")
    rest = words[1:]
    dimension = None
    if "by" in rest:
        at = rest.index("by")
        if at != len(rest) - 2:
            raise Usage("expected `by <segment>` at the end")
        dimension = rest[at + 1]
        rest = rest[:at]
    try:
        cron = rule_from_words(*rest)
    except (TypeError, ValueError) as exc:
        raise Usage(str(exc)) from None
    if problem := check_can_post(inv):
        return Reply(problem)
    tz = inv.user_timezone()
    period_days = 1 if rest and rest[0] == "daily" else 7
    _subscribe(inv, "digest", cron=cron, timezone=tz, period_days=period_days, dimension=dimension)
    by = f", by {dimension}" if dimension else ""
    return Reply(f"Done: this channel gets the NPS digest `{cron}` ({tz}), covering {period_days} day(s){by}.")


def cmd_alerts(inv: Invocation, args: list[str]) -> Reply:
    words = list(args)
    if [w.lower() for w in words] == ["off"]:
        return _stop(inv, "alert", "Alerts")
    if not words or words[0].lower() != "here":
        raise Usage("`/nps alerts here [detractors|score<=N] [segment=value]` or `/nps alerts off`")
    max_score, segment = 6, None
    for word in words[1:]:
        lowered = word.lower()
        if lowered == "detractors":
            max_score = 6
        elif match := _SCORE_LE.match(lowered):
            max_score = int(match.group(1))
            if max_score > 10:
                raise Usage("score<=N takes N from 0 to 10")
        else:
            segment = parse_segment(word)
    if problem := check_can_post(inv):
        return Reply(problem)
    _subscribe(
        inv,
        "alert",
        max_score=max_score,
        filter_dimension=segment[0] if segment else None,
        filter_value=segment[1] if segment else None,
    )
    where = f" where {segment[0]} is {escape(segment[1])}" if segment else ""
    return Reply(f"Done: answers scoring {max_score} or less{where} are posted here as they arrive.")


def cmd_send(inv: Invocation, args: list[str]) -> Reply:
    if len(args) != 1:
        raise Usage("`/nps send @user` or `/nps send name@example.com`")
    target = args[0]
    if match := _MENTION.match(target):
        customer = Customer(slack_user_id=match.group(1))
        shown = f"<@{match.group(1)}>"
    else:
        mailto = _MAILTO.match(target)
        email = mailto.group(1) if mailto else target
        try:
            customer = Customer(email=email)
        except ValueError:
            raise Usage(f"`{escape(target)}` is neither a @mention nor an e-mail address") from None
        shown = "that address"
    interaction = Interaction(
        connector="manual",
        event_id=f"slash-{uuid.uuid4().hex}",
        ticket_id=f"manual-{uuid.uuid4().hex[:12]}",
        subject=None,
        customer=customer,
    )
    outcome = inv.ctx.surveys.schedule_now(interaction)
    if outcome.status != "scheduled":
        return Reply(f"Not sent to {shown}: {outcome.reason or outcome.status}.")
    return Reply(f"Survey on its way to {shown}; it goes out with the next worker poll.")


def cmd_export(inv: Invocation, args: list[str]) -> Reply:
    if len(args) > 1:
        raise Usage("`/nps export [period]`")
    period = inv.now_period(args[0] if args else "30d")
    data = export_csv(inv.ctx.engine, period)
    filename = f"nps-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    inv.slack.upload(inv.slack.open_dm(inv.user_id), data, filename, f"NPS answers, {period.label}")
    rows = data.count(b"\n") - 1
    return Reply(f"Sent you `{filename}` ({rows} answers) in a direct message.")


Handler = Callable[[Invocation, list[str]], Reply]
AdminRule = Callable[[list[str]], bool]


def _always(_: list[str]) -> bool:
    return True


def _never(_: list[str]) -> bool:
    return False


def _changes(args: list[str]) -> bool:
    return [a.lower() for a in args] != ["list"]


COMMANDS: dict[str, tuple[AdminRule, Handler]] = {
    "score": (_never, cmd_score),
    "trend": (_never, cmd_trend),
    "comments": (_never, cmd_comments),
    "digest": (_changes, cmd_digest),
    "alerts": (_changes, cmd_alerts),
    "send": (_always, cmd_send),
    "export": (_always, cmd_export),
}
# Commands that may take longer than Slack's 3 s: acknowledged first, answered afterwards.
SLOW = frozenset({"export"})
