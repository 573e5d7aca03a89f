"""Survey scoring: NPS, CSAT and CES point estimates with honest uncertainty.

Everything here is pure (stdlib and numpy) so it can be called from request handlers, report jobs and
tests alike. Reports show a margin next to every score because a swing of 20 NPS points on 12 answers
is noise, and people act on numbers they see.

Conventions:

* NPS is on the -100..+100 scale; CSAT is a percentage 0..100; CES is a mean on the raw 1..7 scale.
* ``Estimate.value`` is always the plain observed score; intervals may be centred elsewhere
  (adjusted Wald, Wilson) because that is what makes them trustworthy at small n.
* ``Estimate.margin`` is the half-width *before* clipping to the scale, so it stays comparable across
  reports even when the clipped interval is lopsided.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

__all__ = [
    "Change",
    "Estimate",
    "Group",
    "NpsCounts",
    "ces_estimate",
    "classify",
    "csat_estimate",
    "is_satisfied",
    "margin_label",
    "mean_change",
    "nps",
    "nps_change",
    "nps_estimate",
    "proportion_change",
]

Group = Literal["detractor", "passive", "promoter"]
NpsMethod = Literal["adjusted_wald", "wald"]

NPS_MIN, NPS_MAX = 0, 10
NPS_FLOOR, NPS_CEILING = -100.0, 100.0

# Adjusted-Wald pseudo-counts (Sauro & Lewis): 3 extra answers split 0.75 / 1.5 / 0.75.
_ADJ_EXTRA_N = 3.0
_ADJ_EXTRA_EDGE = 0.75


def _check_int(value: object, name: str) -> int:
    """Reject bools and floats explicitly: ``True`` or ``7.5`` as a score is a bug upstream, not data."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


