"""Several sites: the site label from the page URL's host (or a beacon's site field), bounded, optional."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.config import ConfigError, load_config
from perfbudget.config.sites import SiteConfig
from perfbudget.sites import SiteResolver, url_host

from .samples import sample

SITES = [{"name": "shop", "hosts": ["shop.test", "www.shop.test"]}, {"name": "blog", "hosts": ["blog.test:8080"]}]


def report(metric_id: str, page: str = "https://shop.test/cart", name: str = "LCP", value: float = 2300,
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "delta": value, "id": metric_id, "rating": "good",
            "navigationType": "navigate", "pageUrl": page, **extra}


def post(app: Flask, body: Any, **headers: str) -> Any:
    return app.test_client().post("/api/web-vitals", data=json.dumps(body).encode(),
                                  headers={"Content-Type": "text/plain;charset=UTF-8", **headers})


def test_url_host_takes_the_authority_lowercased_without_user_information() -> None:
    assert url_host("https://User:pw@Shop.Test:8080/a?b#c") == "shop.test:8080"
    assert url_host("http://blog.test") == "blog.test"
    assert url_host("/relative/path") is None
    assert url_host("https:///nohost") is None


def test_the_resolver_names_a_site_by_host_then_port_less_host_and_everything_else_other() -> None:
    sites = SiteResolver([SiteConfig(name="shop", hosts=["shop.test"]), SiteConfig(name="blog", hosts=["Blog.Test"])])
    assert sites.names == ("shop", "blog", "other")
    assert sites.site(None, "https://shop.test/x", None) == ("shop", None)
    assert sites.site(None, "https://shop.test:8443/x", None) == ("shop", None)
    assert sites.site(None, "https://BLOG.test/", None) == ("blog", None)
    assert sites.site(None, "https://evil.test/", None) == ("other", "unknown_host")
    assert sites.site(None, "/cart", "https://blog.test") == ("blog", None)  # a relative URL: the Origin's host
    assert sites.site(None, "/cart", None) == ("other", "no_host")
    assert sites.site("blog", "https://shop.test/", None) == ("blog", None)  # a configured site field wins
    assert sites.site("forged", "https://shop.test/", None) == ("other", "unknown_site_field")


def test_without_sites_there_is_no_site_label(app: Flask, registry: CollectorRegistry) -> None:
    assert post(app, report("a")).status_code == 200
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'site="' not in text
    assert "perfbudget_site_other_total" not in text


def test_beacons_are_counted_under_their_site_and_unknown_hosts_and_forged_fields_under_other(
        make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    app = make_app(sites=SITES)
    answer = post(app, [report("a"), report("b", "https://www.shop.test/cart"), report("c", "http://blog.test:8080/cart"),
                        report("d", "https://elsewhere.test/cart"), report("e", site="forged"),
                        report("f", site="blog")])
    assert answer.status_code == 200 and answer.json["received"] == 6
    lcp = "perfbudget_lcp_seconds_count"
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "site": "shop"}) == 2
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "site": "blog"}) == 2
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "site": "other"}) == 2
    assert sample(registry, "perfbudget_site_other_total", {"reason": "unknown_host"}) == 1
    assert sample(registry, "perfbudget_site_other_total", {"reason": "unknown_site_field"}) == 1
    assert sample(registry, "perfbudget_site_other_total", {"reason": "no_host"}) == 0


def test_the_summary_answers_per_site_and_refuses_an_unknown_one(make_app: Callable[..., Flask]) -> None:
    app = make_app(sites=SITES)
    post(app, [report("a", value=1000), report("b", "http://blog.test:8080/cart", value=3000),
               report("c", "http://blog.test:8080/cart", value=3100)])
    client = app.test_client()
    shop = client.get("/api/web-vitals?site=shop").json
    blog = client.get("/api/web-vitals?site=blog").json
    assert shop["metrics"]["LCP"]["samples"] == 1 and blog["metrics"]["LCP"]["samples"] == 2
    assert shop["filter"]["site"] == "shop"
    assert client.get("/api/web-vitals").json["metrics"]["LCP"]["samples"] == 3
    refused = client.get("/api/web-vitals?site=nosuch")
    assert refused.status_code == 400
    assert refused.json["error"] == "site: 'nosuch' is not a configured site (one of shop, blog, other)"


def test_a_site_filter_without_sites_is_a_400(client: Any) -> None:
    answer = client.get("/api/web-vitals?site=shop")
    assert answer.status_code == 400
    assert "no sites are configured" in answer.json["error"]


def test_an_empty_origin_allowlist_is_derived_from_the_sites_hosts(make_config: Callable[..., Any]) -> None:
    config = make_config(sites=SITES, beacons={"allowed_origins": []})
    assert config.beacons.allowed_origins == [
        "https://shop.test", "http://shop.test", "https://www.shop.test", "http://www.shop.test",
        "https://blog.test:8080", "http://blog.test:8080"]
    assert make_config(sites=SITES).beacons.allowed_origins == ["*"]  # an allowlist given (the default) is kept


def test_a_derived_allowlist_refuses_a_beacon_from_a_page_of_no_site(make_app: Callable[..., Flask]) -> None:
    app = make_app(sites=SITES, beacons={"allowed_origins": []})
    assert post(app, report("a"), Origin="https://shop.test").status_code == 200
    assert post(app, report("b"), Origin="https://evil.test").status_code == 403


@pytest.mark.parametrize(("sites", "error"), [
    ([{"name": "other", "hosts": ["a.test"]}],
     "sites[0].name: 'other': 'other' is the label of hosts no site lists; give the site another name"),
    ([{"name": "shop", "hosts": ["https://shop.test"]}],
     "sites[0].hosts: ['https://shop.test']: 'https://shop.test' is not a host name like shop.example.com or "
     "shop.test:8080 (no scheme, no path)"),
    ([{"name": "a", "hosts": ["x.test"]}, {"name": "a", "hosts": ["y.test"]}],
     "sites[1].name 'a' is the name of sites[0] too"),
    ([{"name": "a", "hosts": ["x.test"]}, {"name": "b", "hosts": ["X.test"]}],
     "sites[1].hosts: 'x.test' is a host of sites[0] too"),
    ([{"name": "a", "hosts": []}], "sites[0].hosts: []: must have at least 1 item"),
])
def test_bad_sites_are_refused_with_the_key_and_the_reason(tmp_path: Path, sites: list[Any], error: str) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump({"sites": sites}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert any(line.endswith(error) for line in caught.value.errors), caught.value.errors
