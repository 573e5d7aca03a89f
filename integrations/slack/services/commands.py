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
from integrations.slack.services.permissions import is_admin
from nps_bot.followups import subscriptions
from nps_bot.followups.schedule import rule_from_words
from nps_bot.models import SCALES, Customer, Interaction
from nps_bot.plugin.ports import Host
from nps_bot.reporting.export import export_table
from nps_bot.reporting.periods import PERIOD_HELP, Period, parse_period
from nps_bot.reporting.queries import ReportKind, group_bounds, recent_comments, score_report, weekly_trend
from nps_bot.reporting.text import count, kind_name
from nps_bot.surveys.privacy import forget

log = logging.getLogger(__name__)

USAGE = escape(
    "\n".join(
        [
            "*Usage*",
            "• `/nps score [csat|ces] [period] [by agent|team|channel|tag|helpdesk|<customer attribute>]`:"
            " NPS (or CSAT % satisfied, CES mean) with margin of error",
            "• `/nps trend [csat|ces] [weeks]`: weekly NPS, CSAT or CES",
            "• `/nps comments [csat|ces] [detractors|passives|promoters] [period] [segment=value]`:"
            " what customers wrote",
            "• `/nps digest here weekly mon 09:00 [by team]` · `/nps digest here daily 08:30` · `/nps digest list`"
            " · `/nps digest off`",
            "• `/nps alerts here [detractors|score<=N|csat<=N|ces<=N] [segment=value]` · `/nps alerts off`",
            "• `/nps send @user|email`: send a survey now · `/nps export [period]`: CSV of answers",
            "• `/nps forget email`: erase that person's personal data and comments (scores stay, anonymous)",
            "Examples: `/nps score csat 30d by team` · `/nps score ces` · `/nps trend csat` · `/nps comments csat`",
            f"Periods: {PERIOD_HELP}.",
        ]
    )
)
ADMIN_ONLY = (
    "Sorry, only workspace admins and the people in NPS_BOT_ADMINS can change digests, alerts, send surveys, "
    "export or forget."
)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")
_SEGMENT = re.compile(r"^([a-z_][\w-]*)=(.+)$")
_SCORE_LE = re.compile(r"^(score|nps|csat|ces)<=(\d{1,2})$")
KINDS: tuple[ReportKind, ...] = ("nps", "csat", "ces")
# Default alert rule per kind: the answers the follow-up question treats as unhappy (NPS detractors).
DETRACTOR_MAX = {kind: group_bounds(kind)[0] for kind in KINDS}


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
    """The usage text, after `error` (plain text, escaped here: it may quote what was typed)."""
    return Reply(f":warning: {escape(error)}\n\n{USAGE}" if error else USAGE)


def take_kind(words: list[str]) -> tuple[ReportKind, list[str]]:
    """The survey kind named among `words` (nps, csat or ces; NPS when none) and the other words."""
    kinds = [w for w in words if w.lower() in KINDS]
    if len(kinds) > 1:
        raise Usage("name one survey kind: nps, csat or ces")
    kind = next((k for k in KINDS if kinds and kinds[0].lower() == k), "nps")
    return kind, [w for w in words if w.lower() not in KINDS]