def _z(confidence: float) -> float:
    """Two-sided critical value; validated so a typo like ``95`` fails loudly instead of silently."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def classify(score: int) -> Group:
    """Map a 0..10 answer to its NPS group (9-10 promoter, 7-8 passive, 0-6 detractor)."""
    _check_int(score, "score")
    if not NPS_MIN <= score <= NPS_MAX:
        raise ValueError(f"NPS score must be within {NPS_MIN}..{NPS_MAX}, got {score}")
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


@dataclass(frozen=True, slots=True)
class NpsCounts:
    """Group counts: the sufficient statistic for NPS, so SQL can aggregate and we never need raw rows."""

    promoters: int
    passives: int
    detractors: int

    def __post_init__(self) -> None:
        for name in ("promoters", "passives", "detractors"):
            if _check_int(getattr(self, name), name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def n(self) -> int:
        """Total respondents."""
        return self.promoters + self.passives + self.detractors

    @classmethod
    def from_scores(cls, scores: Iterable[int]) -> NpsCounts:
        """Count raw 0..10 answers; invalid answers raise rather than being silently dropped."""
        tally = {"promoter": 0, "passive": 0, "detractor": 0}
        for score in scores:
            tally[classify(score)] += 1
        return cls(promoters=tally["promoter"], passives=tally["passive"], detractors=tally["detractor"])

    def __add__(self, other: object) -> NpsCounts:
        """Merge segments (e.g. teams or weeks) without going back to raw answers."""
        if not isinstance(other, NpsCounts):
            return NotImplemented
        return NpsCounts(
            promoters=self.promoters + other.promoters,
            passives=self.passives + other.passives,
            detractors=self.detractors + other.detractors,
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """A score plus its confidence interval; all None when there is nothing to estimate from.

    ``margin`` is the unclipped half-width in the same units as ``value``; ``low``/``high`` are
    clipped to the scale where the scale is known (NPS, CSAT).
    """

    value: float | None
    low: float | None
    high: float | None
    margin: float | None
    n: int
    method: str

    def is_reliable(self, min_n: int) -> bool:
        """Whether enough answers back this number to show it without a "too few responses" caveat."""
        return self.n >= min_n


def nps(counts: NpsCounts) -> float | None:
    """Exact observed NPS (-100..100), or None for no answers (0 would falsely claim a neutral score)."""
    n = counts.n
    if n == 0:
        return None
    # Integer numerator first keeps round cases exact (e.g. 5/3/2 -> 30.0, not 30.000000000000004).
    return 100.0 * (counts.promoters - counts.detractors) / n


def _nps_moments(promoters: float, detractors: float, n: float) -> tuple[float, float]:
    """Mean and per-respondent variance of the +1/0/-1 scored answers, as proportions."""
    p = promoters / n
    d = detractors / n
    mean = p - d
    return mean, max(0.0, p + d - mean * mean)


def _adjusted(counts: NpsCounts) -> tuple[float, float, float]:
    """Adjusted-Wald counts (promoters, detractors, n): pulls p and d off 0/1 so variance is never 0."""
    return (
        counts.promoters + _ADJ_EXTRA_EDGE,
        counts.detractors + _ADJ_EXTRA_EDGE,
        counts.n + _ADJ_EXTRA_N,
    )


def nps_estimate(
    counts: NpsCounts,
    confidence: float = 0.95,
    method: NpsMethod = "adjusted_wald",
) -> Estimate:
    """NPS with a confidence interval.

    ``adjusted_wald`` (default, Sauro & Lewis) adds 3 pseudo-answers (0.75 promoter, 1.5 passive,
    0.75 detractor) before computing the interval, which keeps coverage close to nominal at the small
    sample sizes a single team sees; plain ``wald`` claims zero uncertainty for e.g. 5 promoters out
    of 5. ``value`` is always the exact observed NPS; the adjusted interval is centred on the adjusted
    NPS, and bounds are clipped to [-100, 100].
    """
    z = _z(confidence)
    n = counts.n
    if n == 0:
        return Estimate(value=None, low=None, high=None, margin=None, n=0, method=method)
    value = nps(counts)
    assert value is not None  # n > 0
    if method == "wald":
        _, var = _nps_moments(counts.promoters, counts.detractors, n)
        centre = value
        se = math.sqrt(var / n)
    elif method == "adjusted_wald":
        adj_p, adj_d, adj_n = _adjusted(counts)
        mean, var = _nps_moments(adj_p, adj_d, adj_n)
        centre = 100.0 * mean
        se = math.sqrt(var / adj_n)
    else:
        raise ValueError(f"unknown NPS interval method {method!r}")
    margin = 100.0 * z * se
    return Estimate(
        value=value,
        low=_clip(centre - margin, NPS_FLOOR, NPS_CEILING),
        high=_clip(centre + margin, NPS_FLOOR, NPS_CEILING),
        margin=margin,
        n=n,
        method=method,
    )


@dataclass(frozen=True, slots=True)
class Change:
    """Period-over-period movement and whether it is distinguishable from sampling noise."""

    delta: float | None
    z: float | None
    p_value: float | None
    significant: bool


# The exact test sums over every way the pooled answers could split between the periods; above this
# many splits (a few hundred answers a period) the normal approximation, as accurate there, is used.
EXACT_TEST_MAX_SPLITS = 200_000
_TIE = 1e-9  # |delta| equal to the observed one up to float noise counts as "at least as extreme"


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=float)))))


def _exact_p(current: tuple[int, ...], previous: tuple[int, ...], values: tuple[float, ...]) -> float | None:
    """Two-sided permutation p-value of the difference of means, or None when too costly.

    Under "no change" the period labels are exchangeable, so given the pooled answers the current
    period's counts follow a multivariate hypergeometric law. The p-value is the probability of a
    difference at least as large as the observed one: exact, so it never overstates at small n.
    Two or three answer categories (CSAT satisfied/not; NPS promoter/passive/detractor).
    """
    if sum(current) > sum(previous):  # enumerate the smaller period's splits: same |delta|, fewer cells
        current, previous = previous, current
    observed = abs(_mean(current, values) - _mean(previous, values))
    if observed <= _TIE:
        return 1.0
    totals = [a + b for a, b in zip(current, previous, strict=True)]
    n1, n = sum(current), sum(totals)
    n2 = n - n1
    lf = _log_factorials(n)

    def log_choose(t: int, a: np.ndarray) -> np.ndarray:
        return lf[t] - lf[a] - lf[t - a]

    if len(totals) == 2:
        x = np.arange(max(0, n1 - totals[1]), min(n1, totals[0]) + 1)
        alloc = [x, n1 - x]
    elif len(totals) == 3:
        if (min(n1, totals[0]) + 1) * (min(n1, totals[2]) + 1) > EXACT_TEST_MAX_SPLITS:
            return None
        x, z = np.meshgrid(np.arange(min(n1, totals[0]) + 1), np.arange(min(n1, totals[2]) + 1), indexing="ij")
        y = n1 - x - z
        keep = (y >= 0) & (y <= totals[1])
        alloc = [x[keep], y[keep], z[keep]]
    else:
        raise ValueError("the exact test takes two or three answer categories")
    score1 = sum(v * a for v, a in zip(values, alloc, strict=True))
    total_score = sum(v * t for v, t in zip(values, totals, strict=True))
    delta = score1 / n1 - (total_score - score1) / n2
    log_p = sum(log_choose(t, a) for t, a in zip(totals, alloc, strict=True)) - (lf[n] - lf[n1] - lf[n2])
    return float(min(1.0, np.exp(log_p[np.abs(delta) >= observed - _TIE]).sum()))


def _mean(counts: tuple[int, ...], values: tuple[float, ...]) -> float:
    return sum(c * v for c, v in zip(counts, values, strict=True)) / sum(counts)


def mean_change(
    current: tuple[int, ...],
    previous: tuple[int, ...],
    values: tuple[float, ...],
    *,
    scale: float = 1.0,
    confidence: float = 0.95,
    min_n: int = 1,
) -> Change:
    """Test the change in the mean score of categorical answers (NPS: +1/0/-1, CSAT: 1/0).

    `current`/`previous` count answers per category, `values` score each category, `scale` turns the
    difference into report units (100 for points). The z statistic uses the variance pooled over both
    periods (the null hypothesis: one distribution); for NPS that is [p + d - (p - d)^2] per answer.
    The p-value comes from the exact permutation test (the normal curve only for very large samples,
    where the test would be slow), because the z test over-states at small n. A change is never
    significant when either period has fewer than `min_n` answers.
    """
    alpha = 1.0 - confidence
    _z(confidence)
    n1, n2 = sum(current), sum(previous)
    if n1 == 0 or n2 == 0:
        return Change(delta=None, z=None, p_value=None, significant=False)
    diff = _mean(current, values) - _mean(previous, values)
    pooled = tuple(a + b for a, b in zip(current, previous, strict=True))
    mean0 = _mean(pooled, values)
    var0 = max(0.0, _mean(pooled, tuple(v * v for v in values)) - mean0 * mean0)
    if var0 == 0.0:  # every answer in one category: nothing moved
        return Change(delta=0.0, z=0.0, p_value=1.0, significant=False)
    z = diff / math.sqrt(var0 * (1.0 / n1 + 1.0 / n2))
    p_value = _exact_p(current, previous, values)
    if p_value is None:  # hundreds of answers a period: the normal curve is accurate there
        # Continuity correction (half the smallest step the difference can take) keeps the test at or
        # below its nominal false-positive rate; without it the z test runs slightly over.
        step = min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1 :])
        corrected = max(0.0, abs(diff) - 0.5 * step * (1.0 / n1 + 1.0 / n2))
        p_value = min(1.0, 2.0 * NormalDist().cdf(-corrected / math.sqrt(var0 * (1.0 / n1 + 1.0 / n2))))
    significant = p_value < alpha and min(n1, n2) >= min_n
    return Change(delta=scale * diff, z=z, p_value=p_value, significant=significant)


_NPS_VALUES = (1.0, 0.0, -1.0)  # promoter, passive, detractor


def nps_change(current: NpsCounts, previous: NpsCounts, confidence: float = 0.95, min_n: int = 1) -> Change:
    """NPS movement in points (current - previous); see mean_change for the test.

    Lets reports say "up 12 points" only when that is unlikely to be noise. An empty sample gives
    ``delta=None`` and is never significant.
    """
    return mean_change(
        (current.promoters, current.passives, current.detractors),
        (previous.promoters, previous.passives, previous.detractors),
        _NPS_VALUES,
        scale=100.0,
        confidence=confidence,
        min_n=min_n,
    )


def proportion_change(
    hits: int, n: int, prev_hits: int, prev_n: int, confidence: float = 0.95, min_n: int = 1
) -> Change:
    """CSAT movement in percentage points: Fisher's exact test at small n, pooled two-proportion z above."""
    return mean_change(
        (hits, n - hits), (prev_hits, prev_n - prev_hits), (1.0, 0.0), scale=100.0, confidence=confidence, min_n=min_n
    )


