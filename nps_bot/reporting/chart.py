"""Weekly trend as a PNG for chat: the score line with its 95 % margin band.

Built on matplotlib's object API (Figure + Agg canvas), not pyplot: no global state, safe in threads.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

from nps_bot.reporting.queries import TrendPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100
_LINE = "#1f6feb"
# Per kind: y range, axis label, and where the neutral line goes (None: no line).
_AXES: dict[str, tuple[float, float, str, float | None]] = {
    "nps": (-100.0, 100.0, "NPS", 0.0),
    "csat": (0.0, 100.0, "CSAT (% satisfied)", None),
    "ces": (1.0, 7.0, "CES (mean, 1-7)", 4.0),
}


def _isolated(values: list[float], i: int) -> bool:
    return all(j < 0 or j >= len(values) or math.isnan(values[j]) for j in (i - 1, i + 1))


def render_trend_png(
    points: list[TrendPoint], title: str, width_px: int = 800, height_px: int = 360, *, min_n: int = 10
) -> bytes:
    """PNG bytes of the weekly score with its 95 % band. Same input, same bytes.

    Weeks without answers are gaps (NaN), not zeros; weeks with fewer than `min_n` answers get a
    hollow marker, so +100 from one answer does not read like a real score.
    """
    fig = trend_figure(points, title, width_px, height_px, min_n=min_n)
    buf = io.BytesIO()
    # No Software/date metadata: identical input gives identical bytes (cacheable, testable).
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def trend_figure(
    points: list[TrendPoint], title: str, width_px: int = 800, height_px: int = 360, *, min_n: int = 10
) -> Figure:
    """The chart as a laid-out matplotlib Figure (render_trend_png draws it); the legend sits under the
    plot, outside the axes, so it never hides a data point."""
    kind = points[0].kind if points else "nps"
    y_low, y_high, y_label, neutral = _AXES.get(kind, _AXES["nps"])
    # Imported here, not at the top: matplotlib costs ~0.5 s and most processes never draw a chart.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(points)))
    nan = math.nan
    values, lows, highs = [], [], []
    for p in points:
        est = p.estimate
        values.append(nan if est.value is None else est.value)
        lows.append(nan if est.low is None else est.low)
        highs.append(nan if est.high is None else est.high)
    if any(not math.isnan(v) for v in values):
        ax.fill_between(xs, lows, highs, color=_LINE, alpha=0.15, linewidth=0, label="95 % margin")
        # fill_between needs two neighbours: a week between gaps gets its band as a short bar.
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            if not math.isnan(lo) and _isolated(lows, i):
                ax.fill_between([i - 0.15, i + 0.15], [lo, lo], [hi, hi], color=_LINE, alpha=0.15, linewidth=0)
        ax.plot(xs, values, color=_LINE, linewidth=2, label=y_label.split(" ")[0])
        solid = [v if p.n >= min_n else nan for p, v in zip(points, values, strict=True)]
        hollow = [v if 0 < p.n < min_n else nan for p, v in zip(points, values, strict=True)]
        ax.plot(xs, solid, linestyle="none", marker="o", markersize=5, color=_LINE)
        ax.plot(
            xs,
            hollow,
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="white",
            markeredgecolor=_LINE,
            label=f"fewer than {min_n} answers",
        )
        # Outside the plot area, under the week labels: inside it covered the points near the bottom.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False, ncols=3)
    else:
        ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", transform=ax.transAxes, color="grey")
    if points:
        ax.set_xticks(xs, [f"{p.week_start:%d %b}" for p in points], fontsize=8)
        ax.set_xlim(-0.5, len(points) - 0.5)
    else:
        ax.set_xticks([])
    pad = (y_high - y_low) * 0.04  # room for a marker sitting on the edge (+100 from one answer)
    ax.set_ylim(y_low - pad, y_high + pad)
    if neutral is not None:
        ax.axhline(neutral, color="grey", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(y_label)
    fig.tight_layout()
    return fig
