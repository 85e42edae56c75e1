"""Budgets -> `promtool test rules` files: for every alert, a breach that fires and then resolves, traffic
under the target that stays quiet, and (where the alert has one) too few samples or too few distinct
clients that stays quiet.

Series are built from the budgets, so the tests follow the targets: the breach puts every sample in the
bucket just above the target, the quiet case every sample at or under it. Expected annotations are the
same annotation functions as the rules, expanded in Python (`templating.Expanded`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..devices import DEVICES
from ..vitals import VITALS, bucket_edges
from . import naming
from .model import Budgets, VitalBudget
from .rule_test_series import EXAMPLE_ROUTES, EXPORTER, Case, Expect, counter, gauge, minutes, series
from .rule_test_series import RuleTestError as RuleTestError
from .rule_test_series import example_match as example_match
from .rule_tests_causes import breakdown_series, causes, unknown_cause
from .rule_tests_objectives import objective_cases
from .rulefmt import Alert, RuleFile
from .stages.resources import RESOURCE_RULES, resource_annotations, resource_labels, resource_thresholds
from .stages.service import (
    availability_annotations,
    availability_labels,
    burn_threshold,
    error_rate_annotations,
    error_rate_labels,
    error_rate_settings,
    latency_annotations,
    latency_labels,
)
from .stages.vitals_alerts import (
    beacons_stopped_annotations,
    beacons_stopped_labels,
    budget_annotations,
    regression_annotations,
    vital_labels,
)
from .templating import Expanded, Render

TEST_JOB = "api"
NODE = {"job": "node", "instance": "node:9100"}


# --- Web Vitals -------------------------------------------------------------------------------------

def owned_pair(budgets: Budgets, budget: VitalBudget) -> tuple[str, str]:
    """A (route, device) this budget owns (on its site, when it names one): it applies there and no other
    budget wins."""
    routes = [example_match(budget.route, EXAMPLE_ROUTES)] if budget.route else list(EXAMPLE_ROUTES)
    # The first pair found is written into the committed test files: alphabetical, whatever DEVICES' order.
    devices = [budget.device] if budget.device else sorted(DEVICES)
    for route in routes:
        for device in devices:
            if budgets.budget_for(budget.metric, route, device, budget.site) is budget:
                return route, device
    raise RuleTestError(f"budget {budget.budget_name!r} never applies: more specific budgets cover "
                        f"every route and device it would")


@dataclass(frozen=True, slots=True)
class _Histogram:
    """Helper for one vital's test series at one (route, device): bucket `target`, the one above, +Inf."""

    metric: str
    labels: Mapping[str, str]
    target: float
    above: float
    clients: tuple[str, int] | None = None  # the distinct-clients gauge and the budget's min_clients
    low: float | None = None  # a bucket under the target that the good samples fall in, when set

    def series(self, good: str, bad: str, clients: int | None = None) -> tuple[tuple[str, str], ...]:
        """`good` counts samples at or under the target, `bad` every sample (cumulative, like le); the
        route's distinct clients stay at `clients` (the budget's minimum by default) throughout."""
        out = (
            *(((series(f"{self.metric}_bucket", {**self.labels, "le": naming.le(self.low)}), good),)
              if self.low is not None else ()),
            (series(f"{self.metric}_bucket", {**self.labels, "le": naming.le(self.target)}), good),
            (series(f"{self.metric}_bucket", {**self.labels, "le": naming.le(self.above)}), bad),
            (series(f"{self.metric}_bucket", {**self.labels, "le": "+Inf"}), bad),
            (series(f"{self.metric}_count", self.labels), bad),
        )
        if self.clients is None:
            return out
        span = sum(int(n) for n in re.findall(r"x(\d+)", bad)) + bad.count(" ") + 1
        return (*out, (self.clients[0], gauge([(self.clients[1] if clients is None else clients, span)])))


