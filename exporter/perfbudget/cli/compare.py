"""`perfbudget compare --from V1 --to V2 [--source URL] [--metric NAME ...] [--format table|json]`: did release
V2 make the Web Vitals worse than V1? A gate for CI/CD after a canary deploy.

Per vital, both versions' p75 (interpolated in its bucket as the summary does) and good share (exact: the
good threshold is a bucket edge), and two-proportion z-tests on the bucket counts (compare/stats.py says
which and why). `--source` is a perfbudget exporter (its /metrics: counts since it started; the default is
the local exporter) or a Prometheus server (detected by /api/v1/status/buildinfo; `increase` over
`--window`). Exit 1 when a vital is significantly worse (p75 higher by more than --p75-threshold, or good
share lower by more than --good-share-threshold points, the test significant at --alpha), 2 on bad input or
when a vital has fewer than --min-samples page views in a version, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..analytics.prometheus import is_prometheus
from ..compare.render import Report, as_json, table
from ..compare.sources import SourceError, read_exporter, read_prometheus
from ..compare.stats import DEFAULT_MIN_SAMPLES, Thresholds, compare
from ..summary import parse_window
from ..vitals import VITALS
from ._common import progress

DEFAULT_SOURCE = "http://127.0.0.1:9478"
DEFAULT_WINDOW = "1h"
MAX_VERSION = 64


def _percent(text: str) -> float:
    """'5%' or '5' -> 5.0 (a relative change in percent)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage like 5% or 2.5") from None
    if not 0 <= value < 1000:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0 % to under 1000 %")
    return value


def _points(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("pt"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of percentage points like 2") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0 to 100 percentage points")
    return value


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a significance level like 0.05") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (exclusive)")
    return value


def _min_samples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of page views") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _metric(text: str) -> str:
    name = text.strip().upper()
    if name not in VITALS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a vital: {', '.join(VITALS)}")
    return name


def _version(text: str) -> str:
    if not text.strip() or len(text) > MAX_VERSION:
        raise argparse.ArgumentTypeError(f"a version is 1 to {MAX_VERSION} characters, not {text[:80]!r}")
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="version_from", required=True, type=_version, metavar="V1",
                        help="the version compared against (the one in production)")
    parser.add_argument("--to", dest="version_to", required=True, type=_version, metavar="V2",
                        help="the new version (the canary)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, metavar="URL",
                        help=f"a perfbudget exporter (its /metrics) or a Prometheus server (default {DEFAULT_SOURCE})")
    parser.add_argument("--metric", dest="metrics", action="append", type=_metric, metavar="NAME",
                        help="a vital to compare (LCP, INP, CLS, FCP, TTFB); repeat for several (default: all five)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="default table")
    parser.add_argument("--window", metavar="DURATION",
                        help=f"with a Prometheus source, the increase's range (default {DEFAULT_WINDOW}; 1m to 7d); "
                             "an exporter's /metrics counts since it started")
    parser.add_argument("--p75-threshold", type=_percent, default=5.0, metavar="PERCENT",
                        help="worse when the p75 is higher by more than this (default 5%%)")
    parser.add_argument("--good-share-threshold", type=_points, default=2.0, metavar="POINTS",
                        help="worse when the good share is lower by more than this many percentage points (default 2)")
    parser.add_argument("--alpha", type=_alpha, default=0.05, help="the tests' significance level (default 0.05)")
    parser.add_argument("--min-samples", type=_min_samples, default=DEFAULT_MIN_SAMPLES, metavar="N",
                        help=f"page views each version needs per vital (default {DEFAULT_MIN_SAMPLES}, "
                             "the budgets' min_samples default)")
    for label in ("route", "device", "site"):
        parser.add_argument(f"--{label}", metavar=label.upper(),
                            help=f"only this {label} (default: summed over every {label})")
    parser.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    if args.version_from == args.version_to:
        print(f"perfbudget compare: --from and --to are both {args.version_from!r}: name two versions",
              file=sys.stderr)
        return 2
    try:
        window = parse_window(args.window or DEFAULT_WINDOW)
    except ValueError as exc:
        print(f"perfbudget compare: --window: {exc}", file=sys.stderr)
        return 2
    vitals = [VITALS[name] for name in dict.fromkeys(args.metrics or VITALS)]
    wanted = [args.version_from, args.version_to]
    selector = {label: getattr(args, label) for label in ("route", "device", "site") if getattr(args, label)}
    thresholds = Thresholds(args.p75_threshold, args.good_share_threshold, args.alpha, args.min_samples)
    try:
        progress(f"perfbudget compare: asking {args.source} what it is")
        if is_prometheus(args.source):
            progress(f"perfbudget compare: {args.source} is Prometheus; increase over {window}s")
            counts = read_prometheus(args.source, vitals, wanted, selector, window, time.time(), progress)
            window_text: str | None = args.window or DEFAULT_WINDOW
        else:
            if args.window:
                progress("perfbudget compare: --window applies to a Prometheus source; an exporter's /metrics "
                         "counts since it started")
            counts = read_exporter(args.source, vitals, wanted, selector, progress)
            window_text = None
        comparisons = [compare(vital, counts.histograms[vital.name][args.version_from],
                               counts.histograms[vital.name][args.version_to], thresholds) for vital in vitals]
    except (SourceError, ValueError) as exc:
        print(f"perfbudget compare: {exc}", file=sys.stderr)
        return 2
    report = Report(args.version_from, args.version_to, counts.source, window_text, thresholds, comparisons, selector)
    if args.format == "json":
        sys.stdout.write(json.dumps(as_json(report), indent=2) + "\n")
    else:
        sys.stdout.write(table(report))
    for c in comparisons:
        if c.verdict == "too few samples":
            progress(f"perfbudget compare: {c.vital.name}: {c.samples_from:,.0f} page views for "
                     f"{args.version_from}, {c.samples_to:,.0f} for {args.version_to}: each version needs at least "
                     f"{args.min_samples} (--min-samples)")
    return report.exit_code
