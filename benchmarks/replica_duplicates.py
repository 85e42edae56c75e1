"""Duplicates across replicas: how often a page view's reports repeat in a later beacon, what that makes
behind a load balancer, and what a dedup shared by the replicas would cost.

    .venv/bin/python benchmarks/replica_duplicates.py [--visits 40] [--replicas 3] [--seed 1]

Real headless Chromium (Debian's, through Playwright), the real web-vitals attribution build and beacon.js as
the exporter serves it, on a single-page site of the tests (tests/integration/site_spa). Each visit loads a
product page, then switches away from the tab and back 0 to 3 times (seeded), with layout shifts and slow
clicks between, then leaves. web-vitals reports CLS and INP again with the same id on a later hide when they
grew, and beacon.js sends what is new at each hide: those repeats are what a dedup must catch. Headless
Chromium never hides a tab by itself, so a tab switch is made by setting `document.visibilityState` and
dispatching `visibilitychange`, the event web-vitals and beacon.js listen to; everything after it is the
libraries' own code.

It prints the reports and beacons per page view, the share of reports that repeat an (id, name) sent in an
earlier beacon, and how many of those reach another replica than the first report did behind `--replicas`:
each beacon of a page view to the next replica (the worst case, simulated over every starting offset), each
beacon to any replica (a busy round-robin balancer interleaving clients: (replicas - 1) / replicas of the
repeats), and balanced by client address (a page view's beacons come from one address, so one replica:
none). Then the cost of each way to catch them: the shared-memory dedup one replica has
(`dedup.SeenTable.first_sightings`, per beacon), and a dedup shared by the replicas in PostgreSQL (one
`INSERT ... ON CONFLICT DO NOTHING RETURNING` round trip per beacon on a local server started for it,
tests/integration/postgres.py). Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.browser import chromium  # noqa: E402
from tests.integration.site_spa import collector, spa_site  # noqa: E402
from tests.integration.stack import exporter  # noqa: E402

from perfbudget.dedup import SeenTable, fingerprint  # noqa: E402

SWITCH = """(function (state) {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: function () { return state; }});
  Object.defineProperty(document, 'hidden', {configurable: true, get: function () { return state === 'hidden'; }});
  document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
})"""


def visit(browser: Any, site: str, switches: int, rng: random.Random) -> None:
    page = browser.new_page()
    page.goto(f"{site}/products/red-shoes", wait_until="load")
    page.wait_for_timeout(400)
    for _ in range(switches):
        page.evaluate(f"shift({rng.randrange(20, 120)})")
        page.click("#slow")
        page.wait_for_timeout(rng.randrange(150, 600))
        page.evaluate(f"{SWITCH}('hidden')")
        page.wait_for_timeout(100)
        page.evaluate(f"{SWITCH}('visible')")
        page.wait_for_timeout(200)
    page.evaluate(f"shift({rng.randrange(20, 120)})")
    page.click("#slow")
    page.wait_for_timeout(300)
    page.goto("about:blank")  # the real hide of the leave
    page.wait_for_timeout(300)
    page.close()


def crossing(beacons: list[list[tuple[str, str]]], replicas: int) -> tuple[int, int]:
    """(repeats, repeats reaching another replica than the first report), round-robin over `replicas` from
    every starting offset (summed over offsets, so divide by `replicas` for the mean)."""
    repeats = crossed = 0
    for offset in range(replicas):
        first: dict[tuple[str, str], int] = {}
        for index, reports in enumerate(beacons):
            replica = (offset + index) % replicas
            for key in reports:
                if key in first:
                    repeats += 1
                    crossed += first[key] != replica
                else:
                    first[key] = replica
    return repeats, crossed


def shared_dedup_ms(beacon_sizes: list[int], rounds: int) -> tuple[float, float]:
    """Median and p99 ms of one beacon's INSERT ... ON CONFLICT round trip on a local PostgreSQL."""
    import psycopg
    from tests.integration.postgres import postgres_server

    times: list[float] = []
    with postgres_server() as pg, psycopg.connect(pg.create_database("dedup"), autocommit=True) as db:
        db.execute("CREATE TABLE seen (fp bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        rng = random.Random(3)
        for _ in range(rounds):
            size = rng.choice(beacon_sizes)
            fps = [rng.getrandbits(63) for _ in range(size)]
            start = time.perf_counter()
            db.execute("INSERT INTO seen (fp) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING RETURNING fp",
                       (fps,)).fetchall()
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def local_dedup_us(beacon_sizes: list[int], rounds: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        table = SeenTable(1 << 20, 86400, Path(tmp) / "seen")
        rng = random.Random(4)
        batches = [[fingerprint(f"v6-{rng.getrandbits(48)}", "CLS") for _ in range(rng.choice(beacon_sizes))]
                   for _ in range(rounds)]
        start = time.perf_counter()
        for batch in batches:
            table.first_sightings(batch)
        return (time.perf_counter() - start) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=40)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    plans = [rng.choice((0, 0, 1, 1, 2, 3)) for _ in range(args.visits)]  # tab switches per visit
    with tempfile.TemporaryDirectory() as tmp, exporter(Path(tmp), workers=1) as srv, \
            collector() as (endpoint, received), spa_site(srv.url, f'data-endpoint="{endpoint}"') as site, \
            chromium() as browser:
        per_visit: list[list[list[tuple[str, str]]]] = []
        for switches in plans:
            before = len(received)
            visit(browser, site, switches, rng)
            time.sleep(0.2)
            per_visit.append([[(r["id"], r["name"]) for r in request.body] for request in received[before:]])
    reports = sum(len(b) for beacons in per_visit for b in beacons)
    beacons = sum(len(beacons) for beacons in per_visit)
    repeats = crossed = 0
    for visit_beacons in per_visit:
        r, c = crossing(visit_beacons, args.replicas)
        repeats += r
        crossed += c
    repeats_mean, crossed_mean = repeats / args.replicas, crossed / args.replicas
    by_switches = Counter(plans)
    print(f"{args.visits} page views in headless Chromium (tab switches per view: "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(by_switches.items()))}), beacon.js as served")
    print(f"  reports {reports}, beacons {beacons} ({beacons / args.visits:.2f} a page view)")
    print(f"  reports repeating an (id, name) of an earlier beacon: {repeats_mean:.0f} "
          f"({repeats_mean / reports:.1%} of reports)")
    print(f"  counted twice behind {args.replicas} replicas, a page view's beacons to consecutive replicas (the "
          f"worst case): {crossed_mean:.1f} ({crossed_mean / reports:.1%} of reports)")
    spread = repeats_mean * (args.replicas - 1) / args.replicas
    print(f"  counted twice behind {args.replicas} replicas, each beacon to any replica (a busy balancer "
          f"interleaving clients): {spread:.1f} ({spread / reports:.1%} of reports)")
    print("  counted twice behind the replicas, balanced by client address: 0 (one page view, one address)")
    sizes = [len(b) for beacons in per_visit for b in beacons] or [5]
    local = local_dedup_us(sizes, 20000)
    median, p99 = shared_dedup_ms(sizes, 2000)
    print(f"dedup cost per beacon: shared memory (one replica's) {local:.1f} us; shared by the replicas in "
          f"PostgreSQL {median:.2f} ms median, {p99:.2f} ms p99 (local server, one round trip each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
