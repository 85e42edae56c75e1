"""The statistics of `perfbudget compare` (compare/stats.py) against known values: the normal tail, the
two-proportion z-test (R's prop.test without continuity correction, Pearson's chi-square of the 2x2
table), Mood's quantile test at the pooled p75's edge, the p75 the summary interpolates, the verdicts and
the exit codes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfbudget.compare.stats import (
    Histogram,
    Thresholds,
    compare,
    decide,
    exit_code,
    normal_sf,
    quantile_edge,
    quantile_test,
    share_test,
    two_proportion_z,
)
from perfbudget.summary import quantile
from perfbudget.vitals import VITALS

LCP = VITALS["LCP"]
EDGES = (1.0, 2.0, 2.5, 3.0, 4.0)


def hist(*per_bucket: float, edges: tuple[float, ...] = EDGES) -> Histogram:
    """Per-bucket counts (the +Inf bucket last) -> a cumulative Histogram."""
    assert len(per_bucket) == len(edges) + 1
    return Histogram(edges, tuple(float(x) for x in (sum(per_bucket[: i + 1]) for i in range(len(per_bucket)))))


@pytest.mark.parametrize(("z", "tail"), [(0.0, 0.5), (1.959963984540054, 0.025), (2.5758293035489004, 0.005),
                                         (3.090232306167813, 0.001), (-1.6448536269514722, 0.95)])
def test_the_normal_tail_has_the_tables_values(z: float, tail: float) -> None:
    assert normal_sf(z) == pytest.approx(tail, abs=1e-12)


def test_the_z_test_gives_rs_prop_test_without_continuity_correction() -> None:
    # prop.test(c(45, 30), c(100, 100), correct = FALSE): X-squared = 4.8, p-value = 0.02846
    z, p = two_proportion_z(45, 100, 30, 100)
    assert z**2 == pytest.approx(4.8, rel=1e-12)
    assert p == pytest.approx(0.02846, abs=5e-6)
    # prop.test(c(15, 25), c(50, 50), correct = FALSE): X-squared = 4.1667, p-value = 0.04123
    z, p = two_proportion_z(15, 50, 25, 50)
    assert z < 0 and z**2 == pytest.approx(4.16667, rel=1e-5) and p == pytest.approx(0.04123, abs=5e-6)


def pearson_chi_square(x1: float, n1: float, x2: float, n2: float) -> float:
    """Pearson's chi-square of the 2x2 table [[x1, n1 - x1], [x2, n2 - x2]] from sum (O - E)^2 / E."""
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    total, cols = n1 + n2, [x1 + x2, n1 + n2 - x1 - x2]
    return sum((table[r][c] - (n1, n2)[r] * cols[c] / total) ** 2 / ((n1, n2)[r] * cols[c] / total)
               for r in range(2) for c in range(2))


@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_z_squared_is_pearsons_chi_square_and_swapping_the_samples_flips_z(n1: int, n2: int, s1: float,
                                                                            s2: float) -> None:
    x1, x2 = round(n1 * s1), round(n2 * s2)
    z, p = two_proportion_z(x1, n1, x2, n2)
    if 0 < x1 + x2 < n1 + n2:
        assert z**2 == pytest.approx(pearson_chi_square(x1, n1, x2, n2), rel=1e-9, abs=1e-9)
        # the chi-square tail with one degree of freedom
        assert p == pytest.approx(math.erfc(math.sqrt(z**2 / 2)), rel=1e-9, abs=1e-300)
    z2, p2 = two_proportion_z(x2, n2, x1, n1)
    assert z2 == pytest.approx(-z) and p2 == pytest.approx(p)


def test_no_variance_is_no_evidence_and_empty_samples_are_refused() -> None:
    assert two_proportion_z(100, 100, 80, 80) == (0.0, 1.0)
    assert two_proportion_z(0, 100, 0, 80) == (0.0, 1.0)
    with pytest.raises(ValueError, match="both samples need page views"):
        two_proportion_z(0, 0, 3, 10)


def test_the_share_test_reads_the_counts_at_the_edge() -> None:
    a, b = hist(20, 25, 0, 30, 25, 0), hist(10, 20, 0, 40, 30, 0)  # 45 % and 30 % at or under 2.0
    test = share_test(a, b, 2.0)
    assert (test.edge, test.share_from, test.share_to) == (2.0, 0.45, 0.30)
    assert test.p_value == pytest.approx(0.02846, abs=5e-6)


def test_moods_quantile_test_takes_the_edge_nearest_the_pooled_p75() -> None:
    a, b = hist(50, 30, 0, 20, 0, 0), hist(30, 30, 0, 40, 0, 0)
    # pooled cumulative shares: 1.0 -> 0.40, 2.0 -> 0.70, 2.5 -> 0.70, 3.0 -> 1.0 (does not split), 4.0 -> 1.0
    assert quantile_edge(a, b) == 2.0  # 0.70 is nearest 0.75; the lower edge of the tie
    test = quantile_test(a, b)
    assert test == share_test(a, b, 2.0)
    assert (test.share_from, test.share_to) == (0.8, 0.6)
    # prop.test(c(80, 60), c(100, 100), correct = FALSE): X-squared = 9.5238, p-value = 0.002028
    assert test.p_value == pytest.approx(0.002028, abs=5e-7)


