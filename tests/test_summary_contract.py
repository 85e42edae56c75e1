"""GET /api/web-vitals keeps the founding contract (../shared/seeds, "API Contract"): every field it names, with
its type, and the budget verdicts beside it (issue 12, points 1 and 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from perfbudget.metrics import Metrics
from perfbudget.snapshots import SnapshotStore
from perfbudget.summary import SummaryService
from perfbudget.vitals import VITALS, bucket_edges

NUMBER = (int, float)
#: The contract's fields of each item of `vitals`, and the types beyond it; None where a vital has no data.
VITAL_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "value": NUMBER, "rating": (str,), "target": NUMBER, "unit": (str,), "trend": NUMBER,
    "pageUrl": (str,), "diagnosis": (str,), "suggestedFix": (str,),
    "trendDirection": (str,), "diagnosisDetail": (dict,), "suggestedFixDetail": (dict,), "budget": (dict,),
    "withinBudget": (bool,), "samples": (int,), "confidence": (str,), "pageUrlReason": (str,), "devices": (list,),
    "breakdown": (dict,),
}
NULLABLE_WITHOUT_DATA = {"value", "rating", "trend", "withinBudget", "confidence", "suggestedFixDetail", "breakdown"}


@pytest.fixture
def over_budget(make_app: Callable[..., Flask], tmp_path: Path) -> FlaskClient:
    """The issue's example: an LCP budget of 1750 ms, and 40 page views of /cart at about 2100 ms."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 1750\n    severity: critical\n")
    client = make_app(budgets_file=str(budgets)).test_client()
    batch = [{"name": "LCP", "value": 2090 + i % 20, "delta": 2090 + i % 20, "id": f"v-{i}",
              "navigationType": "navigate", "pageUrl": f"https://shop.test/cart?session={i}",
              "attribution": {"url": "https://shop.test/img/hero.jpg", "target": "img.hero"}} for i in range(40)]
    for start in range(0, 40, 10):
        answer = client.post("/api/web-vitals", data=json.dumps(batch[start:start + 10]),
                             headers={"Content-Type": "text/plain", "Origin": "https://shop.test"})
        assert answer.status_code == 200, answer.json
    return client


def _typed(item: dict[str, Any], fields: dict[str, tuple[type, ...]], nullable: set[str]) -> list[str]:
    wrong = []
    for field, types in fields.items():
        if field not in item:
            wrong.append(f"{field}: missing")
        elif not (isinstance(item[field], types) or (item[field] is None and field in nullable)):
            wrong.append(f"{field}: {item[field]!r}")
        elif isinstance(item[field], bool) and bool not in types:
            wrong.append(f"{field}: a boolean")
    return wrong


def test_every_field_of_the_contract_has_its_name_and_type(over_budget: FlaskClient) -> None:
    body = over_budget.get("/api/web-vitals?page=https://shop.test/cart?session=9").json
    assert isinstance(body["vitals"], list) and [v["name"] for v in body["vitals"]] == list(body["metrics"])
    assert isinstance(body["overallScore"], int) and not isinstance(body["overallScore"], bool)
    assert isinstance(body["criticalIssues"], int) and body["criticalIssues"] == len(body["criticalIssueList"])
    checked = datetime.fromisoformat(body["lastChecked"])
    assert checked.tzinfo is not None and body["lastChecked"].endswith("Z")
    assert body["budgetsMet"] == {"met": 0, "total": 1}
    lcp = body["vitals"][0]
    # With one window only there is no trend to give yet: null, and the direction says "unknown".
    # Its beacons carry no subparts: no breakdown (null), the rest typed.
    assert _typed(lcp, VITAL_FIELDS, {"trend", "pageUrlReason", "breakdown"}) == [] and lcp["breakdown"] is None
    assert (lcp["trend"], lcp["trendDirection"]) == (None, "unknown")
    # A URL the beacons of the route reported, without its query string (session=...), not the page asked for.
    assert (lcp["pageUrl"], lcp["pageUrlReason"]) == ("https://shop.test/cart", None)
    assert set(lcp["budget"]) >= {"name", "target", "severity"}
    assert lcp["budget"]["name"] == "lcp-site" and lcp["budget"]["severity"] == "critical"
    assert isinstance(lcp["budget"]["target"], NUMBER)
    for vital in body["vitals"][1:]:  # no data for them: null where nothing is known, sentences still
        assert _typed(vital, VITAL_FIELDS, NULLABLE_WITHOUT_DATA | {"budget", "diagnosisDetail", "pageUrlReason"}) \
            == [], vital
        assert vital["pageUrl"] == "https://shop.test/cart" and vital["withinBudget"] is None  # the route's URL