def _histogram(budgets: Budgets, budget: VitalBudget) -> tuple[_Histogram, dict[str, str]]:
    vital = VITALS[budget.metric]
    edges = bucket_edges(vital, budgets.bucket_targets().get(vital.name, ()))
    above = edges[edges.index(budget.target) + 1] if budget.target != edges[-1] else budget.target * 2
    route, device = owned_pair(budgets, budget)
    labels = {"route": route, "device": device, **({"site": budget.site} if budget.site is not None else {})}
    clients = series(naming.METRIC_DISTINCT_CLIENTS, {**EXPORTER, "route": route, "window": budget.window})
    return _Histogram(vital.metric, labels, budget.target, above,
                      (clients, budget.min_clients) if budget.min_clients else None), labels


def _quantile_over(lower: float, upper: float, percentile: float) -> float:
    """histogram_quantile when every sample is in (lower, upper]."""
    return lower + (upper - lower) * (percentile / 100)


def budget_cases(budgets: Budgets, budget: VitalBudget) -> list[Case]:
    hist, where = _histogram(budgets, budget)
    name = naming.ALERT_VITAL_BUDGET
    k = float(max(budget.min_samples, 10))
    hold, window = minutes(budget.for_), minutes(budget.window)
    bad_for, good_for = hold + 10, window + 10
    pair = {**where, **unknown_cause(budget.metric)}
    labels = {**pair, **vital_labels(budget, budget.severity)}
    value = _quantile_over(hist.target, hist.above, budget.percentile)
    r: Render = Expanded(value, pair)
    firing = ((labels, budget_annotations(budgets, budget, r)),)
    tag = budget.budget_name
    cases = [
        Case(f"{name} {tag}: fires over the target, resolves when back under it",
             hist.series(counter([(0, bad_for), (k, good_for)]), counter([(k, bad_for), (k, good_for)])),
             (Expect(hold + 5, name, firing), Expect(bad_for + window + 5, name))),
        Case(f"{name} {tag}: quiet under the target",
             hist.series(counter([(k, bad_for)]), counter([(k, bad_for)])), (Expect(hold + 5, name),)),
    ]
    if budget.min_samples > 1:
        trickle = (budget.min_samples - 1) / window
        length = window + hold + 10
        cases.append(Case(
            f"{name} {tag}: quiet under {budget.min_samples} samples",
            hist.series(counter([(0, length)]), counter([(trickle, length)])),
            (Expect(window + hold + 5, name),)))
    if budget.min_clients > 1:
        cases.append(Case(
            f"{name} {tag}: quiet with fewer than {budget.min_clients} distinct clients (forged beacons)",
            hist.series(counter([(0, bad_for)]), counter([(k, bad_for)]), clients=budget.min_clients - 1),
            (Expect(hold + 5, name),)))
    for cause in causes(budget.metric):
        named = {**where, naming.CAUSE_LABEL: cause}
        cases.append(Case(
            f"{name} {tag}: fires with cause {cause} when its p75 is the highest of the breakdown",
            (*hist.series(counter([(0, bad_for)]), counter([(k, bad_for)])),
             *breakdown_series(budget.metric, where, cause, bad_for, k)),
            (Expect(hold + 5, name, (({**named, **vital_labels(budget, budget.severity)},
                                      budget_annotations(budgets, budget, Expanded(value, named))),)),)))
    return cases