def is_satisfied(score: int, scale_max: int = 5) -> bool:
    """Top-2-box CSAT: on 1..5 only 4 and 5 count, because "neutral" is not satisfied."""
    _check_int(scale_max, "scale_max")
    if scale_max < 3:
        raise ValueError(f"scale_max must be >= 3 for a top-2 box to mean anything, got {scale_max}")
    _check_int(score, "score")
    if not 1 <= score <= scale_max:
        raise ValueError(f"CSAT score must be within 1..{scale_max}, got {score}")
    return score >= scale_max - 1


def csat_estimate(satisfied: int, n: int, confidence: float = 0.95) -> Estimate:
    """CSAT percentage with a Wilson score interval.

    Wilson rather than Wald because CSAT typically sits near 90-100 %, where the Wald interval
    collapses to zero width or spills past 100 %.
    """
    z = _z(confidence)
    _check_int(satisfied, "satisfied")
    _check_int(n, "n")
    if not 0 <= satisfied <= n:
        raise ValueError(f"need 0 <= satisfied <= n, got satisfied={satisfied}, n={n}")
    if n == 0:
        return Estimate(value=None, low=None, high=None, margin=None, n=0, method="wilson")
    p = satisfied / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # At 0 % / 100 % the Wilson bound is exactly 0 / 1; rounding would otherwise give 99.999... < value.
    low = 0.0 if satisfied == 0 else _clip(centre - half, 0.0, 1.0)
    high = 1.0 if satisfied == n else _clip(centre + half, 0.0, 1.0)
    return Estimate(
        value=100.0 * p,
        low=100.0 * low,
        high=100.0 * high,
        margin=100.0 * half,
        n=n,
        method="wilson",
    )