def test_diagnosis_and_suggested_fix_are_sentences_from_the_attribution_and_the_playbooks(
        over_budget: FlaskClient) -> None:
    lcp = over_budget.get("/api/web-vitals").json["vitals"][0]
    assert lcp["diagnosis"].startswith("LCP p75 is ")
    assert "over the lcp-site budget of 1750 ms" in lcp["diagnosis"]
    assert lcp["diagnosis"].endswith(
        "Most blamed: LCP resource https://shop.test/img/hero.jpg (40 page loads); "
        "LCP element img.hero (40 page loads).")
    assert lcp["diagnosisDetail"]["lcpResources"][0]["count"] == 40  # the structured detail stays
    fix = lcp["suggestedFixDetail"]
    assert lcp["suggestedFix"].startswith(
        f"Preview the {fix['name']} playbook: POST /api/perf-fix {{playbookId: {fix['playbookId']}, dryRun: true}}")
    assert lcp["pageUrl"] is None  # no page asked: no one URL to name, and why
    assert lcp["pageUrlReason"].startswith("the summary covers every route")


def test_an_lcp_of_2100_ms_over_a_1750_ms_budget_is_over_budget_though_google_rates_it_good(
        over_budget: FlaskClient) -> None:
    body = over_budget.get("/api/web-vitals").json
    lcp = body["metrics"]["LCP"]
    assert lcp["rating"] == "good" and 2000 < lcp["value"] < 2200
    assert lcp["withinBudget"] is False and body["vitals"][0]["withinBudget"] is False
    assert lcp["budget"] == {"name": "lcp-site", "target": 1750.0, "severity": "critical", "percentile": 75.0}
    assert body["metrics"]["INP"]["withinBudget"] is None  # no budget and no data: no verdict
    issue = body["criticalIssueList"][0]
    assert (issue["metric"], issue["kind"], issue["budget"]) == ("LCP", "budget", "lcp-site")
    assert "over the lcp-site budget of 1750ms (critical)" in issue["message"]
    page = over_budget.get("/").get_data(as_text=True)
    row = page[page.index("<b>LCP</b>"):]
    row = row[:row.index("</tr>")]
    assert row.index('<span class="verdict over" title="budget lcp-site">over budget</span>') < \
        row.index('class="pill good">good')  # the verdict first, Google's rating second
    assert "budgets met: 0 of 1" in page
    assert "over the lcp-site budget" in page  # among the critical issues


