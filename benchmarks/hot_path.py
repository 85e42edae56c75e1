"""The beacon hot path, stage by stage: microseconds per page view, before and after issue 16, in one run.

    .venv/bin/python benchmarks/hot_path.py [--bodies 2000] [--repeat 15]

One page view is the body benchmarks/beacon.lua sends (five vitals with attribution), with fresh ids and
the same rotation of pages and images as wrk's. Each figure is the minimum over `--repeat` passes over
`--bodies` distinct bodies, divided by the number of bodies, so that other processes on a shared machine
inflate it less. The "before" column runs the code as it was before issue 16, copied below under
`# --- before issue 16`; "after" runs what perfbudget has now. Stages that issue 16 did not change show one
figure, measured on what is checked in when the script runs (the metrics store changes "observe"). The last
row is one whole beacon request, from granian's RSGI scope to the answer, through server/front.py and the
default app: before, the front built a WSGI environ and called the app; after, it calls the endpoint.
It prints figures; it asserts nothing beyond before and after giving the same reports.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from prometheus_client import CollectorRegistry

from perfbudget.attribution import AttributionStore, SpaceSaving
from perfbudget.beacons import MAX_ID_LENGTH, MAX_URL_LENGTH, RETIRED, Rejection, Report, parse
from perfbudget.config.otlp import OtlpConfig, resolve
from perfbudget.config.routes import RoutesConfig
from perfbudget.dedup import SeenTable, fingerprint
from perfbudget.devices import device_class
from perfbudget.ingest import Client, Ingestor
from perfbudget.metrics import Metrics
from perfbudget.otlp import OtlpPipeline
from perfbudget.routes import RouteNormalizer, RouteTable, url_path
from perfbudget.vitals import VITALS, bucket_edges

HERE = Path(__file__).resolve().parent
EDGES = {name: bucket_edges(vital) for name, vital in VITALS.items()}
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


def bodies(count: int) -> list[bytes]:
    """`count` page views as beacon.lua formats them (thread 1, counters 1..count)."""
    template = re.search(r"\[=\[(.*)\]=\]", (HERE / "beacon.lua").read_text(), re.S)
    assert template is not None
    out = []
    for counter in range(1, count + 1):
        page = counter % 50
        out.append((template.group(1) % ((1, counter, page, page % 10) + (1, counter, page) * 4)).encode())
    return out


# --- before issue 16: beacons.parse (orjson, then a Python validate per report) ----------------------------

_DEVICE_HINTS = {"phone": "phone", "mobile": "phone", "tablet": "tablet", "desktop": "desktop"}


def before_parse(body: bytes, max_batch: int) -> tuple[list[Report], list[Rejection]]:
    reports: list[Report] = []
    rejections: list[Rejection] = []
    data = orjson.loads(body)
    items = data if isinstance(data, list) else [data]
    assert 0 < len(items) <= max_batch
    for index, item in enumerate(items):
        checked = before_validate(index, item)
        if isinstance(checked, Report):
            reports.append(checked)
        else:
            rejections.append(checked)
    return reports, rejections


def before_validate(index: int, item: Any) -> Report | Rejection:
    if not isinstance(item, dict):
        return Rejection(index, "not_an_object", f"report {index}: expected a Metric object")
    name = item.get("name")
    vital = VITALS.get(name) if isinstance(name, str) else None
    if vital is None:
        if isinstance(name, str) and name in RETIRED:
            return Rejection(index, RETIRED[name], f"report {index}: {name} is retired")
        return Rejection(index, "unknown_metric", f"report {index}: unknown name")
    value: Any = item.get("value")
    if type(value) not in (int, float):
        return Rejection(index, "invalid_value", f"report {index}: not a number")
    if not math.isfinite(value) or value < 0:
        return Rejection(index, "invalid_value", f"report {index}: must be finite and >= 0")
    if value > vital.max_beacon_value:
        return Rejection(index, "value_out_of_range", f"report {index}: over the sane bound")
    metric_id = item.get("id")
    if not isinstance(metric_id, str) or not metric_id or len(metric_id) > MAX_ID_LENGTH:
        return Rejection(index, "missing_id", f"report {index}: bad id")
    page_url = item.get("pageUrl")
    if not isinstance(page_url, str):
        page_url = item.get("navigationURL") if isinstance(item.get("navigationURL"), str) else None
    if page_url is not None and len(page_url) > MAX_URL_LENGTH:
        page_url = page_url[:MAX_URL_LENGTH]
    nav = item.get("navigationType")
    device = item.get("device")
    attribution = item.get("attribution")
    return Report(
        vital=vital,
        value=vital.to_base(value),
        id=metric_id,
        navigation_type=nav if isinstance(nav, str) else None,
        page_url=page_url,
        device_hint=_DEVICE_HINTS.get(device) if isinstance(device, str) else None,
        attribution=attribution if isinstance(attribution, dict) else None,
    )


# --- before issue 16: attribution.extract and AttributionStore.record ------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _before_text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        text = value[:300]
        if _CONTROL.search(text) is None:
            return text
    return None


def _before_resource(value: Any) -> str | None:
    text = _before_text(value)
    if text is None or text.startswith("data:"):
        return None
    base = text.split("#", 1)[0].split("?", 1)[0]
    if base.startswith(("http://", "https://")):
        scheme_end = base.index("//") + 2
        slash = base.find("/", scheme_end)
        return base[:scheme_end] + (base[scheme_end:] if slash < 0 else base[scheme_end:slash] + url_path(base[slash:]))
    return base


def before_extract(vital: str, attribution: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if vital == "LCP":
        url = _before_resource(attribution.get("url"))
        if url is None and isinstance(attribution.get("lcpEntry"), dict):
            url = _before_resource(attribution["lcpEntry"].get("url"))
        target = _before_text(attribution.get("target")) or _before_text(attribution.get("element"))
        if url:
            out.append(("lcp.url", url))
        if target:
            out.append(("lcp.target", target))
    elif vital == "INP":
        target = _before_text(attribution.get("interactionTarget")) or _before_text(attribution.get("eventTarget"))
        if target:
            out.append(("inp.target", target))
        script = attribution.get("longestScript")
        if isinstance(script, dict):
            nested = script.get("entry")
            entry: dict[str, Any] = nested if isinstance(nested, dict) else script
            source = (_before_resource(entry.get("sourceURL")) or _before_resource(entry.get("url"))
                      or _before_text(entry.get("invoker")))
            if source:
                out.append(("inp.script", source))
    elif vital == "CLS":
        target = _before_text(attribution.get("largestShiftTarget"))
        if target:
            out.append(("cls.target", target))
    return out


class BeforeAttributionStore(AttributionStore):
    def record(self, vital: str, route: str, attribution: dict[str, Any]) -> None:
        pairs = before_extract(vital, attribution)
        if not pairs:
            return
        with self._lock:
            for kind, value in pairs:
                table = self._tables.get((kind, route))
                if table is None:
                    table = self._tables[(kind, route)] = SpaceSaving(self.k)
                table.add(value)
            self._dirty = True


# --- measurement ----------------------------------------------------------------------------------------


class DropExporter(MetricExporter):
    """Takes every export and drops it: what OTLP costs a request, without a collector."""

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def per_view(run: Callable[[], object], views: int, repeat: int, setup: Callable[[], object] | None = None) -> float:
    """Microseconds per page view: the fastest of `repeat` passes of `run` over `views` page views."""
    best = math.inf
    for _ in range(repeat):
        if setup is not None:
            setup()
        best = min(best, timeit.timeit(run, number=1))
    return best / views * 1e6


class _Scope:
    """The part of granian's RSGI scope server/front.py reads, for one beacon as beacon.lua sends it."""

    proto, http_version, client, server, scheme = "http", "1.1", "127.0.0.1:50000", "127.0.0.1:9478", "http"
    method, path, query_string = "POST", "/api/web-vitals", ""

    def __init__(self, body: bytes) -> None:
        self.headers = _Headers({"host": "127.0.0.1:9478", "content-type": "text/plain;charset=UTF-8",
                                 "content-length": str(len(body)), "user-agent": UA})


