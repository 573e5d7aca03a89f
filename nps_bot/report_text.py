"""Plain-text rendering of score reports: the terminal (demo, digest --print) and chat code blocks."""

from __future__ import annotations

from nps_bot.reports import ScoreReport, SegmentStats
from nps_bot.scoring import margin_label


def signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0f}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def headline(report: ScoreReport) -> str:
    o = report.overall
    est = o.estimate
    if o.counts.n == 0:
        return f"NPS {report.period.label}: no answers yet"
    moe = margin_label(est)
    text = f"NPS {report.period.label}: {signed(est.value)} ({moe} at 95 %), {o.counts.n} answers"
    if o.response_rate is not None:
        text += f", response rate {percent(o.response_rate)}"
    if o.counts.n < report.min_n:
        text += f" (too few answers to be reliable; fewer than {report.min_n})"
    return text


def split(stats: SegmentStats) -> str:
    c = stats.counts
    if not c.n:
        return ""
    return (
        f"Promoters {c.promoters / c.n:.0%} · Passives {c.passives / c.n:.0%} · Detractors {c.detractors / c.n:.0%}"
    ).replace("%", " %")


def segment_table(report: ScoreReport, width: int = 24) -> str:
    if not report.segments:
        return "(no segments)"
    header = f"{report.dimension.capitalize():<{width}} {'NPS':>5} {'±':>5} {'n':>5} {'resp.':>6}"
    lines = [header, "-" * len(header)]
    for s in report.ranked():
        name = (s.key or "(none)")[:width]
        rate = percent(s.response_rate) if s.response_rate is not None else "-"
        if s.counts.n < report.min_n:
            lines.append(f"{name:<{width}} {'too few answers':>17} {s.counts.n:>5} {rate:>6}")
        else:
            est = s.estimate
            lines.append(f"{name:<{width}} {signed(est.value):>5} {est.margin or 0:>5.1f} {s.counts.n:>5} {rate:>6}")
    return "\n".join(lines)


def render(report: ScoreReport) -> str:
    parts = [headline(report)]
    if report.overall.counts.n:
        parts.append(split(report.overall))
    if report.dimension:
        parts.append("")
        parts.append(segment_table(report))
    return "\n".join(parts)
