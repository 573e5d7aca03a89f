"""`/nps` slash command: parse the words, check permissions, answer with blocks.

Runs in a worker thread with a sync WebClient (Bolt acks with the reply). Unknown or malformed
arguments answer with the usage line, never a stack trace.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.blocks import Blocks, escape, report_blocks
from nps_bot.followups import subscriptions
from nps_bot.models import Customer, Interaction
from nps_bot.plugin.ports import Host
from nps_bot.reporting.periods import PERIOD_HELP, Period, parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.reporting.scoring import classify
from nps_bot.store.schema import customers, responses, survey_tags, surveys

log = logging.getLogger(__name__)
PLATFORM = "slack"

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
        blocks = self.blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": self.text[:3000]}}]
        return {"text": self.text, "blocks": blocks, "response_type": "ephemeral"}


def usage(error: str | None = None) -> Reply:
    return Reply(f":warning: {error}\n\n{USAGE}" if error else USAGE)


@dataclass
class Invocation:
    ctx: Host
    client: WebClient
    user_id: str
    channel_id: str
    admins: frozenset[str]

    def is_admin(self) -> bool:
        if self.user_id in self.admins:
            return True
        try:
            user = self.client.users_info(user=self.user_id)["user"]
        except SlackApiError as exc:
            log.warning("/nps: users.info failed: %s", exc.response.get("error"))
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    def user_timezone(self) -> str:
        try:
            return str(self.client.users_info(user=self.user_id)["user"].get("tz") or "UTC")
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
    from nps_bot.reporting.queries import weekly_trend

    if len(args) > 1 or (args and not args[0].isdigit()):
        raise Usage("`/nps trend [weeks]`, weeks from 1 to 52")
    weeks = int(args[0]) if args else 12
    if not 1 <= weeks <= 52:
        raise Usage("weeks must be from 1 to 52")
    points = weekly_trend(inv.ctx.engine, weeks, inv.ctx.clock.now())
    min_n = inv.ctx.settings.min_segment_n
    lines = [f"{'week of':<12} {'NPS':>5} {'±':>6} {'n':>5}"]
    for p in points:
        est = p.estimate
        if p.counts.n == 0:
            lines.append(f"{p.week_start:%Y-%m-%d}   {'-':>5} {'':>6} {0:>5}")
        else:
            flag = "  (few)" if p.counts.n < min_n else ""
            lines.append(f"{p.week_start:%Y-%m-%d}   {est.value:>+5.0f} {est.margin or 0:>6.1f} {p.counts.n:>5}{flag}")
    title = f"Weekly NPS, last {weeks} weeks"
    return Reply(
        title, [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n```" + "\n".join(lines) + "```"}}]
    )


_GROUPS = {"detractors": "detractor", "passives": "passive", "promoters": "promoter"}


def parse_segment(word: str) -> tuple[str, str]:
    match = _SEGMENT.match(word)
    if not match:
        raise Usage(f"`{escape(word)}` is not a segment filter like team=Billing")
    return match.group(1).lower(), match.group(2)


def cmd_comments(inv: Invocation, args: list[str]) -> Reply:
    from nps_bot.reporting.queries import recent_comments

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
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*Comments, {period.label}*"}}]
    for row in rows:
        who = " · ".join(escape(x) for x in (row.customer_name, row.agent_name, row.team) if x)
        link = f" · <{row.ticket_url}|ticket>" if row.ticket_url else ""
        quote = escape(row.comment or "")[:2500]
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{row.score}* · {who}{link}\n> {quote}"}}
        )
    return Reply(f"{len(rows)} comments {period.label}", blocks[:50])


# -- admin commands ----------------------------------------------------------------------------


def check_can_post(inv: Invocation) -> str | None:
    """None when the bot can post here; otherwise the exact fix to tell the user."""
    channel = inv.channel_id
    if channel.startswith("D"):
        return "Digests and alerts go to channels: run this in the channel that should get them."
    fix = "I can't post in this channel. Invite me first: `/invite @nps-bot`, then run the command again."
    try:
        info = inv.client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") in {"channel_not_found", "not_in_channel"}:
            return fix  # private channels are invisible to apps that are not members
        raise
    if info.get("is_archived"):
        return "This channel is archived."
    if info.get("is_private") and not info.get("is_member"):
        return fix
    return None  # public channels work without an invite (chat:write.public)


def cmd_digest(inv: Invocation, args: list[str]) -> Reply:
    words = [a.lower() for a in args]
    engine, now = inv.ctx.engine, inv.ctx.clock.now()
    if words == ["list"]:
        subs = subscriptions.list_for(engine, platform=PLATFORM, kind="digest")
        if not subs:
            return Reply("No digests yet. `/nps digest here weekly mon 09:00` starts one.")
        lines = [
            f"• <#{s.channel_id}>: `{s.cron}` ({s.timezone}), last {s.period_days} days"
            + (f", by {s.dimension}" if s.dimension else "")
            for s in subs
        ]
        return Reply("Digests:\n" + "\n".join(lines))
    if words == ["off"]:
        removed = subscriptions.remove(engine, platform=PLATFORM, kind="digest", channel_id=inv.channel_id)
        return Reply("Digest stopped for this channel." if removed else "This channel had no digest.")
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
    from nps_bot.followups.schedule import rule_from_words

    try:
        cron = rule_from_words(*rest)
    except (TypeError, ValueError) as exc:
        raise Usage(str(exc)) from None
    if problem := check_can_post(inv):
        return Reply(problem)
    tz = inv.user_timezone()
    period_days = 1 if rest and rest[0] == "daily" else 7
    subscriptions.save(
        engine,
        kind="digest",
        platform=PLATFORM,
        channel_id=inv.channel_id,
        created_by=inv.user_id,
        now=now,
        cron=cron,
        timezone=tz,
        period_days=period_days,
        dimension=dimension,
    )
    by = f", by {dimension}" if dimension else ""
    return Reply(f"Done: this channel gets the NPS digest `{cron}` ({tz}), covering {period_days} day(s){by}.")


def cmd_alerts(inv: Invocation, args: list[str]) -> Reply:
    words = list(args)
    engine, now = inv.ctx.engine, inv.ctx.clock.now()
    if [w.lower() for w in words] == ["off"]:
        removed = subscriptions.remove(engine, platform=PLATFORM, kind="alert", channel_id=inv.channel_id)
        return Reply("Alerts stopped for this channel." if removed else "This channel had no alerts.")
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
    subscriptions.save(
        engine,
        kind="alert",
        platform=PLATFORM,
        channel_id=inv.channel_id,
        created_by=inv.user_id,
        now=now,
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


EXPORT_COLUMNS = (
    "answered_at", "score", "group", "comment", "kind", "connector", "ticket_id", "ticket_url", "agent", "team",
    "channel", "tags", "language", "customer_name", "customer_email",
)  # fmt: skip


def export_csv(ctx: Host, period: Period) -> bytes:
    """Answers in the period, one row each (streams rows; exports are not aggregates)."""
    tags = (
        sa.select(sa.func.group_concat(survey_tags.c.tag) if ctx.engine.dialect.name == "sqlite"
                  else sa.func.string_agg(survey_tags.c.tag, sa.literal(",")))
        .where(survey_tags.c.survey_id == surveys.c.id)
        .scalar_subquery()
    )  # fmt: skip
    query = (
        sa.select(
            responses.c.created_at, responses.c.score, responses.c.comment, responses.c.kind, surveys.c.connector,
            surveys.c.ticket_id, surveys.c.ticket_url, surveys.c.agent_name, surveys.c.team, surveys.c.channel,
            tags.label("tags"), surveys.c.language, customers.c.name, customers.c.email,
        )
        .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id)
                     .outerjoin(customers, customers.c.id == surveys.c.customer_id))
        .where(responses.c.created_at >= period.start, responses.c.created_at < period.end)
        .order_by(responses.c.created_at)
    )  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    with ctx.engine.connect() as conn:
        for r in conn.execute(query):
            writer.writerow([
                r.created_at.isoformat(), r.score, classify(r.score) if r.kind == "nps" else "",
                r.comment or "", r.kind,
                r.connector, r.ticket_id, r.ticket_url or "", r.agent_name or "", r.team or "", r.channel or "",
                r.tags or "", r.language, r.name or "", r.email or "",
            ])  # fmt: skip
    return out.getvalue().encode()


def cmd_export(inv: Invocation, args: list[str]) -> Reply:
    if len(args) > 1:
        raise Usage("`/nps export [period]`")
    period = inv.now_period(args[0] if args else "30d")
    data = export_csv(inv.ctx, period)
    dm = inv.client.conversations_open(users=inv.user_id)["channel"]["id"]
    filename = f"nps-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    inv.client.files_upload_v2(channel=dm, file=data, filename=filename, title=f"NPS answers, {period.label}")
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
