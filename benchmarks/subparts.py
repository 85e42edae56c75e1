"""The cost of LCP subparts and INP phases on the hot path: microseconds per page view, without and with.

    .venv/bin/python benchmarks/subparts.py [--bodies 2000] [--repeat 15]

One page view is benchmarks/beacon.lua's body (five vitals with attribution, LCP's four subparts and INP's
three phases among it), through the whole of `Ingestor.record` with an attribution store, as hot_path.py's
last line measures it. "without" runs the same ingestor with no breakdown known (`ingest.BREAKDOWNS`
emptied: what the hot path did before the subparts were recorded, plus one dict lookup per report), "with"
as it is. Each figure is the fastest of `--repeat` passes over `--bodies` distinct page views, so that other
processes on a shared machine inflate it less. It prints figures; it asserts only that "with" recorded them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from hot_path import EDGES, UA, bodies, per_view
from prometheus_client import CollectorRegistry

from perfbudget import ingest
from perfbudget.attribution import AttributionStore
from perfbudget.beacons import parse
from perfbudget.config.routes import RoutesConfig
from perfbudget.dedup import SeenTable
from perfbudget.ingest import Client, Ingestor
from perfbudget.metrics import Metrics
from perfbudget.routes import RouteNormalizer, RouteTable
from perfbudget.subparts import LCP_SUBPARTS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int, default=2000, help="distinct page views per pass")
    parser.add_argument("--repeat", type=int, default=15, help="passes; the fastest is reported")
    args = parser.parse_args(argv)
    raw = bodies(args.bodies)
    batches = [parse(body, 50)[0] for body in raw]
    tmp = Path(tempfile.mkdtemp(prefix="subparts-"))
    known = dict(ingest.BREAKDOWNS)
    figures = {}
    for label, breakdowns in (("without", {}), ("with", known)):
        ingest.BREAKDOWNS = breakdowns  # type: ignore[attr-defined]
        metrics = Metrics(CollectorRegistry(), EDGES)
        routes = RouteNormalizer(RoutesConfig(), RouteTable(200, tmp / f"routes-{label}"))
        client = Client(user_agent=UA)
        current: list[Ingestor] = []
        passes = iter(range(args.repeat))

        # Each pass a fresh ingestor and dedup table (the same store), so every report is observed, not a
        # duplicate; its caches of observers fill on the first page views of the pass.
        def setup(label: str = label, metrics: Metrics = metrics, routes: RouteNormalizer = routes,
                  current: list[Ingestor] = current, passes: Iterator[int] = passes) -> None:
            seen = SeenTable(1 << 20, 3600, tmp / f"seen-{label}-{next(passes)}")
            current[:] = [Ingestor(metrics, routes, seen, AttributionStore(None, 20))]

        def run(current: list[Ingestor] = current, client: Client = client) -> None:
            record = current[0].record
            for batch in batches:
                record(batch, client)

        figures[label] = per_view(run, len(raw), args.repeat, setup)
        recorded = sum(sum(row[:-1]) for row in metrics.reader.rows(LCP_SUBPARTS).values())
        assert (recorded > 0) == bool(breakdowns), f"{label}: {recorded} LCP subpart observations"
        metrics.close()
    ingest.BREAKDOWNS = known  # type: ignore[attr-defined]
    print(f"{len(raw)} distinct page views ({len(raw[0])} bytes, 5 vitals with attribution), fastest of {args.repeat}")
    print(f"Ingestor.record without breakdowns: {figures['without']:.2f} µs per page view")
    print(f"Ingestor.record with breakdowns:    {figures['with']:.2f} µs per page view "
          f"(+{figures['with'] - figures['without']:.2f} µs: 4 subparts and 3 phases checked and observed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