def test_within_budget_reads_within_budget(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()  # the bundled budgets: LCP 2500 ms
    batch = [{"name": "LCP", "value": 1200, "delta": 1200, "id": f"w-{i}", "pageUrl": "https://shop.test/"}
             for i in range(5)]
    assert client.post("/api/web-vitals", json=batch).status_code == 200
    body = client.get("/api/web-vitals").json
    assert body["metrics"]["LCP"]["withinBudget"] is True and body["criticalIssues"] == 0
    assert body["vitals"][0]["suggestedFix"] == "None needed: LCP is within its target."
    page = client.get("/").get_data(as_text=True)
    assert '>within budget</span>' in page and '<span class="verdict no-data"' in page and "no data" in page
    assert "budgets met: 1 of 1" in page


def test_the_trend_is_the_change_in_the_display_unit_against_the_previous_window(tmp_path: Path) -> None:
    edges = {name: bucket_edges(vital) for name, vital in VITALS.items()}
    metrics = Metrics(CollectorRegistry(), edges)
    observe = metrics.vitals["LCP"].observer(("/a", "phone"))
    assert observe is not None
    service = SummaryService(metrics.reader, edges, SnapshotStore(tmp_path / "s.sqlite"), "run-1", started=0)
    for _ in range(10):
        observe(5.0)  # the previous hour
    service.snapshot(now=10_000)
    for _ in range(4):
        observe(1.0)  # this hour
    state = service.state(3600, None, now=10_000 + 3600)
    entry, item = state["metrics"]["LCP"], state["vitals"][0]
    assert item["trend"] == pytest.approx(entry["value"] - entry["previous"], abs=0.1)
    assert item["trend"] < -4000 and item["trendDirection"] == "improving"


def test_a_routes_own_budget_applies_on_its_page(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    target: 2500\n"
                       "  - metric: LCP\n    name: lcp-cart\n    route: /cart\n    target: 1750\n")
    client = make_app(budgets_file=str(budgets)).test_client()
    batch = [{"name": "LCP", "value": 2100, "delta": 2100, "id": f"r-{i}", "pageUrl": "https://shop.test/cart"}
             for i in range(5)]
    assert client.post("/api/web-vitals", json=batch).status_code == 200
    on_cart = client.get("/api/web-vitals?page=/cart").json["vitals"][0]
    assert (on_cart["budget"]["name"], on_cart["withinBudget"]) == ("lcp-cart", False)
    everywhere = client.get("/api/web-vitals").json["vitals"][0]
    assert (everywhere["budget"]["name"], everywhere["withinBudget"]) == ("lcp", True)


def _post(client: FlaskClient, batch: list[dict[str, Any]], origin: str | None = "https://shop.example") -> None:
    headers = {"Content-Type": "text/plain", **({"Origin": origin} if origin else {})}
    answer = client.post("/api/web-vitals", data=json.dumps(batch), headers=headers)
    assert answer.status_code == 200, answer.json


def _lcp(i: int, page: str, value: float = 1500, **extra: Any) -> dict[str, Any]:
    return {"name": "LCP", "value": value, "delta": value, "id": f"l-{page}-{i}", "pageUrl": page, **extra}


def test_page_url_is_a_url_the_routes_beacons_reported_without_its_query(make_app: Callable[..., Flask]) -> None:
    client = make_app(routes={"patterns": ["/products/:id"]}).test_client()
    _post(client, [_lcp(i, "https://shop.example/products/42?token=secret#access_token=x") for i in range(3)])
    _post(client, [_lcp(9, "https://shop.example/products/7?token=other")])
    lcp = client.get("/api/web-vitals?page=/products/1").json["vitals"][0]
    assert (lcp["pageUrl"], lcp["pageUrlReason"]) == ("https://shop.example/products/42", None)  # the most seen
    assert "secret" not in json.dumps(client.get("/api/web-vitals?page=/products/1").json)
    nothing = client.get("/api/web-vitals?page=/checkout").json["vitals"][0]
    assert nothing["pageUrl"] is None
    assert nothing["pageUrlReason"].startswith("no accepted beacon for /checkout has reported a page URL")


def test_page_urls_of_other_hosts_or_without_an_origin_are_never_shown(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()  # allowed_origins "*": a URL must be on the origin of the page that sent it
    _post(client, [_lcp(i, "https://evil.example/cart") for i in range(5)])  # another host than the sender's
    _post(client, [_lcp(i + 5, "https://shop.example/cart") for i in range(5)], origin=None)  # not from a page
    _post(client, [_lcp(i + 10, "https://shop.example/cart") for i in range(5)], origin="null")
    body = client.get("/api/web-vitals?page=/cart").json
    assert body["metrics"]["LCP"]["samples"] == 15  # every report counted, none of their URLs kept
    assert body["vitals"][0]["pageUrl"] is None


def test_with_an_origin_allowlist_a_page_url_must_be_on_one_of_its_origins(make_app: Callable[..., Flask]) -> None:
    allowlisted = make_app(beacons={"allowed_origins": ["https://shop.example"]}).test_client()
    _post(allowlisted, [_lcp(1, "https://cdn.example/cart")], origin=None)
    assert allowlisted.get("/api/web-vitals?page=/cart").json["vitals"][0]["pageUrl"] is None
    _post(allowlisted, [_lcp(2, "https://shop.example/cart?coupon=1")], origin=None)  # on an allowed origin
    assert allowlisted.get("/api/web-vitals?page=/cart").json["vitals"][0]["pageUrl"] == "https://shop.example/cart"


def test_a_phone_budget_gives_a_verdict_per_device(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    target: 2500\n"
                       "  - metric: LCP\n    name: lcp-products-phone\n    route: /products/.*\n    device: phone\n"
                       "    target: 2000\n")
    client = make_app(budgets_file=str(budgets), routes={"patterns": ["/products/:id"]}).test_client()
    page = "https://shop.example/products/42"
    _post(client, [_lcp(i, page, 2300, device="phone") for i in range(6)])
    _post(client, [_lcp(i + 6, page, 1400, device="desktop") for i in range(6)])
    body = client.get("/api/web-vitals?page=/products/42").json
    devices = {item["device"]: item for item in body["vitals"][0]["devices"]}
    assert set(devices) == {"phone", "desktop"}  # devices with page loads or a budget of their own
    phone, desktop = devices["phone"], devices["desktop"]
    assert (phone["budget"]["name"], phone["budget"]["target"], phone["ownBudget"], phone["withinBudget"]) == \
        ("lcp-products-phone", 2000.0, True, False)
    assert phone["samples"] == 6 and phone["value"] > 2000
    assert (desktop["budget"]["name"], desktop["ownBudget"], desktop["withinBudget"]) == ("lcp", False, True)
    assert body["vitals"][0]["withinBudget"] is True  # every device together: within the site's 2500 ms
    assert body["budgetsMet"] == {"met": 1, "total": 2}  # the vital's verdict and the phone's own budget
    issue = next(i for i in body["criticalIssueList"] if i["kind"] == "device-budget")
    assert (issue["device"], issue["budget"]) == ("phone", "lcp-products-phone")
    everywhere = client.get("/api/web-vitals").json["vitals"][0]["devices"]  # the route budget is not for all
    assert {(d["device"], d["budget"]["name"], d["ownBudget"]) for d in everywhere} == \
        {("phone", "lcp", False), ("desktop", "lcp", False)}
    assert client.get("/api/web-vitals").json["vitals"][1]["devices"] == []  # INP: no device budget names it
    console = client.get("/").get_data(as_text=True)
    row = console[console.index("<b>LCP</b>"):]
    assert 'phone: <span class="verdict within">within budget</span>' in row[:row.index("</tr>")]