def ces_estimate(total: float, sum_squares: float, n: int, confidence: float = 0.95) -> Estimate:
    """Mean CES with a normal-approximation interval from SUM(x), SUM(x*x) and COUNT(*).

    Takes sufficient statistics so the database does the aggregation. With n == 1 there is no sample
    variance, so only the value is returned. Bounds are not clipped: the scale is the caller's.
    """
    z = _z(confidence)
    _check_int(n, "n")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return Estimate(value=None, low=None, high=None, margin=None, n=0, method="normal")
    # float() so Decimal results from SQL SUM() work too.
    total, sum_squares = float(total), float(sum_squares)
    mean = total / n
    if n == 1:
        return Estimate(value=mean, low=None, high=None, margin=None, n=1, method="normal")
    ss = sum_squares - total * total / n
    # Tiny negatives are float cancellation when all answers are equal; big ones mean inconsistent input.
    if ss < -1e-9 * max(1.0, abs(sum_squares)):
        raise ValueError("sum_squares is smaller than total**2 / n; the aggregates are inconsistent")
    var = max(0.0, ss) / (n - 1)
    margin = z * math.sqrt(var / n)
    return Estimate(value=mean, low=mean - margin, high=mean + margin, margin=margin, n=n, method="normal")


def margin_label(est: Estimate) -> str:
    """Short "±14.6" label for reports; empty when there is no interval to show."""
    if est.margin is None:
        return ""
    return f"±{est.margin:.1f}"