def regression_cases(budgets: Budgets, budget: VitalBudget) -> list[Case]:
    regression = budgets.regression
    assert regression is not None
    hist, pair = _histogram(budgets, budget)
    # The earlier good samples sit far enough under the target that the breach is `factor` times worse
    # whatever the percentile (interpolated in the first bucket, p90 of samples at the target is 0.9 x it).
    hist = replace(hist, low=float(f"{hist.target / (2 * max(regression.factor, 1.0)):.3g}"))
    name = naming.ALERT_VITAL_REGRESSION
    k = float(max(budget.min_samples, 10))
    hold, window, offset = minutes(regression.for_), minutes(budget.window), minutes(regression.offset)
    before, bad_for, after = offset + window, window + hold + 10, window + 10
    pair = {**pair, **unknown_cause(budget.metric)}
    labels = {**pair, **vital_labels(budget, regression.severity)}
    value = _quantile_over(hist.target, hist.above, budget.percentile)
    firing = ((labels, regression_annotations(budgets, budget, regression, Expanded(value, pair))),)
    tag = budget.budget_name
    cases = [
        Case(f"{name} {tag}: fires when worse than {regression.offset} earlier, resolves when back",
             hist.series(counter([(k, before), (0, bad_for), (k, after)]),
                         counter([(k, before), (k, bad_for), (k, after)])),
             (Expect(before + window + hold + 5, name, firing), Expect(before + bad_for + window + 5, name))),
        Case(f"{name} {tag}: quiet when as good as {regression.offset} earlier",
             hist.series(counter([(k, before + bad_for)]), counter([(k, before + bad_for)])),
             (Expect(before + window + hold + 5, name),)),
    ]
    if budget.min_samples > 1:
        trickle = (budget.min_samples - 1) / window
        cases.append(Case(
            f"{name} {tag}: quiet under {budget.min_samples} samples",
            hist.series(counter([(k, before), (0, bad_for)]), counter([(k, before), (trickle, bad_for)])),
            (Expect(before + window + hold + 5, name),)))
    return cases


def beacons_stopped_cases(budgets: Budgets) -> list[Case]:
    alert = budgets.beacons_stopped
    assert alert is not None
    name = naming.ALERT_BEACONS_STOPPED
    offset, window, hold = minutes(alert.offset), minutes(alert.window), minutes(alert.for_)
    before, silent = offset + 60, window + hold + 10
    accepted = series("perfbudget_reports_accepted_total", {**EXPORTER, "metric": "LCP"})
    labels = {**EXPORTER, **beacons_stopped_labels(alert)}
    firing = ((labels, beacons_stopped_annotations(budgets, alert, Expanded(0.0, EXPORTER))),)
    return [
        Case(f"{name}: fires when reports stop, resolves when they come back",
             ((accepted, counter([(10, before), (0, silent), (10, 20)])),),
             (Expect(before + window + hold + 5, name, firing), Expect(before + silent + 5, name))),
        Case(f"{name}: quiet while reports arrive",
             ((accepted, counter([(10, before + silent)])),), (Expect(before + window + hold + 5, name),)),
        Case(f"{name}: quiet when there were no reports {alert.offset} earlier either",
             ((accepted, counter([(0, before + silent)])),), (Expect(before + window + hold + 5, name),)),
    ]


# --- service and resources --------------------------------------------------------------------------

def latency_cases(budgets: Budgets) -> list[Case]:
    latency = budgets.service.latency
    assert latency is not None
    name = naming.ALERT_API_LATENCY
    base = {**latency.selector, "job": latency.selector.get("job", TEST_JOB)}
    target, above = latency.target, latency.target * 2
    hold, window = minutes(latency.for_), minutes(latency.window)
    bad_for, good_for = hold + window + 10, window + 10

    def hist(good: str, bad: str) -> tuple[tuple[str, str], ...]:
        metric = f"{latency.metric}_bucket"
        return ((series(metric, {**base, "le": naming.le(target)}), good),
                (series(metric, {**base, "le": naming.le(above)}), bad),
                (series(metric, {**base, "le": "+Inf"}), bad))

    job = {"job": base["job"]}
    labels = {**job, **latency_labels(latency)}
    value = _quantile_over(target, above, latency.percentile)
    firing = ((labels, latency_annotations(budgets, latency, Expanded(value, job))),)
    return [
        Case(f"{name}: fires over the target, resolves when back under it",
             hist(counter([(0, bad_for), (100, good_for)]), counter([(100, bad_for), (100, good_for)])),
             (Expect(hold + window + 5, name, firing), Expect(bad_for + window + 5, name))),
        Case(f"{name}: quiet under the target",
             hist(counter([(100, bad_for)]), counter([(100, bad_for)])), (Expect(hold + window + 5, name),)),
    ]


