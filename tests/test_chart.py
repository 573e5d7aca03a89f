"""The trend chart is a real, deterministic PNG of the requested size, even with nothing to draw."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from nps_bot.reporting.chart import render_trend_png
from nps_bot.reporting.queries import TrendPoint
from nps_bot.reporting.scoring import NpsCounts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def _points() -> list[TrendPoint]:
    start = datetime(2026, 9, 7, tzinfo=UTC)
    counts = [(5, 3, 2), (0, 0, 0), (8, 2, 4), (1, 0, 0), (0, 0, 0), (20, 5, 5)]
    return [TrendPoint(start + timedelta(weeks=i), NpsCounts(*c)) for i, c in enumerate(counts)]


def test_trend_png_size_and_determinism() -> None:
    png = render_trend_png(_points(), "Weekly NPS")
    assert _size(png) == (800, 360)
    assert png == render_trend_png(_points(), "Weekly NPS")
    assert b"Software" not in png
    assert _size(render_trend_png(_points(), "small", width_px=400, height_px=200)) == (400, 200)


def test_empty_trend_renders() -> None:
    assert _size(render_trend_png([], "No answers")) == (800, 360)
    empty_weeks = [TrendPoint(datetime(2026, 9, 7, tzinfo=UTC), NpsCounts(0, 0, 0))]
    assert _size(render_trend_png(empty_weeks, "No answers")) == (800, 360)


def test_small_weeks_are_drawn_hollow_and_other_kinds_get_their_own_axis() -> None:
    # weeks 0 and 3 have fewer than 10 answers: with min_n=1 nothing is hollow, so the pixels differ
    assert render_trend_png(_points(), "t") != render_trend_png(_points(), "t", min_n=1)
    start = datetime(2026, 9, 7, tzinfo=UTC)
    csat = [
        TrendPoint(start + timedelta(weeks=i), NpsCounts(0, 0, 0), "csat", n, s)
        for i, (n, s) in enumerate([(10, 9), (0, 0), (20, 15)])
    ]
    ces = [TrendPoint(start, NpsCounts(0, 0, 0), "ces", 4, 0, 26.0, 170.0)]
    for points in (csat, ces):
        png = render_trend_png(points, "other kind")
        assert _size(png) == (800, 360) and 5_000 < len(png) < 500_000


def test_legend_sits_outside_the_plot_area() -> None:
    from nps_bot.reporting.chart import trend_figure

    fig = trend_figure(_points(), "Weekly NPS")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer)), "the legend must not cover data points"
    assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1), "and stays visible"
