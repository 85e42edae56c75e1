"""Route normalisation: templates, regexes, collapse, and the cap shared by the workers."""

from pathlib import Path

import pytest

from perfbudget.config.routes import RoutesConfig
from perfbudget.routes import OTHER, RouteNormalizer, RouteTable, collapse, url_path


def normalizer(max_routes: int = 100, path: Path | None = None, **config: object) -> RouteNormalizer:
    routes = RoutesConfig.model_validate(config)
    return RouteNormalizer(routes, RouteTable(max_routes, path))


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://shop.test/products/1?utm=x#top", "/products/1"),
        ("/cart?x=1", "/cart"),
        ("https://shop.test", "/"),
        ("/a#b", "/a"),
        ("http://[::1", "/"),
    ],
)
def test_url_path_drops_scheme_host_query_and_fragment(url: str, path: str) -> None:
    assert url_path(url) == path


def test_templates_and_regexes_map_families_of_paths_to_one_label() -> None:
    routes = normalizer(patterns=["/inventory/:slug", {"regex": r"/blog/\d{4}/.+", "route": "/blog/:post"},
                                  "/docs/*"])
    assert routes.route("https://shop.test/inventory/red-shoes?size=9") == ("/inventory/:slug", False)
    assert routes.route("https://shop.test/inventory/red-shoes/") == ("/inventory/:slug", False)
    assert routes.route("/blog/2024/hello-world") == ("/blog/:post", False)
    assert routes.route("/docs/a/b/c") == ("/docs/*", False)
    assert routes.route("/inventory/a/b") == ("/inventory/a/b", False)  # one segment only


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/orders/12345/items/", "/orders/:id/items"),
        ("/u/3f2b8c1e-5d4a-4b6c-9e8f-0a1b2c3d4e5f", "/u/:id"),
        ("/assets/a1b2c3d4e5f60718", "/assets/:id"),
        ("/reset/Zx9kQ2mP7vL4nR8tYw", "/reset/:id"),
        ("/people/jane@example.com", "/people/:id"),
        ("/about-us", "/about-us"),
        ("/", "/"),
    ],
)
def test_unmatched_paths_have_id_like_segments_collapsed(path: str, route: str) -> None:
    assert collapse(path) == route


def test_unmatched_other_sends_every_unmatched_path_to_other() -> None:
    routes = normalizer(patterns=["/cart"], unmatched="other")
    assert routes.route("/cart") == ("/cart", False)
    assert routes.route("/anything") == (OTHER, False)


def test_the_cap_on_distinct_routes_overflows_to_other_and_says_so() -> None:
    routes = normalizer(max_routes=3)
    assert [routes.route(f"/page-{c}")[0] for c in "abc"] == ["/page-a", "/page-b", "/page-c"]
    assert routes.route("/page-d") == (OTHER, True)
    assert routes.route("/page-a") == ("/page-a", False)  # admitted routes keep working


def test_the_cap_is_shared_by_workers_through_the_table_file(tmp_path: Path) -> None:
    first = normalizer(max_routes=2, path=tmp_path / "routes.bin")
    second = normalizer(max_routes=2, path=tmp_path / "routes.bin")
    assert first.route("/a") == ("/a", False)
    assert second.route("/b") == ("/b", False)
    assert first.route("/c") == (OTHER, True)
    assert second.route("/a") == ("/a", False)
    assert sorted(RouteTable(2, tmp_path / "routes.bin").routes()) == ["/a", "/b"]


def test_an_overlong_route_is_other() -> None:
    assert collapse("/" + "x" * 200) == OTHER


def test_a_beacon_without_page_url_is_unknown() -> None:
    assert normalizer().route(None) == ("unknown", False)


def test_a_label_too_long_for_the_shared_table_overflows_instead_of_corrupting_it(tmp_path: Path) -> None:
    table = RouteTable(4, tmp_path / "routes.bin")
    assert table.admit("/ok")
    assert not table.admit("/" + "x" * 200)
    assert table.admit("/next")
    assert RouteTable(4, tmp_path / "routes.bin").routes() == ["/ok", "/next"]


def test_a_table_written_under_a_larger_cap_is_read_up_to_the_new_cap(tmp_path: Path) -> None:
    before = RouteTable(5, tmp_path / "routes.bin")
    for route in ("/a", "/b", "/c", "/d"):
        assert before.admit(route)
    after = RouteTable(2, tmp_path / "routes.bin")  # a reload lowered routes.max_routes
    assert after.routes() == ["/a", "/b"]
    assert after.admit("/a") and not after.admit("/e")


def test_configured_routes_are_admitted_at_start_and_never_crowded_out(tmp_path: Path) -> None:
    config = RoutesConfig.model_validate({"patterns": ["/products/:id", "/cart"], "max_routes": 4})
    junk_first = RouteNormalizer(config, RouteTable(4, tmp_path / "routes.bin", config.labels()))
    assert [junk_first.route(f"/junk-{c}")[0] for c in "abc"] == ["/junk-a", "/junk-b", OTHER]
    other_worker = RouteNormalizer(config, RouteTable(4, tmp_path / "routes.bin", config.labels()))
    assert other_worker.route("/products/42") == ("/products/:id", False)
    assert other_worker.route("/cart") == ("/cart", False)
    assert other_worker.route("/junk-d") == (OTHER, True)
    assert other_worker.known_routes() == ["/products/:id", "/cart", "/junk-a", "/junk-b"]


def test_every_admitted_label_has_the_same_slot_in_every_worker(tmp_path: Path) -> None:
    first = RouteTable(4, tmp_path / "routes.bin", ["/cart"])
    second = RouteTable(4, tmp_path / "routes.bin", ["/cart"])
    assert first.admit("/a") and second.admit("/b")
    assert sorted(first.slotted(), key=lambda item: item[1]) == sorted(second.slotted(), key=lambda item: item[1]) \
        == [("/cart", 0), ("/a", 1), ("/b", 2), (OTHER, 4), ("unknown", 5)]


def test_more_pattern_labels_than_max_routes_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"the patterns have 3 distinct route labels, more than max_routes \(2\)"):
        RoutesConfig.model_validate({"patterns": ["/a", "/b", "/c"], "max_routes": 2})
