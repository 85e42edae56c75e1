"""Budgets per site: a Web Vitals budget may name one of the config's `sites:`; its rules select that site and
own its pairs, and every rule keeps the `site` label (one alert per site), checked by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.generate import generate_files
from perfbudget.budgets.model import Budgets
from perfbudget.budgets.rulefmt import Alert
from perfbudget.budgets.stages import vitals_alerts, vitals_slo
from perfbudget.budgets.templating import Expanded
from perfbudget.config import ConfigError
from perfbudget.reload import validate_all

PROMTOOL = shutil.which("promtool")
QUICK = {"min_samples": 0, "min_clients": 0, "for": "0s", "window": "5m"}
SITE_BUDGETS: dict[str, Any] = {
    "vitals": [{"metric": "LCP", "target": 2500, **QUICK},
               {"metric": "LCP", "site": "shop", "target": 2000, "severity": "critical", **QUICK}],
    "objectives": [{"metric": "INP", "objective": "90%", "threshold": 200, "window": "1d", "site": "blog"}],
    "regression": None, "beacons_stopped": None,
}


def _alerts(budgets: Budgets) -> list[Alert]:
    return [rule for group in vitals_alerts.rule_groups(budgets) for rule in group.rules if isinstance(rule, Alert)]


def test_a_site_budget_selects_its_site_and_the_general_one_leaves_it_alone(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(**SITE_BUDGETS)
    general, shop = (a for a in _alerts(budgets) if a.alert == naming.ALERT_VITAL_BUDGET)
    assert shop.expr.startswith('(\nroute_device:perfbudget_lcp_seconds:p75_5m{site="shop"} > 2\n)')
    assert dict(shop.labels) == {"severity": "critical", "metric": "LCP", "budget": "lcp-shop", "site": "shop"}
    assert shop.annotations["summary"] == "LCP p75 is over its budget on {{ $labels.route }} ({{ $labels.device }}) " \
                                          "on site shop"
    assert ('unless on (route, device, site) route_device:perfbudget_lcp_seconds_count:increase5m{site="shop"}'
            in general.expr)
    assert "site" not in general.labels  # each site's alert carries its series' own site label


def test_an_objective_may_name_a_site_too(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(objectives=[{"metric": "LCP", "objective": "75%", "threshold": 2500, "window": "1d",
                                        "site": "shop"}])
    alerts = [rule for group in vitals_slo.rule_groups(budgets) for rule in group.rules if isinstance(rule, Alert)]
    assert alerts and all(a.labels["site"] == "shop" and a.labels["budget"] == "lcp-slo-75-shop" for a in alerts)
    assert all(a.expr.startswith("(\nroute_device:perfbudget_lcp_seconds:error_ratio_le2_5_") and
               '{site="shop"} > ' in a.expr.split("\n")[1] for a in alerts)
    assert alerts[0].annotations["summary"].endswith("({{ $labels.device }}) on site shop")


def test_a_site_refines_a_budget_of_the_same_shape_and_a_route_budget_beats_a_site_wide_one(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500}, {"metric": "LCP", "site": "shop", "target": 2000},
                                   {"metric": "LCP", "route": "/checkout", "target": 3000}])
    general, shop, checkout = budgets.vitals
    assert budgets.budget_for("LCP", "/", "phone", "shop") is shop
    assert budgets.budget_for("LCP", "/", "phone", "blog") is general
    assert budgets.budget_for("LCP", "/", "phone") is general  # no site given: site budgets do not apply
    assert budgets.budget_for("LCP", "/checkout", "phone", "shop") is checkout
    assert shop.budget_name == "lcp-shop"


def test_a_site_name_that_cannot_be_one_is_refused_at_load(make_budgets: Callable[..., Budgets]) -> None:
    with pytest.raises(ConfigError) as caught:
        make_budgets(vitals=[{"metric": "LCP", "target": 2500, "site": "Shop!"}])
    (error,) = caught.value.errors
    assert error.endswith("vitals[0].site: 'Shop!': must be a site name from the config's sites: (lower-case "
                          "letters, digits, '.', '-' or '_')")


def _check(tmp_path: Path, budgets: dict[str, Any], sites: list[dict[str, Any]]) -> list[str]:
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(budgets))
    config = tmp_path / "perfbudget.yml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "budgets_file": str(budgets_file),
                                      "sites": sites}))
    _, errors = validate_all(config, env={})
    return errors


def test_perfbudget_check_names_the_budget_and_the_site_the_config_does_not_list(tmp_path: Path) -> None:
    sites = [{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}]
    budgets = {"vitals": [{"metric": "LCP", "target": 2500, "site": "shop"},
                          {"metric": "INP", "target": 200, "site": "docs"},
                          {"metric": "CLS", "target": 0.1, "site": "other"}],
               "objectives": [{"metric": "LCP", "objective": "75%", "threshold": 2500, "site": "wiki"}]}
    assert _check(tmp_path, budgets, sites) == [
        f"{tmp_path / 'budgets.yaml'}: vitals[1].site: 'docs': budget 'inp-docs' names a site the config does not "
        "list (sites: shop, blog; 'other' is every host no site lists)",
        f"{tmp_path / 'budgets.yaml'}: objectives[0].site: 'wiki': budget 'lcp-slo-75-wiki' names a site the config "
        "does not list (sites: shop, blog; 'other' is every host no site lists)"]
    assert _check(tmp_path, {"vitals": [{"metric": "LCP", "target": 2500, "site": "shop"}]}, []) == [
        f"{tmp_path / 'budgets.yaml'}: vitals[0].site: 'shop': budget 'lcp-shop' names a site the config does not "
        "list (sites: none: the config has no sites:; 'other' is every host no site lists)"]
    assert _check(tmp_path, {"vitals": [{"metric": "LCP", "target": 2500, "site": "blog"}]}, sites) == []


def _lcp_series(labels: dict[str, str], per_minute: int, minutes: int) -> list[dict[str, str]]:
    """Every sample at 2.875 s at p75 (all in the (2.5, 3] bucket)."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    zero, some = f"0+0x{minutes}", f"0+{per_minute}x{minutes}"
    return [{"series": f'perfbudget_lcp_seconds_bucket{{{inner},le="{le}"}}', "values": values}
            for le, values in (("2", zero), ("2.5", zero), ("3", some), ("+Inf", some))] + [
        {"series": f"perfbudget_lcp_seconds_count{{{inner}}}", "values": some}]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_one_alert_per_site_and_the_site_budget_owns_its_site(
        make_budgets: Callable[..., Budgets], tmp_path: Path) -> None:
    budgets = make_budgets(**SITE_BUDGETS)
    general, shop = budgets.vitals
    files = {f.path: f.text for f in generate_files(budgets, "test")}
    rules = tmp_path / "rules" / "web-vitals.yml"
    rules.parent.mkdir()
    rules.write_text(files[f"{naming.RULES_DIR}/web-vitals.yml"])
    tests = yaml.safe_load(files[f"{naming.RULE_TESTS_DIR}/web-vitals.yml"])
    pairs = [{"route": "/", "device": "phone", "site": site} for site in ("shop", "blog", "other")]
    expected = []
    for pair in pairs:
        owner = shop if pair["site"] == "shop" else general
        labels = {**pair, "cause": "unknown"}
        expected.append({"exp_labels": {**labels, **vitals_alerts.vital_labels(owner, owner.severity)},
                         "exp_annotations": vitals_alerts.budget_annotations(budgets, owner,
                                                                              Expanded(2.875, labels))})
    tests["tests"].append({
        "name": "one budget alert per site: the general budget on blog and other, the shop budget on shop",
        "interval": "1m",
        "input_series": [s for pair in pairs for s in _lcp_series(pair, 10, 20)],
        "alert_rule_test": [{"eval_time": "10m", "alertname": naming.ALERT_VITAL_BUDGET, "exp_alerts": expected}],
    })
    tests["rule_files"] = [str(rules)]
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(tests["tests"]) > 1  # the generator's own cases (the site budget's pair has a site label) ran too