def test_no_edge_splits_the_pooled_counts_when_every_page_view_is_in_one_bucket() -> None:
    a, b = hist(0, 0, 0, 60, 0, 0), hist(0, 0, 0, 70, 0, 0)
    assert quantile_edge(a, b) is None
    test = quantile_test(a, b)
    assert (test.edge, test.p_value) == (None, 1.0)


def test_the_p75_is_the_summarys_interpolation_and_the_good_share_is_exact() -> None:
    a = hist(50, 30, 0, 20, 0, 0)  # rank 75 in (1.0, 2.0]: 1 + 25/30
    b = hist(10, 20, 10, 40, 20, 0)  # rank 75 in (2.5, 3.0]: 2.5 + 0.5 * 35/40
    result = compare(LCP, a, b, Thresholds())
    assert result.p75_from == pytest.approx(1 + 25 / 30) == quantile(0.75, EDGES, list(a.cumulative))
    assert result.p75_to == pytest.approx(2.9375)
    assert (result.good_from, result.good_to) == (0.8, 0.4)  # at or under 2.5 s, Google's good LCP
    assert result.p75_change_percent == pytest.approx(100 * (2.9375 - 11 / 6) / (11 / 6))
    assert result.good_change_points == pytest.approx(-40.0)
    assert result.good_test is not None and result.good_test.edge == 2.5
    assert result.verdict == "worse"
    assert compare(LCP, b, a, Thresholds()).verdict == "better"


def test_the_same_distribution_at_different_volumes_is_no_change() -> None:
    a, b = hist(40, 30, 10, 10, 6, 4), hist(400, 300, 100, 100, 60, 40)
    result = compare(LCP, a, b, Thresholds())
    assert result.p75_test is not None and result.p75_test.p_value == pytest.approx(1.0)
    assert result.verdict == "no significant change"


def test_a_version_under_min_samples_is_not_tested() -> None:
    a, b = hist(20, 10, 5, 5, 5, 4), hist(400, 300, 100, 100, 60, 40)  # 49 page views
    result = compare(LCP, a, b, Thresholds())
    assert (result.verdict, result.p75_test, result.good_test) == ("too few samples", None, None)
    assert result.samples_from == 49 and result.p75_from is not None  # still shown
    assert compare(LCP, a, b, Thresholds(min_samples=49)).verdict != "too few samples"


def test_different_edges_are_refused() -> None:
    with pytest.raises(ValueError, match="different bucket edges"):
        compare(LCP, hist(1, 1, 1, 1, 1, 1), hist(1, 1, 1, 1, 1, edges=(1.0, 2.0, 2.5, 3.0)), Thresholds())


@pytest.mark.parametrize(("p75_change", "p75_p", "good_change", "good_p", "verdict"), [
    (6.0, 0.01, 0.0, 0.9, "worse"),  # p75 +6 %, significant
    (4.9, 0.0001, 0.0, 0.9, "no significant change"),  # significant but under the 5 % threshold
    (30.0, 0.06, 0.0, 0.9, "no significant change"),  # large but not significant
    (0.0, 0.9, -2.5, 0.04, "worse"),  # good share -2.5 points, significant
    (0.0, 0.9, -1.9, 0.0001, "no significant change"),
    (-6.0, 0.01, 0.0, 0.9, "better"),
    (0.0, 0.9, 3.0, 0.01, "better"),
    (-10.0, 0.001, -3.0, 0.01, "worse"),  # a worse good share outweighs a better p75
    (None, 1.0, None, None, "no significant change"),
])
def test_the_verdict_needs_both_the_threshold_and_significance(
        p75_change: float | None, p75_p: float, good_change: float | None, good_p: float | None,
        verdict: str) -> None:
    assert decide(p75_change, p75_p, good_change, good_p, Thresholds()) == verdict


def test_the_thresholds_and_alpha_are_the_callers() -> None:
    assert decide(6.0, 0.01, 0.0, 0.9, Thresholds(p75_percent=10)) == "no significant change"
    assert decide(6.0, 0.01, 0.0, 0.9, Thresholds(alpha=0.005)) == "no significant change"
    assert decide(0.0, 0.9, -1.5, 0.01, Thresholds(good_share_points=1)) == "worse"


def test_the_exit_code_is_1_for_worse_before_2_for_too_few_samples() -> None:
    a, b = hist(50, 30, 0, 20, 0, 0), hist(10, 20, 10, 40, 20, 0)
    worse, same = compare(LCP, a, b, Thresholds()), compare(LCP, a, a, Thresholds())
    few = compare(LCP, hist(1, 1, 1, 1, 1, 1), a, Thresholds())
    assert [exit_code(x) for x in ([same], [same, worse], [same, few], [few, worse], [])] == [0, 1, 2, 1, 0]
