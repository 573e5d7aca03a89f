"""Plain-text rendering of score reports: the terminal (demo, digest --print) and chat code blocks."""

from __future__ import annotations

from nps_bot.reporting.queries import ScoreReport, SegmentStats
from nps_bot.reporting.scoring import Change, margin_label

_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
KIND_NAMES = _NAMES


def count(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number (English): "1 answer", "2 answers", "0 answers"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def kind_name(kind: str) -> str:
    return _NAMES.get(kind, kind.upper())


def signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0f}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def value_text(kind: str, value: float | None) -> str:
    """NPS signed (+12), CSAT as a percentage (87 %), CES as a mean (2.4)."""
    if value is None:
        return "n/a"
    if kind == "csat":
        return f"{value:.0f} %"
    if kind == "ces":
        return f"{value:.1f}"
    return signed(value)


def _amount(delta: float, kind: str) -> str:
    return f"{delta:+.1f}" if kind == "ces" else f"{delta:+.0f}{' pts' if kind == 'csat' else ''}"


def change_text(change: Change, kind: str = "nps", too_few: bool = False) -> str:
    """ "▲ +12 vs previous period" when significant, "▶ no significant change vs previous period (+3)"
    otherwise, "" when either period has no answers. With `too_few` (a period below the minimum
    answers) no verdict is given at all: "significant" must never stand next to "too few answers"."""
    if change.delta is None:
        return ""
    if too_few:
        return f"{_amount(change.delta, kind)} vs previous period (too few answers to compare)"
    if not change.significant:
        return f"▶ no significant change vs previous period ({_amount(change.delta, kind)})"
    arrow = "▲" if change.delta > 0 else "▼"
    return f"{arrow} {_amount(change.delta, kind)} vs previous period"


def change_cell(change: Change, kind: str = "nps") -> str:
    """Short table form: "▲ +12" / "▼ -9" significant, "▶ +3" within noise, "" nothing to compare."""
    if change.delta is None:
        return ""
    arrow = ("▲" if change.delta > 0 else "▼") if change.significant else "▶"
    return f"{arrow} {change.delta:+.1f}" if kind == "ces" else f"{arrow} {change.delta:+.0f}"


def too_few_to_compare(report: ScoreReport) -> bool:
    """Whether either period of the overall line has fewer answers than the report's minimum."""
    o = report.overall
    return o.n < report.min_n or (o.previous is not None and 0 < o.previous.n < report.min_n)


def headline(report: ScoreReport) -> str:
    o = report.overall
    kind = getattr(report, "kind", "nps")
    name = _NAMES.get(kind, kind.upper())
    est = o.estimate
    if o.n == 0:
        return f"{name} {report.period.label}: no answers yet"
    moe = margin_label(est)
    margin = f" ({moe} at 95 %)" if moe else ""
    text = f"{name} {report.period.label}: {value_text(kind, est.value)}{margin}, {count(o.n, 'answer')}"
    if o.response_rate is not None:
        text += f", response rate {percent(o.response_rate)}"
    if changed := change_text(report.change, kind, too_few=too_few_to_compare(report)):
        text += f" · {changed}"
    if o.n < report.min_n:
        text += f" (too few answers to be reliable; fewer than {report.min_n})"
    return text


def split(stats: SegmentStats) -> str:
    c = stats.counts
    if stats.kind == "csat" and stats.answers:
        return f"Satisfied (4-5) {stats.satisfied / stats.answers:.0%} of {stats.answers}".replace("%", " %")
    if not c.n:
        return ""
    return (
        f"Promoters {c.promoters / c.n:.0%} · Passives {c.passives / c.n:.0%} · Detractors {c.detractors / c.n:.0%}"
    ).replace("%", " %")


def segment_table(report: ScoreReport, width: int = 24) -> str:
    if not report.segments:
        return "(no segments)"
    kind = getattr(report, "kind", "nps")
    dimension = (report.dimension or "segment").capitalize()
    header = f"{dimension:<{width}} {_NAMES.get(kind, 'NPS'):>5} {'±':>5} {'n':>5} {'resp.':>6} {'vs prev.':>8}"
    lines = [header, "-" * len(header)]
    for s in report.ranked():
        name = (s.key or "(none)")[:width]
        rate = percent(s.response_rate) if s.response_rate is not None else "-"
        if s.n < report.min_n:
            # Columns stay aligned; no score and no change shown, they would be noise.
            lines.append(f"{name:<{width}} {'-':>5} {'':>5} {s.n:>5} {rate:>6}  too few answers")
        else:
            est = s.estimate
            value = value_text(kind, est.value)
            change = change_cell(s.change, kind)
            lines.append(f"{name:<{width}} {value:>5} {est.margin or 0:>5.1f} {s.n:>5} {rate:>6} {change:>8}")
    if any(s.n >= report.min_n and s.change.delta is not None for s in report.segments):
        lines.append("▲▼ significant change vs previous period (95 %); ▶ within noise")
    return "\n".join(lines)


def render(report: ScoreReport) -> str:
    parts = [headline(report)]
    if report.overall.n and (line := split(report.overall)):
        parts.append(line)
    if report.dimension:
        parts.append("")
        parts.append(segment_table(report))
    return "\n".join(parts)