def _requests(budgets: Budgets, segments: Sequence[tuple[float, float, int]]) -> tuple[tuple[str, str], ...]:
    """Failed and successful request counters from (failed per minute, ok per minute, minutes) segments."""
    errors = error_rate_settings(budgets)
    base = {**errors.selector, "job": errors.selector.get("job", TEST_JOB)}
    failed = example_match(errors.error_regex, ("500", "503", "error", "true"))
    ok = next(v for v in ("200", "ok", "false", "204") if not re.fullmatch(errors.error_regex, v))
    return (
        (series(errors.metric, {**base, errors.error_label: failed}), counter([(f, n) for f, _, n in segments])),
        (series(errors.metric, {**base, errors.error_label: ok}), counter([(o, n) for _, o, n in segments])),
    )


def error_rate_cases(budgets: Budgets) -> list[Case]:
    errors = budgets.service.error_rate
    assert errors is not None
    name = naming.ALERT_ERROR_RATE
    hold, window = minutes(errors.for_), minutes(errors.window)
    bad_for, good_for = hold + window + 10, window + 10
    ratio = min(0.5, errors.target * 10)
    job = {"job": errors.selector.get("job", TEST_JOB)}
    labels = {**job, **error_rate_labels(errors)}
    firing = ((labels, error_rate_annotations(budgets, errors, Expanded(ratio, job))),)
    quiet = errors.target / 2
    return [
        Case(f"{name}: fires over the target, resolves when failures stop",
             _requests(budgets, [(1000 * ratio, 1000 * (1 - ratio), bad_for), (0, 1000, good_for)]),
             (Expect(hold + window + 5, name, firing), Expect(bad_for + window + 5, name))),
        Case(f"{name}: quiet under the target",
             _requests(budgets, [(1000 * quiet, 1000 * (1 - quiet), bad_for)]), (Expect(hold + window + 5, name),)),
    ]


def availability_cases(budgets: Budgets) -> list[Case]:
    availability = budgets.service.availability
    assert availability is not None
    name = naming.ALERT_AVAILABILITY
    job = {"job": error_rate_settings(budgets).selector.get("job", TEST_JOB)}
    hold = max(minutes(burn.for_) for burn in availability.burn_rates)
    short = max(minutes(burn.short_window) for burn in availability.burn_rates)
    bad_for, good_for = hold + 10, short + 10
    cases: list[Case] = []
    for burn in sorted(availability.burn_rates, key=lambda b: burn_threshold(availability, b)):
        ratio = min(0.9, burn_threshold(availability, burn) * 1.5)
        firing = tuple(
            ({**job, **availability_labels(other)},
             availability_annotations(budgets, availability, other, Expanded(ratio, job)))
            for other in availability.burn_rates if burn_threshold(availability, other) < ratio
        )
        cases.append(Case(
            f"{name} {naming.number(burn.burn_rate)}x over {burn.long_window}/{burn.short_window}: fires, "
            f"resolves when failures stop",
            _requests(budgets, [(1000 * ratio, 1000 * (1 - ratio), bad_for), (0, 1000, good_for)]),
            (Expect(hold + 5, name, firing), Expect(bad_for + short + 5, name))))
    lowest = min(burn_threshold(availability, burn) for burn in availability.burn_rates)
    cases.append(Case(f"{name}: quiet while the error budget burns slower than every burn rate",
                      _requests(budgets, [(1000 * lowest / 2, 1000 * (1 - lowest / 2), bad_for)]),
                      (Expect(hold + 5, name),)))
    return cases


_DISK = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/", **NODE}


