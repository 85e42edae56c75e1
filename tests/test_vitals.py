import math
import random
from bisect import bisect_right
from itertools import pairwise

import pytest

from perfbudget.budgets.model import load_budgets
from perfbudget.reload import histogram_edges
from perfbudget.summary import quantile
from perfbudget.vitals import SCORE_CURVES, VITALS, bucket_edges, log_normal_score, overall_score


@pytest.mark.parametrize(
    ("name", "good", "poor"),
    [("LCP", 2500, 4000), ("INP", 200, 500), ("CLS", 0.1, 0.25), ("FCP", 1800, 3000), ("TTFB", 800, 1800)],
)
def test_a_value_equal_to_a_threshold_is_rated_on_the_better_side(name: str, good: float, poor: float) -> None:
    vital = VITALS[name]
    assert vital.rate(vital.to_base(good)) == "good"
    assert vital.rate(vital.to_base(good) + 1e-9) == "needs-improvement"
    assert vital.rate(vital.to_base(poor)) == "needs-improvement"
    assert vital.rate(vital.to_base(poor) + 1e-9) == "poor"


def test_milliseconds_convert_to_exact_seconds_on_the_thresholds() -> None:
    assert VITALS["LCP"].to_base(2500) == 2.5
    assert VITALS["INP"].to_base(200) == 0.2
    assert VITALS["TTFB"].to_base(1800) == 1.8


def test_bucket_edges_hold_both_thresholds_and_every_budget_target_sorted_once() -> None:
    edges = bucket_edges(VITALS["LCP"], [3.2, 2.5])
    assert 2.5 in edges and 4.0 in edges and 3.2 in edges
    assert list(edges) == sorted(set(edges))


def test_the_default_config_keeps_every_vital_within_32_edges_thresholds_and_targets_exact() -> None:
    budgets = load_budgets()
    edges = histogram_edges(budgets)
    for name, vital in VITALS.items():
        assert len(edges[name]) <= 32, (name, len(edges[name]))
        assert {vital.good, vital.poor, *budgets.bucket_targets().get(name, ())} <= set(edges[name])


@pytest.mark.parametrize("name", list(VITALS))
def test_each_default_grid_is_log_spaced_with_a_bucket_under_a_fifth_of_its_value(name: str) -> None:
    grid = VITALS[name].grid
    ratios = [b / a for a, b in pairwise(grid)]
    assert max(ratios) < 1.2 and max(ratios) / min(ratios) < 1.02  # a constant ratio, up to 3-digit rounding


# Per vital: a slow and a fast site's median, and a narrow and a wide spread (benchmarks/precision.py has more).
_TRAFFIC = {"LCP": ((1.2, 3.5), (0.3, 0.8)), "INP": ((0.06, 0.35), (0.4, 1.0)), "CLS": ((0.02, 0.2), (0.5, 1.5)),
            "FCP": ((0.9, 3.0), (0.3, 0.8)), "TTFB": ((0.25, 1.6), (0.4, 1.0))}


@pytest.mark.parametrize("name", list(VITALS))
def test_the_summary_p75_of_1000_log_normal_page_loads_is_within_3_percent_of_theirs(name: str) -> None:
    edges = histogram_edges(load_budgets())[name]
    medians, sigmas = _TRAFFIC[name]
    for median in medians:
        for sigma in sigmas:
            rng = random.Random(f"{name}/{median}/{sigma}")
            ordered = sorted(rng.lognormvariate(math.log(median), sigma) for _ in range(1000))
            h = 0.75 * (len(ordered) - 1)
            exact = ordered[int(h)] + (h - int(h)) * (ordered[int(h) + 1] - ordered[int(h)])
            counts = [float(bisect_right(ordered, edge)) for edge in edges] + [1000.0]
            estimate = quantile(0.75, edges, counts)
            assert estimate == pytest.approx(exact, rel=0.03), (median, sigma)


def test_bucket_edges_refuse_a_non_positive_target() -> None:
    with pytest.raises(ValueError, match=r"LCP: bucket edge -1 must be a finite positive number"):
        bucket_edges(VITALS["LCP"], [-1])


@pytest.mark.parametrize("name", list(SCORE_CURVES))
def test_lighthouse_curve_scores_point_nine_at_p10_and_one_half_at_the_median(name: str) -> None:
    curve = SCORE_CURVES[name]
    assert log_normal_score(curve, curve.p10) == pytest.approx(0.9, abs=1e-9)
    assert log_normal_score(curve, curve.median) == pytest.approx(0.5, abs=1e-9)
    assert log_normal_score(curve, 0) == 1.0
    assert log_normal_score(curve, curve.p10 / 10) == 0.99  # Lighthouse never gives a perfect 1 above 0
    assert log_normal_score(curve, curve.median * 10) < 0.05


def test_overall_score_is_the_weighted_mean_renormalised_over_vitals_with_data() -> None:
    all_at_median = {name: curve.median for name, curve in SCORE_CURVES.items()}
    assert overall_score(all_at_median) == 50
    # Only LCP (weight 25) and CLS (weight 25): each counts half.
    lcp = log_normal_score(SCORE_CURVES["LCP"], 2.5)
    cls = log_normal_score(SCORE_CURVES["CLS"], 0.25)
    assert overall_score({"LCP": 2.5, "CLS": 0.25}) == round(100 * (lcp + cls) / 2)
    assert overall_score({}) is None
    assert math.isclose(sum(c.weight for c in SCORE_CURVES.values()), 100)
