"""Channel digests: what a scheduled digest says, built once and rendered for Slack or the terminal.

The content model is platform-neutral so `nps-bot digest --print` shows exactly what a channel
would get (minus the chart image, which only chat platforms can show).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta

from nps_bot.followups.subscriptions import Subscription
from nps_bot.plugin.ports import Host
from nps_bot.reporting.chart import render_trend_png
from nps_bot.reporting.periods import Period, parse_period
from nps_bot.reporting.queries import (
    FOLLOW_UP_WITHIN,
    CommentRow,
    FollowUp,
    ReportKind,
    ScoreReport,
    SegmentStats,
    TrendPoint,
    follow_up_stats,
    recent_comments,
    score_report,
    week_start,
    weekly_trend,
)
from nps_bot.reporting.scoring import Change, classify, margin_label
from nps_bot.reporting.text import count, headline, percent, signed, split, too_few_to_compare

DEFAULT_DAYS = 7
DEFAULT_DIMENSION = "team"
TREND_WEEKS = 12
SHOWN = 3  # best and worst segments shown
COMMENTS = 3
OTHER_KINDS: tuple[ReportKind, ...] = ("csat", "ces")


@dataclass(frozen=True, slots=True)
class Digest:
    report: ScoreReport
    best: tuple[SegmentStats, ...]
    worst: tuple[SegmentStats, ...]  # worst last; empty when every reliable segment is already in `best`
    too_few: tuple[SegmentStats, ...]  # answered, but fewer than min_n: flagged, never ranked
    comments: tuple[CommentRow, ...]
    follow_up: FollowUp
    trend: tuple[TrendPoint, ...]
    generated_at: datetime
    # CSAT and CES over the same period, each only when it has answers: one line apiece.
    other_kinds: tuple[ScoreReport, ...] = ()

    @property
    def title(self) -> str:
        return f"NPS digest: {self.report.period.label}"

    @property
    def headline(self) -> str:
        return headline(self.report)

    @property
    def change(self) -> Change | None:
        return self.report.change

    def chart_title(self) -> str:
        if not self.trend:
            return "Weekly NPS"
        last = self.trend[-1].week_start + timedelta(days=6)
        return f"Weekly NPS, {count(len(self.trend), 'full week')} to {last:%d %b %Y} (95 % margin band)"

    def chart_png(self) -> bytes:
        return render_trend_png(list(self.trend), self.chart_title())


def arrow(change: Change | None) -> str:
    """↑/↓ only for a significant move; → for noise, so readers don't chase sampling swings."""
    if change is None or change.delta is None:
        return ""
    if not change.significant:
        return "→"
    return "↑" if change.delta > 0 else "↓"


def change_line(digest: Digest) -> str:
    change = digest.change
    if change is None or change.delta is None:
        return "No answers in the previous period to compare with."
    label = digest.report.period.label
    previous = "the previous " + label.removeprefix("last ") if label.startswith("last ") else "the previous period"
    if too_few_to_compare(digest.report):
        verdict = "too few answers to compare"
    else:
        verdict = "significant at 95 %" if change.significant else "within noise"
    return f"{arrow(change)} {change.delta:+.0f} points vs {previous} ({verdict})"


