"""Tests for nps_bot.reporting.scoring: hand-worked examples plus properties that must hold for any counts."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nps_bot.reporting.scoring import (
    Change,
    Estimate,
    NpsCounts,
    ces_estimate,
    classify,
    csat_estimate,
    is_satisfied,
    margin_label,
    nps,
    nps_change,
    nps_estimate,
)

# z for 95 % two-sided: NormalDist().inv_cdf(0.975)
Z95 = 1.959963984540054

# Small counts are where the interesting edge cases live (clipping, zero variance), so weight them up.
count_st = st.integers(0, 12) | st.integers(0, 2000)
counts_st = st.builds(NpsCounts, promoters=count_st, passives=count_st, detractors=count_st)
nonempty_counts_st = counts_st.filter(lambda c: c.n > 0)
methods_st = st.sampled_from(["adjusted_wald", "wald"])


# --- classify ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "group"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")],
)
def test_classify_boundaries(score: int, group: str) -> None:
    assert classify(score) == group


@pytest.mark.parametrize("bad", [-1, 11, 7.5, True, False, "9", None])
def test_classify_rejects_invalid(bad: object) -> None:
    with pytest.raises(ValueError):
        classify(bad)  # type: ignore[arg-type]


# --- NpsCounts --------------------------------------------------------------------------------------


def test_counts_n_and_add() -> None:
    a = NpsCounts(promoters=3, passives=1, detractors=1)
    b = NpsCounts(promoters=2, passives=0, detractors=4)
    assert a.n == 5
    assert a + b == NpsCounts(promoters=5, passives=1, detractors=5)


def test_counts_add_other_type_is_type_error() -> None:
    with pytest.raises(TypeError):
        NpsCounts(1, 1, 1) + 1  # type: ignore[operator]


@pytest.mark.parametrize("bad", [(-1, 0, 0), (0, 1.0, 0), (0, 0, True)])
def test_counts_reject_invalid(bad: tuple[object, object, object]) -> None:
    with pytest.raises(ValueError):
        NpsCounts(*bad)  # type: ignore[arg-type]


def test_from_scores_rejects_invalid_answer() -> None:
    with pytest.raises(ValueError):
        NpsCounts.from_scores([9, 10, 11])


@given(st.lists(st.integers(0, 10)))
def test_from_scores_agrees_with_classify(scores: list[int]) -> None:
    tally = Counter(classify(s) for s in scores)
    counts = NpsCounts.from_scores(scores)
    assert counts == NpsCounts(tally["promoter"], tally["passive"], tally["detractor"])
    assert counts.n == len(scores)


@given(counts_st, counts_st)
def test_add_matches_concatenated_scores(a: NpsCounts, b: NpsCounts) -> None:
    total = a + b
    assert total.n == a.n + b.n
    assert (total.promoters, total.passives, total.detractors) == (
        a.promoters + b.promoters,
        a.passives + b.passives,
        a.detractors + b.detractors,
    )


# --- nps: worked examples ---------------------------------------------------------------------------


def test_nps_50_percent_promoters_20_percent_detractors_is_30() -> None:
    assert nps(NpsCounts(promoters=5, passives=3, detractors=2)) == 30.0
    assert nps(NpsCounts(promoters=50, passives=30, detractors=20)) == 30.0


def test_nps_70_15_15_is_55() -> None:
    assert nps(NpsCounts(promoters=70, passives=15, detractors=15)) == 55.0


def test_nps_empty_is_none() -> None:
    assert nps(NpsCounts(0, 0, 0)) is None


def test_nps_extremes() -> None:
    assert nps(NpsCounts(4, 0, 0)) == 100.0
    assert nps(NpsCounts(0, 0, 4)) == -100.0
    assert nps(NpsCounts(0, 4, 0)) == 0.0


def test_wald_margin_300_200_100() -> None:
    # 600 answers: p = 300/600 = 0.5, d = 100/600 = 1/6, NPS = 100 * (1/2 - 1/6) = 33.33...
    # var = p + d - (p - d)^2 = 2/3 - 1/9 = 5/9 = 0.5556
    # SE  = sqrt((5/9) / 600) = sqrt(0.00092593) = 0.030429
    # margin = 1.959964 * 0.030429 * 100 = 5.9640
    est = nps_estimate(NpsCounts(promoters=300, passives=200, detractors=100), method="wald")
    assert est.value == pytest.approx(100 / 3)
    assert est.margin == pytest.approx(5.9640, abs=1e-4)
    assert est.margin == pytest.approx(Z95 * math.sqrt((5 / 9) / 600) * 100)
    assert est.low == pytest.approx(100 / 3 - 5.9640, abs=1e-4)
    assert est.high == pytest.approx(100 / 3 + 5.9640, abs=1e-4)
    assert est.n == 600
    assert est.method == "wald"


def test_wald_margin_p25_d075_n1000() -> None:
    # p = .25, d = .075 -> NPS 17.5; var = .325 - .175^2 = .294375; SE = sqrt(.294375/1000) = .017157
    # margin = 1.96 * .017157 * 100 = 3.36 -> "3.4" as usually quoted
    est = nps_estimate(NpsCounts(promoters=250, passives=675, detractors=75), method="wald")
    assert est.value == pytest.approx(17.5)
    assert est.margin == pytest.approx(3.4, abs=0.05)
    assert margin_label(est) == "±3.4"


def test_adjusted_wald_small_sample_by_hand() -> None:
    # 3 promoters, 1 passive, 1 detractor: exact NPS = 100 * (3 - 1) / 5 = 40.
    # Adjusted: P' = 3.75, D' = 1.75, n' = 8 -> p' = .46875, d' = .21875, adjusted NPS = 25.
    # var' = p' + d' - (p' - d')^2 = .6875 - .0625 = .625; SE' = sqrt(.625 / 8) = sqrt(.078125) = .279508
    # margin = 1.959964 * .279508 * 100 = 54.7827 -> interval 25 ± 54.78 = [-29.7827, 79.7827]
    est = nps_estimate(NpsCounts(promoters=3, passives=1, detractors=1))
    assert est.method == "adjusted_wald"
    assert est.value == 40.0
    assert est.margin == pytest.approx(54.7827, abs=1e-4)
    assert est.low == pytest.approx(-29.7827, abs=1e-4)
    assert est.high == pytest.approx(79.7827, abs=1e-4)
    assert est.n == 5
    assert margin_label(est) == "±54.8"


def test_adjusted_wald_all_promoters_clips_high_at_100() -> None:
    # 5/5 promoters: P' = 5.75, D' = .75, n' = 8 -> adjusted NPS 62.5, var' = .8125 - .390625 = .421875
    # margin = 1.959964 * sqrt(.421875 / 8) * 100 = 45.009 -> high 107.5 clipped to 100.
    est = nps_estimate(NpsCounts(promoters=5, passives=0, detractors=0))
    assert est.value == 100.0
    assert est.margin == pytest.approx(45.009, abs=1e-3)
    assert est.low == pytest.approx(62.5 - 45.009, abs=1e-3)
    assert est.high == 100.0


def test_adjusted_wald_all_detractors_clips_low_at_minus_100() -> None:
    # Mirror image of the all-promoters case: adjusted NPS -62.5, margin 45.009 -> low -107.5 -> -100.
    est = nps_estimate(NpsCounts(promoters=0, passives=0, detractors=5))
    assert est.value == -100.0
    assert est.low == -100.0
    assert est.high == pytest.approx(-62.5 + 45.009, abs=1e-3)


def test_wald_clips_to_scale() -> None:
    # 9 promoters, 1 detractor: NPS 80, var = 1 - .64 = .36, margin = 1.959964 * sqrt(.036) * 100 = 37.19
    # -> 80 + 37.19 = 117.19, clipped to 100; margin itself stays the unclipped half-width.
    est = nps_estimate(NpsCounts(promoters=9, passives=0, detractors=1), method="wald")
    assert est.margin == pytest.approx(37.188, abs=1e-3)
    assert est.low == pytest.approx(80 - 37.188, abs=1e-3)
    assert est.high == 100.0


def test_wald_all_promoters_has_zero_margin() -> None:
    # The reason adjusted Wald is the default: plain Wald claims certainty from 5 answers.
    est = nps_estimate(NpsCounts(promoters=5, passives=0, detractors=0), method="wald")
    assert est.margin == 0.0
    assert est.low == est.high == 100.0


def test_nps_estimate_empty() -> None:
    for method in ("adjusted_wald", "wald"):
        est = nps_estimate(NpsCounts(0, 0, 0), method=method)  # type: ignore[arg-type]
        assert est == Estimate(value=None, low=None, high=None, margin=None, n=0, method=method)
        assert margin_label(est) == ""
        assert not est.is_reliable(1)


def test_higher_confidence_widens_interval() -> None:
    counts = NpsCounts(40, 30, 30)
    m80, m95, m99 = (nps_estimate(counts, c).margin or 0.0 for c in (0.80, 0.95, 0.99))
    assert 0.0 < m80 < m95 < m99


@pytest.mark.parametrize("bad", [0.0, 1.0, 95, -0.5])
def test_bad_confidence_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        nps_estimate(NpsCounts(1, 1, 1), confidence=bad)
    with pytest.raises(ValueError):
        nps_change(NpsCounts(1, 1, 1), NpsCounts(0, 0, 0), confidence=bad)


def test_unknown_method_rejected() -> None:
    with pytest.raises(ValueError):
        nps_estimate(NpsCounts(1, 1, 1), method="exact")  # type: ignore[arg-type]


def test_is_reliable() -> None:
    est = nps_estimate(NpsCounts(10, 5, 5))
    assert est.is_reliable(20)
    assert not est.is_reliable(21)


# --- nps: properties --------------------------------------------------------------------------------


@given(nonempty_counts_st)
def test_nps_within_bounds(counts: NpsCounts) -> None:
    value = nps(counts)
    assert value is not None
    assert -100.0 <= value <= 100.0


@given(nonempty_counts_st, methods_st, st.floats(0.5, 0.999))
def test_interval_within_bounds(counts: NpsCounts, method: str, confidence: float) -> None:
    est = nps_estimate(counts, confidence, method)  # type: ignore[arg-type]
    assert est.low is not None and est.high is not None and est.margin is not None
    assert -100.0 <= est.low <= est.high <= 100.0
    assert est.margin >= 0.0
    assert est.value == nps(counts)
    assert est.n == counts.n


@given(nonempty_counts_st, st.floats(0.5, 0.999))
def test_wald_interval_contains_value(counts: NpsCounts, confidence: float) -> None:
    est = nps_estimate(counts, confidence, "wald")
    assert est.low is not None and est.value is not None and est.high is not None
    assert est.low <= est.value <= est.high


@given(nonempty_counts_st, methods_st, st.integers(1, 50))
def test_margin_non_increasing_as_n_grows(counts: NpsCounts, method: str, k: int) -> None:
    # Same proportions, k times (and k+1 times) the answers: more data never widens the interval.
    def margin(m: int) -> float:
        scaled = NpsCounts(counts.promoters * m, counts.passives * m, counts.detractors * m)
        value = nps_estimate(scaled, method=method).margin  # type: ignore[arg-type]
        assert value is not None
        return value

    small, large = margin(k), margin(k + 1)
    assert large <= small * (1 + 1e-9) + 1e-12


@given(st.integers(1, 1_000_000))
def test_adjusted_margin_positive_when_all_promoters(n: int) -> None:
    est = nps_estimate(NpsCounts(promoters=n, passives=0, detractors=0))
    assert est.margin is not None and est.margin > 0.0
    assert est.low is not None and est.low < 100.0


# --- nps_change -------------------------------------------------------------------------------------


def test_change_significant_by_hand() -> None:
    # n = 200 each: current 120/40/40 (NPS 40), previous 60/40/100 (NPS -20), too many splits for the
    # exact sum, so the normal test with the pooled NPS variance: pooled p = .45, d = .35,
    # var = p + d - (p - d)^2 = .79; SE = sqrt(.79 * (1/200 + 1/200)) = .088882; z = .6 / SE = 6.7505.
    change = nps_change(NpsCounts(120, 40, 40), NpsCounts(60, 40, 100))
    assert change.delta == pytest.approx(60.0)
    assert change.z == pytest.approx(0.6 / math.sqrt(0.79 * 0.01))
    assert change.p_value is not None and change.p_value < 1e-9
    assert change.significant


def test_change_exact_p_value_by_hand() -> None:
    # 2 promoters now vs 2 detractors before. If the periods did not matter, the current period's two
    # answers are any 2 of the 4: C(4,2) = 6 splits, 1 gives +200, 1 gives -200, 4 give 0. p = 2/6.
    change = nps_change(NpsCounts(2, 0, 0), NpsCounts(0, 0, 2))
    assert change.delta == 200.0
    assert change.p_value == pytest.approx(1 / 3)
    assert not change.significant


def test_one_promoter_against_one_detractor_is_noise() -> None:
    # The reported bug: +200 "significant at 95 %" from two answers. The exact test gives p = 1.
    change = nps_change(NpsCounts(1, 0, 0), NpsCounts(0, 0, 1))
    assert change.delta == 200.0 and change.p_value == pytest.approx(1.0) and not change.significant


def test_change_small_samples_are_not_overstated() -> None:
    # n = 5 each, 3/1/1 vs 2/1/2: the z statistic is .76 and the exact p-value is far from .05.
    change = nps_change(NpsCounts(3, 1, 1), NpsCounts(2, 1, 2))
    assert change.delta == pytest.approx(40.0)
    # pooled p = .5, d = .3: var = .8 - .04 = .76; z = .4 / sqrt(.76 * .4)
    assert change.z == pytest.approx(0.4 / math.sqrt(0.76 * 0.4))
    assert change.p_value is not None and change.p_value > 0.3
    assert not change.significant


def test_change_zero_variance_samples_do_not_divide_by_zero() -> None:
    # 100 % promoters vs 100 % detractors: each period alone has no spread; the pooled one does.
    change = nps_change(NpsCounts(50, 0, 0), NpsCounts(0, 0, 50))
    assert change.delta == 200.0
    assert change.z is not None and math.isfinite(change.z) and change.z > 0
    assert change.significant
    # 100 % vs 100 %: no change, no division by zero, not significant.
    same = nps_change(NpsCounts(50, 0, 0), NpsCounts(40, 0, 0))
    assert same == Change(delta=0.0, z=0.0, p_value=1.0, significant=False)


def test_never_significant_below_min_n() -> None:
    big = nps_change(NpsCounts(50, 0, 0), NpsCounts(0, 0, 50), min_n=10)
    assert big.significant
    few = nps_change(NpsCounts(9, 0, 0), NpsCounts(0, 0, 50), min_n=10)
    assert few.p_value is not None and few.p_value < 0.001, "the test itself would call it"
    assert not few.significant, "but 9 answers are fewer than min_n"


@given(nonempty_counts_st, nonempty_counts_st, st.integers(1, 60))
def test_significance_needs_min_n_in_both_periods(a: NpsCounts, b: NpsCounts, min_n: int) -> None:
    change = nps_change(a, b, min_n=min_n)
    if change.significant:
        assert min(a.n, b.n) >= min_n


@pytest.mark.parametrize("n", [5, 20])
def test_exact_test_size_is_at_most_alpha(n: int) -> None:
    # For pooled answers fixed, the chance (over every equally likely split into two periods of n)
    # that the test says "significant" must be at most 5 %: computed exactly, no simulation noise.
    for totals in [(n, n // 2, n // 2), (n // 2, n, n // 2), (2 * n - 2, 1, 1), (n, 0, n)]:
        splits = []
        for x in range(min(n, totals[0]) + 1):
            for z in range(min(n, totals[2]) + 1):
                y = n - x - z
                if 0 <= y <= totals[1]:
                    ways = math.comb(totals[0], x) * math.comb(totals[1], y) * math.comb(totals[2], z)
                    prev = NpsCounts(totals[0] - x, totals[1] - y, totals[2] - z)
                    splits.append((ways, nps_change(NpsCounts(x, y, z), prev).significant))
        size = sum(w for w, sig in splits if sig) / sum(w for w, _ in splits)
        assert size <= 0.05, (totals, size)


@pytest.mark.parametrize("n", [5, 20, 100, 1000])
def test_false_positive_rate_by_simulation(n: int) -> None:
    # Both periods drawn from one distribution (50 % promoters, 30 % passives, 20 % detractors):
    # at most 5 % of the pairs may come out significant at 95 %, up to the simulation's own error
    # (3 standard errors of a 5 % rate over `trials` pairs).
    rng = random.Random(20261128 + n)
    trials = 4000

    def draw() -> NpsCounts:
        groups = Counter(rng.choices(("p", "a", "d"), weights=(5, 3, 2), k=n))
        return NpsCounts(groups["p"], groups["a"], groups["d"])

    rate = sum(nps_change(draw(), draw()).significant for _ in range(trials)) / trials
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials), rate


@pytest.mark.parametrize(
    ("current", "previous"),
    [
        (NpsCounts(0, 0, 0), NpsCounts(10, 0, 0)),
        (NpsCounts(10, 0, 0), NpsCounts(0, 0, 0)),
        (NpsCounts(0, 0, 0), NpsCounts(0, 0, 0)),
    ],
)
def test_change_with_empty_sample(current: NpsCounts, previous: NpsCounts) -> None:
    assert nps_change(current, previous) == Change(delta=None, z=None, p_value=None, significant=False)


@given(counts_st, st.floats(0.5, 0.999))
def test_identical_samples_not_significant(counts: NpsCounts, confidence: float) -> None:
    change = nps_change(counts, counts, confidence)
    assert not change.significant
    if counts.n:
        assert change.delta == 0.0
        assert change.p_value == 1.0


@given(nonempty_counts_st, nonempty_counts_st)
def test_swapping_samples_negates_delta(a: NpsCounts, b: NpsCounts) -> None:
    forward, backward = nps_change(a, b), nps_change(b, a)
    assert forward.delta is not None and backward.delta is not None
    assert backward.delta == -forward.delta
    assert backward.z == pytest.approx(-forward.z)  # type: ignore[operator]
    assert backward.p_value == pytest.approx(forward.p_value)
    assert backward.significant == forward.significant


@given(nonempty_counts_st, nonempty_counts_st)
def test_change_p_value_is_a_probability(a: NpsCounts, b: NpsCounts) -> None:
    change = nps_change(a, b)
    assert change.z is not None and math.isfinite(change.z)
    assert change.p_value is not None and 0.0 <= change.p_value <= 1.0


# --- CSAT -------------------------------------------------------------------------------------------


def test_csat_8_of_10_wilson() -> None:
    # p = .8, z^2 = 3.841459, denom = 1 + z^2/10 = 1.3841459
    # centre = (.8 + z^2/20) / denom = (.8 + .1920729) / 1.3841459 = .716740
    # half = z * sqrt(.8*.2/10 + z^2/400) / denom = 1.959964 * sqrt(.016 + .0096036) / 1.3841459 = .226578
    # -> [49.016, 94.332], margin 22.658
    est = csat_estimate(8, 10)
    assert est.value == pytest.approx(80.0)
    assert est.low == pytest.approx(49.016, abs=1e-3)
    assert est.high == pytest.approx(94.332, abs=1e-3)
    assert est.margin == pytest.approx(22.658, abs=1e-3)
    assert est.method == "wilson"
    assert margin_label(est) == "±22.7"


def test_csat_empty() -> None:
    est = csat_estimate(0, 0)
    assert (est.value, est.low, est.high, est.margin, est.n) == (None, None, None, None, 0)


@pytest.mark.parametrize("n", [1, 10, 1610])
def test_csat_all_or_none_satisfied(n: int) -> None:
    # Wilson bounds at 100 % / 0 % are exactly 100 / 0 (1610 once rounded to 99.99999999999999).
    top = csat_estimate(n, n)
    assert top.value == 100.0
    assert top.high == 100.0
    assert top.low is not None and top.low < 100.0
    bottom = csat_estimate(0, n)
    assert bottom.value == 0.0
    assert bottom.low == 0.0
    assert bottom.high is not None and bottom.high > 0.0


@pytest.mark.parametrize(("satisfied", "n"), [(-1, 5), (6, 5), (1, -1), (True, 5)])
def test_csat_rejects_invalid(satisfied: int, n: int) -> None:
    with pytest.raises(ValueError):
        csat_estimate(satisfied, n)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_csat_interval_within_bounds_and_contains_value(sn: tuple[int, int]) -> None:
    est = csat_estimate(*sn)
    assert est.low is not None and est.value is not None and est.high is not None
    assert 0.0 <= est.low <= est.value <= est.high <= 100.0


@pytest.mark.parametrize(
    ("score", "scale_max", "expected"),
    [(1, 5, False), (3, 5, False), (4, 5, True), (5, 5, True), (5, 7, False), (6, 7, True), (2, 3, True)],
)
def test_is_satisfied(score: int, scale_max: int, expected: bool) -> None:
    assert is_satisfied(score, scale_max) is expected


@pytest.mark.parametrize(("score", "scale_max"), [(0, 5), (6, 5), (4.0, 5), (True, 5), (1, 2)])
def test_is_satisfied_rejects_invalid(score: int, scale_max: int) -> None:
    with pytest.raises(ValueError):
        is_satisfied(score, scale_max)


# --- CES --------------------------------------------------------------------------------------------


def test_ces_worked_example() -> None:
    # answers 5, 6, 7, 4, 3: SUM = 25, SUM(x^2) = 25 + 36 + 49 + 16 + 9 = 135, n = 5 -> mean 5.0
    # sample var = (135 - 25^2/5) / 4 = 10 / 4 = 2.5; SE = sqrt(2.5 / 5) = .707107
    # margin = 1.959964 * .707107 = 1.385904 -> [3.6141, 6.3859]
    est = ces_estimate(25, 135, 5)
    assert est.value == 5.0
    assert est.margin == pytest.approx(1.385904, abs=1e-6)
    assert est.low == pytest.approx(3.614096, abs=1e-6)
    assert est.high == pytest.approx(6.385904, abs=1e-6)
    assert margin_label(est) == "±1.4"


def test_ces_single_answer_has_no_interval() -> None:
    est = ces_estimate(6, 36, 1)
    assert est.value == 6.0
    assert (est.low, est.high, est.margin) == (None, None, None)
    assert margin_label(est) == ""


def test_ces_empty_and_invalid() -> None:
    assert ces_estimate(0, 0, 0).value is None
    with pytest.raises(ValueError):
        ces_estimate(0, 0, -1)
    with pytest.raises(ValueError):
        ces_estimate(10, 20, 2)  # SUM(x^2) < SUM(x)^2 / n is impossible


@given(st.lists(st.integers(1, 7), min_size=2, max_size=500))
def test_ces_matches_raw_answers(answers: list[int]) -> None:
    est = ces_estimate(sum(answers), sum(a * a for a in answers), len(answers))
    mean = sum(answers) / len(answers)
    assert est.value == pytest.approx(mean)
    assert est.margin is not None and est.margin >= 0.0
    assert est.low is not None and est.high is not None
    assert est.low <= est.value <= est.high
