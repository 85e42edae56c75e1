import math

import pytest

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