def follow_up_line(follow_up: FollowUp) -> str:
    hours = int(FOLLOW_UP_WITHIN.total_seconds() // 3600)
    if not follow_up.total:  # "0 of 0" would read as a perfect score
        return f"Detractors followed up within {hours} h: no detractor alerts in this period"
    return f"Detractors followed up within {hours} h: {follow_up.followed} of {follow_up.total}"


def other_kind_lines(digest: Digest) -> list[str]:
    """One headline per other survey kind with answers, e.g. "CSAT last 7 days: 87 % (± 6 at 95 %), 40 answers"."""
    return [headline(r) for r in digest.other_kinds if r.overall.n]


def _split_segments(
    report: ScoreReport,
) -> tuple[tuple[SegmentStats, ...], tuple[SegmentStats, ...], tuple[SegmentStats, ...]]:
    ranked = report.ranked()
    reliable = [s for s in ranked if s.n >= report.min_n]
    too_few = tuple(s for s in ranked if 0 < s.n < report.min_n)
    if len(reliable) <= 2 * SHOWN:
        return tuple(reliable), (), too_few
    return tuple(reliable[:SHOWN]), tuple(reliable[-SHOWN:]), too_few


def build_digest(
    ctx: Host,
    sub: Subscription | None,
    now: datetime,
    *,
    period: Period | None = None,
    dimension: str | None = None,
) -> Digest:
    """The digest for `sub` as of `now`: the last `period_days` (default 7) by `dimension` (default team).

    The scheduler passes the slot time as `now`, so a digest posted late or retried says the same
    as one posted on time, and consecutive weekly digests cover consecutive weeks.
    """
    if period is None:
        days = (sub.period_days if sub else None) or DEFAULT_DAYS
        period = parse_period(f"{days}d", now)
    dimension = dimension or (sub.dimension if sub else None) or DEFAULT_DIMENSION
    engine = ctx.engine
    report = score_report(engine, period, dimension, min_n=ctx.settings.min_segment_n)
    best, worst, too_few = _split_segments(report)
    comments = recent_comments(engine, period, limit=COMMENTS, detractors_first=True)
    others = tuple(
        r
        for r in (score_report(engine, period, kind=k, min_n=ctx.settings.min_segment_n) for k in OTHER_KINDS)
        if r.overall.n
    )
    return Digest(
        report=report,
        best=best,
        worst=worst,
        too_few=too_few,
        comments=tuple(comments),
        follow_up=follow_up_stats(engine, period, within=FOLLOW_UP_WITHIN),
        # Full weeks only: a Monday digest would otherwise end its chart on a few hours of answers.
        trend=tuple(weekly_trend(engine, TREND_WEEKS, week_start(now) - timedelta(microseconds=1))),
        generated_at=now,
        other_kinds=others,
    )


# ---------------------------------------------------------------------- terminal


def segment_row(s: SegmentStats, width: int = 24) -> str:
    est = s.estimate
    rate = percent(s.response_rate) if s.response_rate is not None else "-"
    name = (s.key or "(none)")[:width]
    return f"{name:<{width}} {signed(est.value):>5} {margin_label(est):>6} {s.counts.n:>5} {rate:>6}"


def segment_lines(digest: Digest, width: int = 24) -> list[str]:
    """The best/worst table as fixed-width lines (terminal and Slack code block alike)."""
    report = digest.report
    dim = (report.dimension or "segment").capitalize()
    header = f"{dim:<{width}} {'NPS':>5} {'±':>6} {'n':>5} {'resp.':>6}"
    lines = [header, "-" * len(header)]
    if not digest.best:
        lines.append(f"(no {report.dimension or 'segment'} with {report.min_n}+ answers)")
    lines += [segment_row(s, width) for s in digest.best]
    if digest.worst:
        lines.append("…")
        lines += [segment_row(s, width) for s in digest.worst]
    return lines


def too_few_line(digest: Digest, names: int = 12) -> str:
    if not digest.too_few:
        return ""
    shown = ", ".join(f"{s.key or '(none)'} ({s.n})" for s in digest.too_few[:names])
    more = len(digest.too_few) - names
    tail = f" and {more} more" if more > 0 else ""
    return f"Too few answers to rank (fewer than {digest.report.min_n}): {shown}{tail}"


def comment_meta(c: CommentRow) -> str:
    parts = [f"{c.score}/10 {classify(c.score)}"]
    parts += [p for p in (c.customer_name, c.agent_name and f"agent {c.agent_name}", c.team) if p]
    return " · ".join(parts)


def render_text(digest: Digest, width: int = 100) -> str:
    report = digest.report
    out = [digest.title, "=" * len(digest.title), digest.headline]
    if report.overall.counts.n:
        out.append(change_line(digest))
        out.append(split(report.overall))
    out += other_kind_lines(digest)
    if report.dimension:
        out += ["", *segment_lines(digest)]
        if line := too_few_line(digest):
            out.append(textwrap.fill(line, width))
    if digest.comments:
        out += ["", "Recent comments:"]
        for c in digest.comments:
            body = textwrap.shorten(" ".join(c.comment.split()), 400, placeholder=" …")
            out.append(textwrap.fill(f'"{body}"', width, initial_indent="  ", subsequent_indent="  "))
            meta = comment_meta(c) + (f" · {c.ticket_url}" if c.ticket_url else "")
            out.append(f"    — {meta}")
    out += ["", follow_up_line(digest.follow_up)]
    if digest.trend:
        out += ["", f"Weekly NPS ({count(len(digest.trend), 'full week')}):"]
        for p in digest.trend:
            est = p.estimate
            value = "  n/a" if est.value is None else f"{signed(est.value):>5} {margin_label(est):>6}"
            out.append(f"  {p.week_start:%Y-%m-%d}  {value}  n={p.counts.n}")
    return "\n".join(out)
