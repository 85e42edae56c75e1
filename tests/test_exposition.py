"""The whole text of /metrics after a known set of beacons, compared with tests/golden/metrics.txt.

Only what cannot be the same from run to run is normalised: the `_created` samples and the reload time
(wall-clock), the buckets and sum of perfbudget's own request durations (their counts stay), and the two
build_info labels (the Python running the test, the package version); each is
checked for its own sake below. Everything else (families, HELP and TYPE lines, label names and values,
sample values, their order) must match exactly. After an intended change, rewrite the file with
PERFBUDGET_UPDATE_GOLDEN=1 and review its diff.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

import perfbudget

GOLDEN = Path(__file__).parent / "golden" / "metrics.txt"
MOBILE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.0 Mobile/15E148 Safari/604.1")


def report(name: str, value: float, metric_id: str, page: str) -> dict[str, Any]:
    return {"name": name, "value": value, "delta": value, "id": metric_id, "rating": "good",
            "navigationType": "navigate", "pageUrl": page}


# (body, User-Agent): accepted vitals on a template route (LCP's subparts and INP's phases with them) and an
# unmatched one, a repeat, rejections.
BEACONS: list[tuple[Any, str | None]] = [
    ([{**report("LCP", 2300, "v5-1", "https://shop.test/products/42"), "attribution": {
        "timeToFirstByte": 200, "resourceLoadDelay": 900, "resourceLoadDuration": 1000, "elementRenderDelay": 200}},
      report("CLS", 0.05, "v5-2", "https://shop.test/products/42"),
      {**report("INP", 180, "v5-3", "https://shop.test/products/42"), "attribution": {
          "inputDelay": 20, "processingDuration": 120, "presentationDelay": 40}}], MOBILE_UA),
    ([report("LCP", 4100, "v5-4", "https://shop.test/cart"),
      report("FCP", 900, "v5-5", "https://shop.test/cart"),
      report("TTFB", 120, "v5-6", "https://shop.test/cart")], None),
    ([report("CLS", 0.05, "v5-2", "https://shop.test/products/42")], MOBILE_UA),
    ([report("FID", 12, "v5-7", "https://shop.test/cart"),
      report("LCP", -5, "v5-8", "https://shop.test/cart")], None),
    (b"{not json", None),
]

_CREATED = re.compile(r"^(\w+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)
_RELOAD_TIME = re.compile(r"^(perfbudget_config_last_reload_success_timestamp_seconds) \S+$", re.MULTILINE)
_DURATION = re.compile(r"^(http_server_request_duration_seconds_(?:bucket|sum)\{[^}]*\}) \S+$", re.MULTILINE)
_BUILD = re.compile(r'^perfbudget_build_info\{python_version="([^"]*)",version="([^"]*)"\} 1\.0$', re.MULTILINE)


def normalised(text: str) -> str:
    text = _CREATED.sub(r"\1 <created>", text)
    text = _RELOAD_TIME.sub(r"\1 <timestamp>", text)
    text = _DURATION.sub(r"\1 <duration>", text)
    return _BUILD.sub('perfbudget_build_info{python_version="<python>",version="<version>"} 1.0', text)


def scrape_after_the_beacons(make_app: Callable[..., Flask]) -> str:
    app = make_app(routes={"patterns": ["/products/:id"]})
    client = app.test_client()
    for body, user_agent in BEACONS:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "text/plain;charset=UTF-8"}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        client.post("/api/web-vitals", data=data, headers=headers)
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return answer.get_data(as_text=True)


def test_the_metrics_text_after_known_beacons_is_the_golden_one(make_app: Callable[..., Flask]) -> None:
    text = normalised(scrape_after_the_beacons(make_app))
    if os.environ.get("PERFBUDGET_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_normalised_values_are_the_real_ones(make_app: Callable[..., Flask]) -> None:
    started = time.time()
    text = scrape_after_the_beacons(make_app)
    assert _BUILD.findall(text) == [(platform.python_version(), perfbudget.__version__)]
    times = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if _RELOAD_TIME.fullmatch(line) or _CREATED.fullmatch(line)]
    assert len(times) == normalised(text).count("<created>") + 1, "every normalised line is checked here"
    assert all(started <= value <= time.time() for value in times)