@dataclass
class Invocation:
    ctx: Host
    slack: SlackApi
    user_id: str
    channel_id: str
    admins: frozenset[str]

    def is_admin(self) -> bool:
        return is_admin(self.slack, self.user_id, self.admins)

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
    if "\x00" in text:  # PostgreSQL cannot compare text with NUL in it: no command needs one
        return usage("the command contains a NUL character")
    words = text.split()
    if not words or words[0].lower() in {"help", "?"}:
        return usage()
    command, args = words[0].lower(), words[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        return usage(f"unknown command `{command}`")
    needs_admin, fn = handler
    if needs_admin(args) and not inv.is_admin():
        return Reply(ADMIN_ONLY)
    try:
        return fn(inv, args)
    except Usage as exc:
        return usage(str(exc))


# -- read-only commands ------------------------------------------------------------------------


def cmd_score(inv: Invocation, args: list[str]) -> Reply:
    kind, words = take_kind([a.lower() for a in args])
    period_text, dimension = "30d", None
    if words and words[0] != "by":
        period_text = words.pop(0)
    if words:
        if words[0] != "by" or len(words) != 2:
            raise Usage("expected `by <segment>` after the period")
        dimension = words[1]
    period = inv.now_period(period_text)
    report = score_report(inv.ctx.engine, period, dimension, kind=kind, min_n=inv.ctx.settings.min_segment_n)
    return Reply(*report_blocks(report))


def _whole(word: str, digits: int) -> int | None:
    """A plain ASCII number of at most `digits` digits ("²", "٣" and 5,000-digit numbers are not)."""
    return int(word) if word.isascii() and word.isdigit() and len(word) <= digits else None


def cmd_trend(inv: Invocation, args: list[str]) -> Reply:
    kind, words = take_kind(args)
    weeks = _whole(words[0], 2) if words else 12
    if len(words) > 1 or weeks is None:
        raise Usage("`/nps trend [csat|ces] [weeks]`, weeks from 1 to 52")
    if not 1 <= weeks <= 52:
        raise Usage("weeks must be from 1 to 52")
    points = weekly_trend(inv.ctx.engine, weeks, inv.ctx.clock.now(), kind=kind)
    return Reply(*trend_blocks(points, weeks, inv.ctx.settings.min_segment_n, kind))


_GROUPS = {"detractors": "detractor", "passives": "passive", "promoters": "promoter"}


SEGMENT_NAME_MAX, SEGMENT_VALUE_MAX = 64, 255  # what a subscription row stores


def segment_name(word: str) -> str:
    if len(word) > SEGMENT_NAME_MAX:
        raise Usage(f"a segment name has at most {SEGMENT_NAME_MAX} characters")
    return word


def parse_segment(word: str) -> tuple[str, str]:
    match = _SEGMENT.match(word)
    if not match:
        raise Usage(f"`{kit.fit(word, 100)}` is not a segment filter like team=Billing")
    if len(match.group(2)) > SEGMENT_VALUE_MAX:
        raise Usage(f"a segment value has at most {SEGMENT_VALUE_MAX} characters")
    return segment_name(match.group(1).lower()), match.group(2)


def cmd_comments(inv: Invocation, args: list[str]) -> Reply:
    group, period_text, segment = None, "30d", None
    kind, words = take_kind(args)
    for word in words:
        if word.lower() in _GROUPS:
            group = _GROUPS[word.lower()]
        elif "=" in word:
            segment = parse_segment(word)
        else:
            period_text = word
    period = inv.now_period(period_text)
    rows = recent_comments(inv.ctx.engine, period, group=group, segment=segment, limit=10, kind=kind)
    if not rows:
        return Reply(f"No {'' if kind == 'nps' else kind_name(kind) + ' '}comments {escape(period.label)}.")
    return Reply(*comments_blocks(rows, period.label, kind))


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
            f"• {kit.channel_ref(s.channel_id) or escape(s.channel_id)}: `{escape(s.cron or '')}`"
            f" ({escape(s.timezone or 'UTC')}), last {count(s.period_days or 7, 'day')}"
            + (f", by {escape(s.dimension)}" if s.dimension else "")
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
        dimension = segment_name(rest[at + 1])
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
    by = f", by {escape(dimension)}" if dimension else ""
    return Reply(
        f"Done: this channel gets the NPS digest `{cron}` ({escape(tz)}), covering {count(period_days, 'day')}{by}."
    )


def cmd_alerts(inv: Invocation, args: list[str]) -> Reply:
    words = list(args)
    if [w.lower() for w in words] == ["off"]:
        return _stop(inv, "alert", "Alerts")
    if not words or words[0].lower() != "here":
        raise Usage("`/nps alerts here [detractors|score<=N|csat<=N|ces<=N] [segment=value]` or `/nps alerts off`")
    kind, rest = take_kind(words[1:])
    max_score, segment = None, None
    for word in rest:
        lowered = word.lower()
        if lowered == "detractors":
            max_score = None
        elif match := _SCORE_LE.match(lowered):
            if match.group(1) != "score":
                if kind != "nps" and kind != match.group(1):
                    raise Usage("name one survey kind: nps, csat or ces")
                kind = match.group(1)  # type: ignore[assignment]
            max_score = int(match.group(2))
        else:
            segment = parse_segment(word)
    low, high = SCALES[kind]
    if max_score is None:
        max_score = DETRACTOR_MAX[kind]
    elif not low <= max_score <= high:
        raise Usage(f"{kind}<=N takes N from {low} to {high}" if kind != "nps" else "score<=N takes N from 0 to 10")
    if problem := check_can_post(inv):
        return Reply(problem)
    _subscribe(
        inv,
        "alert",
        survey_kind=kind,
        max_score=max_score,
        filter_dimension=segment[0] if segment else None,
        filter_value=segment[1] if segment else None,
    )
    where = f" where {escape(segment[0])} is {escape(segment[1])}" if segment else ""
    what = "answers" if kind == "nps" else f"{kind_name(kind)} answers"
    return Reply(f"Done: {what} scoring {max_score} or less{where} are posted here as they arrive.")


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
            raise Usage(f"`{target}` is neither a @mention nor an e-mail address") from None
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
        return Reply(f"Not sent to {shown}: {escape(outcome.reason or outcome.status)}.")
    return Reply(f"Survey on its way to {shown}; it goes out with the next worker poll.")


def cmd_export(inv: Invocation, args: list[str]) -> Reply:
    if len(args) > 1:
        raise Usage("`/nps export [period]`")
    period = inv.now_period(args[0] if args else "30d")
    export = export_table(inv.ctx.engine, period)
    filename = f"nps-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    inv.slack.upload(inv.slack.open_dm(inv.user_id), export.data, filename, f"NPS answers, {period.label}")
    return Reply(f"Sent you `{filename}` ({count(export.rows, 'answer')}) in a direct message.")


Handler = Callable[[Invocation, list[str]], Reply]
def cmd_forget(inv: Invocation, args: list[str]) -> Reply:
    """Erase one person (privacy request): the same as `nps-bot forget`, audited with the Slack user."""
    address = _MAILTO.sub(r"\1", args[0]) if len(args) == 1 else ""
    if "@" not in address or any(c.isspace() or c in "<>|" for c in address):
        raise Usage("name one e-mail address: `/nps forget someone@example.com`")
    erased = forget(inv.ctx.engine, address, inv.ctx.clock.now(), actor=f"Slack user {inv.user_id}")
    return Reply(f"Erased {escape(str(erased))}. Scores stay in the reports, without a name.")


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
    "forget": (_always, cmd_forget),
}
# Commands that may take longer than Slack's 3 s: acknowledged first, answered afterwards.
SLOW = frozenset({"export"})
