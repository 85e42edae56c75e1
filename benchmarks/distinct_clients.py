"""What the distinct-clients sketch (issue 11, point 12) costs the beacon hot path, per page view.

    .venv/bin/python benchmarks/distinct_clients.py [--bodies 2000] [--repeat 15] [--windows 1]

The same page views as benchmarks/hot_path.py (five vitals with attribution per beacon, 50 pages), each from
its own client address out of 5,000: the keyed hash (once per beacon), the sketch update (once per route
and window in the beacon), and Ingestor.record whole with and without the sketch, on files in a temporary
directory as under the production server. Fastest of `--repeat` passes, divided by the page views.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from perfbudget.attribution import AttributionStore
from perfbudget.beacons import parse
from perfbudget.config.routes import RoutesConfig
from perfbudget.dedup import SeenTable
from perfbudget.distinct_clients import ClientSketch
from perfbudget.ingest import Client, Ingestor
from perfbudget.metrics import Metrics
from perfbudget.routes import RouteNormalizer, RouteTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hot_path import EDGES, UA, bodies, per_view


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--windows", type=int, default=1, help="distinct budget windows (1h, 2h, ...)")
    args = parser.parse_args(argv)
    raw = bodies(args.bodies)
    views, repeat = len(raw), args.repeat
    batches = [parse(body, 50)[0] for body in raw]
    addresses = [f"198.51.{n % 5000 // 250}.{n % 250}" for n in range(views)]
    tmp = Path(tempfile.mkdtemp(prefix="distinct-clients-"))
    table = RouteTable(200, tmp / "routes.bin")
    routes = RouteNormalizer(RoutesConfig(), table)
    windows = {f"{h}h": 3600.0 * h for h in range(1, args.windows + 1)}
    sketch = ClientSketch(windows, table.slots, tmp / "clients.bin", "bench")
    slots = []
    for batch in batches:
        label, _ = routes.route(batch[0].page_url)
        slot = table.slot(label)
        assert slot is not None
        slots.append(slot)
    hashes = [sketch.hash(a) for a in addresses]
    rows = [
        ("hash (once per beacon)", per_view(lambda: [sketch.hash(a) for a in addresses], views, repeat)),
        (f"sketch add ({args.windows} window(s))",
         per_view(lambda: [sketch.add(s, h) for s, h in zip(slots, hashes, strict=True)], views, repeat)),
    ]
    metrics = Metrics(CollectorRegistry(), EDGES)
    clients = [Client(user_agent=UA, address=a) for a in addresses]
    current: list[Ingestor] = []

    def fresh(with_sketch: bool) -> None:
        """A new dedup table each pass, so that every pass observes every report."""
        current[:] = [Ingestor(metrics, routes, SeenTable(1 << 16, 3600), AttributionStore(None, 20),
                               clients=sketch if with_sketch else None)]

    def record() -> object:
        return [current[0].record(b, c) for b, c in zip(batches, clients, strict=True)]

    for name, with_sketch in (("Ingestor.record without the sketch", False), ("Ingestor.record with it", True)):
        rows.append((name, per_view(record, views, repeat, lambda w=with_sketch: fresh(w))))
    print(f"{views} page views, {len(set(addresses))} client addresses, fastest of {repeat}")
    for stage, micros in rows:
        print(f"{stage:40} {micros:8.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