class _Headers(dict[str, str]):
    def get_all(self, name: str) -> list[str]:
        return [self[name]] if name in self else []


class _Protocol:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 0

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, _headers: Any, _body: bytes) -> None:
        self.status = status


def front_rows(tmp: Path, views: int, repeat: int) -> tuple[str, float | None, float]:
    """One whole beacon request through server/front.py and the default app (OTLP off, rate limit off), in
    this process: before = the front building a WSGI environ and calling the app (as before issue 16's
    direct path), after = the front handing the beacon to the endpoint itself. Fresh ids in every pass."""
    import asyncio

    from perfbudget.app import create_app
    from perfbudget.config import load_config
    from perfbudget.server.front import Front

    config_file = tmp / "perfbudget.yml"
    config_file.write_text(f"data_dir: {tmp / 'data'}\nbeacons:\n  rate_limit: 'off'\n")
    app = create_app(load_config(config_file, env={}))
    fronts = {}
    for which in ("before", "after"):
        fronts[which] = Front(app, body_timeout=10, beacon_cap=65536, cap=8 << 20, threads=1)
    fronts["before"]._beacons = None
    made = iter(bodies(views * repeat * 2 + 200))

    async def one_pass(front: Front, requests: list[tuple[_Scope, _Protocol]]) -> float:
        started = timeit.default_timer()
        for scope, protocol in requests:
            await front.__rsgi__(scope, protocol)  # type: ignore[arg-type]
        return timeit.default_timer() - started

    async def measure() -> dict[str, float]:
        best = {"before": math.inf, "after": math.inf}
        for front in fronts.values():
            front.__rsgi_init__(asyncio.get_running_loop())
            warm = [(_Scope(b), _Protocol(b)) for b in (next(made) for _ in range(100))]
            await one_pass(front, warm)
        for _ in range(repeat):
            for which, front in fronts.items():
                requests = [(_Scope(b), _Protocol(b)) for b in (next(made) for _ in range(views))]
                best[which] = min(best[which], await one_pass(front, requests))
                assert all(protocol.status == 200 for _, protocol in requests)
        return best

    best = asyncio.run(measure())
    return ("whole request through the front", best["before"] / views * 1e6, best["after"] / views * 1e6)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int, default=2000, help="distinct page views per pass")
    parser.add_argument("--repeat", type=int, default=15, help="passes; the fastest is reported")
    args = parser.parse_args(argv)
    raw = bodies(args.bodies)
    views, repeat = len(raw), args.repeat
    batches = [parse(body, 50)[0] for body in raw]
    assert batches == [before_parse(body, 50)[0] for body in raw], "before and after disagree"
    rows: list[tuple[str, float | None, float]] = []

    rows.append(("decode+validate", per_view(lambda: [before_parse(b, 50) for b in raw], views, repeat),
                 per_view(lambda: [parse(b, 50) for b in raw], views, repeat)))

    tmp = Path(tempfile.mkdtemp(prefix="hot-path-"))
    seen = SeenTable(1 << 20, 3600, tmp / "seen")
    prints = [[fingerprint(r.id, r.vital.name) for r in batch] for batch in batches]
    rows.append(("dedup", None, per_view(lambda: [seen.first_sightings(p) for p in prints], views, repeat)))

    routes = RouteNormalizer(RoutesConfig(), RouteTable(200, tmp / "routes"))
    urls = [batch[0].page_url for batch in batches]
    rows.append(("route (once per beacon)", None, per_view(lambda: [routes.route(u) for u in urls], views, repeat)))
    rows.append(("device (once per beacon)", None,
                 per_view(lambda: [device_class(None, None, UA) for _ in urls], views, repeat)))

    registry = CollectorRegistry()
    metrics = Metrics(registry, EDGES)
    observers = {name: metrics.vitals[name].observer(("/products/:id", "phone")) for name in VITALS}
    rows.append(("observe (5 histograms)", None,
                 per_view(lambda: [observers[r.vital.name](r.value) for b in batches for r in b], views, repeat)))

    settings = resolve(OtlpConfig.model_validate({"endpoint": "http://127.0.0.1:9"}), {})
    assert settings is not None
    otlp = OtlpPipeline(settings, EDGES, metrics, exporter=DropExporter())
    rows.append(("OTLP on (5 records; off: 0)", None, per_view(
        lambda: [otlp.record(r.vital.name, r.value, "/products/:id", "phone", "good") for b in batches for r in b],
        views, repeat)))
    otlp.shutdown()

    stores: dict[str, AttributionStore] = {}

    def fresh() -> None:
        stores["before"], stores["after"] = BeforeAttributionStore(None, 20), AttributionStore(None, 20)

    def attribute(which: str) -> Callable[[], object]:
        return lambda: [stores[which].record(r.vital.name, "/products/:id", r.attribution)
                        for b in batches for r in b if r.attribution is not None]

    rows.append(("attribution", per_view(attribute("before"), views, repeat, fresh),
                 per_view(attribute("after"), views, repeat, fresh)))

    answer = {"ok": True, "received": 5, "duplicates": 0, "rejected": [], "alerts": []}
    rows.append(("answer (JSON)", None, per_view(lambda: [orjson.dumps(answer) for _ in raw], views, repeat)))

    ingestor = Ingestor(metrics, routes, SeenTable(1 << 20, 3600, tmp / "seen2"), AttributionStore(None, 20))
    client = Client(user_agent=UA)
    rows.append(("Ingestor.record, OTLP off (whole)", None,
                 per_view(lambda: [ingestor.record(b, client) for b in batches], views, repeat)))

    rows.append(front_rows(tmp, views, min(repeat, 5)))

    print(f"{views} distinct page views ({len(raw[0])} bytes, 5 vitals with attribution), fastest of {repeat}")
    print(f"{'stage':36} {'before µs':>10} {'after µs':>10}")
    for stage, before, after in rows:
        print(f"{stage:36} {'' if before is None else f'{before:10.2f}':>10} {after:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
