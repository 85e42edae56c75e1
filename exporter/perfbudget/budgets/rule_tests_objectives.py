"""`promtool test rules` cases for the objectives' burn-rate alerts (stage `vitals_slo`): for each burn rate,
a share of page loads over the threshold between its own and the next faster one's, which fires exactly the
burn rates it exceeds (the slowest alone: a slow burn; every one: a fast burn) and resolves once page loads
are good again; a share within the objective stays quiet, as does a burn under `min_samples` page loads or
from fewer than `min_clients` distinct clients.

The series are the exporter's own: the histogram's bucket at the threshold (good page loads), its count,
and the distinct-clients gauge of every long window.
"""

from __future__ import annotations

from ..devices import DEVICES
from ..vitals import VITALS
from . import naming
from .burn_rates import BurnRate, burn_threshold
from .model import Budgets
from .objectives import VitalObjective
from .rule_test_series import EXAMPLE_ROUTES, EXPORTER, Case, Expect, counter, example_match, gauge, minutes, series
from .rule_tests_causes import unknown_cause
from .stages.vitals_slo import objective_annotations, objective_labels
from .templating import Expanded


def objective_pair(objective: VitalObjective) -> dict[str, str]:
    """A (route, device) the objective covers (objectives do not override each other: any one in scope)."""
    route = example_match(objective.route, EXAMPLE_ROUTES) if objective.route else EXAMPLE_ROUTES[0]
    site = {"site": objective.site} if objective.site is not None else {}
    return {"route": route, "device": objective.device or sorted(DEVICES)[0], **site}


def _between(low: float, high: float) -> float:
    """A round share strictly between two error-ratio thresholds (3 significant digits)."""
    middle = float(f"{(low + high) / 2:.3g}")
    return middle if low < middle < high else (low + high) / 2


def _series(objective: VitalObjective, pair: dict[str, str], segments: list[tuple[float, float, int]],
            clients: int) -> tuple[tuple[str, str], ...]:
    """(page loads per minute, share over the threshold, minutes) segments, and `clients` distinct clients
    on the route over every long window throughout."""
    vital = VITALS[objective.metric]
    good = counter([(loads * (1 - bad), length) for loads, bad, length in segments])
    total = counter([(loads, length) for loads, _, length in segments])
    span = sum(length for _, _, length in segments)
    out = [(series(f"{vital.metric}_bucket", {**pair, "le": naming.le(objective.threshold)}), good),
           (series(f"{vital.metric}_count", pair), total)]
    for window in dict.fromkeys(burn.long_window for burn in objective.alerting_burn_rates):
        labels = {**EXPORTER, "route": pair["route"], "window": window}
        out.append((series(naming.METRIC_DISTINCT_CLIENTS, labels), gauge([(clients, span)])))
    return tuple(out)


def objective_cases(budgets: Budgets, objective: VitalObjective) -> list[Case]:
    name, tag = naming.ALERT_VITAL_OBJECTIVE, objective.budget_name
    pair = objective_pair(objective)
    burns = sorted(objective.alerting_burn_rates, key=lambda b: burn_threshold(objective.error_budget, b))
    thresholds = [burn_threshold(objective.error_budget, burn) for burn in burns]
    hold = max(minutes(burn.for_) for burn in burns)
    short = max(minutes(burn.short_window) for burn in burns)
    loads = float(max(objective.min_samples, 10))
    clients = max(objective.min_clients, 1)
    bad_for, good_for = hold + 10, short + 10

    def firing(share: float) -> tuple[tuple[dict[str, str], dict[str, str]], ...]:
        fired: list[BurnRate] = [burn for burn, t in zip(burns, thresholds, strict=True) if t < share]
        labels = {**pair, **unknown_cause(objective.metric)}
        return tuple(({**labels, **objective_labels(objective, burn)},
                      objective_annotations(budgets, objective, burn, Expanded(share, labels))) for burn in fired)

    cases: list[Case] = []
    for index, burn in enumerate(burns):
        faster = [t for t in thresholds[index + 1:] if t > thresholds[index]]
        share = _between(thresholds[index], min([*faster, 1.0]))
        kind = "a slow burn" if index == 0 else "a fast burn" if index == len(burns) - 1 else "a burn"
        cases.append(Case(
            f"{name} {tag} {burn.burn_rate:.4g}x over {burn.long_window}/{burn.short_window}: {kind} of "
            f"{share * 100:g}% over the threshold fires, resolves when page loads are good again",
            _series(objective, pair, [(loads, share, bad_for), (loads, 0.0, good_for)], clients),
            (Expect(hold + 5, name, firing(share)), Expect(bad_for + short + 5, name))))
    within = thresholds[0] / 2
    cases.append(Case(f"{name} {tag}: quiet within the objective ({within * 100:g}% over the threshold)",
                      _series(objective, pair, [(loads, within, bad_for)], clients), (Expect(hold + 5, name),)))
    if objective.min_samples > 1:
        trickle = (objective.min_samples - 1) / (bad_for + 1)
        cases.append(Case(f"{name} {tag}: quiet under {objective.min_samples} page loads, every one over the threshold",
                          _series(objective, pair, [(trickle, 1.0, bad_for)], clients), (Expect(hold + 5, name),)))
    if objective.min_clients > 1:
        cases.append(Case(
            f"{name} {tag}: quiet with fewer than {objective.min_clients} distinct clients (forged beacons)",
            _series(objective, pair, [(loads, 1.0, bad_for)], objective.min_clients - 1), (Expect(hold + 5, name),)))
    return cases