def _resource_series(metric: str, segments: Sequence[tuple[float, int]]) -> tuple[tuple[str, str], ...]:
    """node_exporter series whose utilisation is `used` (a ratio) for each (used, minutes) segment."""
    total = sum(n for _, n in segments)
    if metric == naming.METRIC_CPU:
        idle = series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle", **NODE})
        return ((idle, counter([(60 * (1 - used), n) for used, n in segments])),)
    if metric == naming.METRIC_MEMORY:
        return ((series("node_memory_MemTotal_bytes", NODE), gauge([(1e9, total)])),
                (series("node_memory_MemAvailable_bytes", NODE), gauge([(1e9 * (1 - u), n) for u, n in segments])))
    return ((series("node_filesystem_size_bytes", _DISK), gauge([(1e11, total)])),
            (series("node_filesystem_avail_bytes", _DISK), gauge([(1e11 * (1 - u), n) for u, n in segments])))


def resource_cases(budgets: Budgets) -> list[Case]:
    resources = budgets.resources
    hold = minutes(resources.for_)
    busy_for, calm_for = hold + 15, 20
    cases: list[Case] = []
    for key, threshold in resource_thresholds(resources).items():
        rule = RESOURCE_RULES[key]
        high, low = min(0.99, (threshold + 1) / 2), threshold / 2
        labels = _DISK if rule.metric == naming.METRIC_DISK else NODE
        expected = {**labels, **resource_labels(resources, rule)}
        firing = ((expected, resource_annotations(budgets, rule, threshold, Expanded(high, labels))),)
        percent = naming.number(threshold * 100)
        cases += [
            Case(f"{rule.alert}: fires over {percent}%, resolves under it",
                 _resource_series(rule.metric, [(high, busy_for), (low, calm_for)]),
                 (Expect(hold + 10, rule.alert, firing), Expect(busy_for + 10, rule.alert))),
            Case(f"{rule.alert}: quiet under {percent}%",
                 _resource_series(rule.metric, [(low, busy_for)]), (Expect(hold + 10, rule.alert),)),
        ]
    return cases


# --- files ------------------------------------------------------------------------------------------

def cases_for(budgets: Budgets, rule_file: RuleFile) -> list[Case]:
    """The test cases for one rule file; every alert in it gets at least one firing case."""
    cases: list[Case] = []
    if rule_file.stem == "web-vitals":
        for budget in budgets.vitals:
            cases += budget_cases(budgets, budget)
            if budgets.regression is not None:
                cases += regression_cases(budgets, budget)
        if budgets.beacons_stopped is not None:
            cases += beacons_stopped_cases(budgets)
        for objective in budgets.objectives:
            cases += objective_cases(budgets, objective)
    elif rule_file.stem == "service":
        if budgets.service.latency is not None:
            cases += latency_cases(budgets)
        if budgets.service.error_rate is not None:
            cases += error_rate_cases(budgets)
        if budgets.service.availability is not None:
            cases += availability_cases(budgets)
    elif rule_file.stem == "resources":
        cases += resource_cases(budgets)
    _check_coverage(rule_file.alerts, cases)
    return cases


def _check_coverage(alerts: Sequence[Alert], cases: Sequence[Case]) -> None:
    fired = {(expect.name, tuple(sorted(labels.items())))
             for case in cases for expect in case.expects for labels, _ in expect.alerts}
    for alert in alerts:
        if not any(name == alert.alert and set(alert.labels.items()) <= set(labels) for name, labels in fired):
            raise RuleTestError(f"alert {alert.alert} {dict(alert.labels)} has no firing test case")


def promtool_test_file(budgets: Budgets, rule_file: RuleFile) -> dict[str, Any]:
    """The `promtool test rules` document for one rule file (rule_files relative to the tests directory)."""
    return {
        "rule_files": [f"../{rule_file.stem}.yml"],
        "evaluation_interval": "1m",
        "tests": [case.to_dict() for case in cases_for(budgets, rule_file)],
    }
