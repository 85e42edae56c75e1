"""`perfbudget report --range 30d [--source URL] --format html|markdown|json [--output FILE]`: the analytics
over a range as a self-contained HTML page with charts, Markdown or JSON.

`--source` is a perfbudget exporter (its `GET /api/performance-analytics`, the default being the configured
listen address), a Prometheus server (detected by its /api/v1/status/buildinfo; the report is then built
here from PromQL over the perfbudget and HTTP server histograms, with this config's budgets and playbooks),
or a file written earlier with `--format json` (rendered again, say as HTML, with the same numbers). Without
it, a range past `metrics_retention_days` is read from `prometheus.url` when one is configured.
Progress goes to stderr; the report to `--output` or stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..analytics import Sources, build, parse_range
from ..analytics import html as html_report
from ..analytics import markdown as markdown_report
from ..analytics.prometheus import PrometheusClient, PrometheusError, PrometheusService, PrometheusVitals, is_prometheus
from ..budgets.model import load_budgets
from ..config import load_config
from ..config.env import API_TOKEN_ENV
from ..config.errors import ConfigError
from ..playbooks import load_playbooks
from ._common import add_config_flag, config_path, progress

FORMATS = ("html", "markdown", "json")
#: Prometheus keeps what its own retention says: a range is only bounded by this.
PROMETHEUS_MAX_DAYS = 3650


def configure(report: argparse.ArgumentParser) -> None:
    add_config_flag(report)
    report.add_argument("--range", dest="time_range", default="30d", metavar="RANGE",
                        help="how far back: 1h, 24h, 7d, 30d (default 30d)")
    report.add_argument("--source", metavar="URL",
                        help="a perfbudget exporter, a Prometheus server or an earlier JSON report (default: the "
                             "configured listen address; prometheus.url for a range past metrics_retention_days)")
    report.add_argument("--format", choices=FORMATS, default="html", help="default html")
    report.add_argument("--output", type=Path, metavar="FILE", help="where to write the report (default: stdout)")
    report.add_argument("--job", metavar="JOB",
                        help="with a Prometheus source, the job whose HTTP server metrics and `up` the service section "
                             "reads (default: the budgets' service latency selector, else every job)")
    report.set_defaults(func=report_command)


def _from_perfbudget(url: str, time_range: str) -> dict[str, Any]:
    address = f"{url.rstrip('/')}/api/performance-analytics?" + urllib.parse.urlencode({"timeRange": time_range})
    headers = {"Accept": "application/json"}
    token = os.environ.get(API_TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    progress(f"perfbudget report: GET {address}")
    try:
        with urllib.request.urlopen(urllib.request.Request(address, headers=headers), timeout=300) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error")
        except ValueError:
            message = exc.reason
        raise RuntimeError(f"{address}: HTTP {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RuntimeError(f"{address}: {exc} (is a perfbudget exporter or Prometheus listening there?)") from None
    data: dict[str, Any] = body["data"]
    return data


def _from_prometheus(url: str, time_range: str, args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(config_path(args))
    budgets = load_budgets(config.budgets_file)
    span = parse_range(time_range, PROMETHEUS_MAX_DAYS, field="--range")
    now = time.time()
    client = PrometheusClient(url, progress)
    latency = budgets.service.latency
    selector = {"job": args.job} if args.job else dict(latency.selector) if latency is not None else {}
    sources = Sources(
        PrometheusVitals(client, now), budgets, load_playbooks(config), diagnose=None, preview=None,
        service=PrometheusService(client, selector, now), outcomes=None,
        why={"playbookOutcomes": "a Prometheus source has the outcome counters, not the runs: the before and after "
                                 "of each execute are in the exporter's audit log (--source <perfbudget URL>)",
             "recommendations.blamed": "what the beacons blame is kept by the exporter, not in Prometheus",
             "recommendations.previewedSavings": "dry-run previews are in the exporter's audit log, not in Prometheus"},
        retention_days=PROMETHEUS_MAX_DAYS, source=f"prometheus {url}")
    progress(f"perfbudget report: {url} is Prometheus; {span.points} steps of {span.step} s over {span.text}")
    data = build(sources, span, now)
    progress(f"perfbudget report: {client.queries} queries")
    return data


def _default_source(args: argparse.Namespace) -> str:
    """The configured exporter; Prometheus (`prometheus.url`) for a range past the exporter's retention."""
    config = load_config(config_path(args))
    if config.prometheus.url:
        span = parse_range(args.time_range, PROMETHEUS_MAX_DAYS, field="--range")
        if span.seconds > config.metrics_retention_days * 86400:
            progress(f"perfbudget report: {span.text} is past the exporter's {config.metrics_retention_days}d "
                     f"(metrics_retention_days): reading prometheus.url")
            return config.prometheus.url
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "") else config.server.host
    return f"http://{host if ':' not in host else f'[{host}]'}:{config.server.port}"


def _saved(path: Path) -> dict[str, Any]:
    """A report written earlier with --format json (rendered again in another format)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path}: not a JSON report: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict) or "series" not in body["data"]:
        raise RuntimeError(f"{path}: not a JSON report of perfbudget report --format json (no data.series)")
    data: dict[str, Any] = body["data"]
    return data


def report_command(args: argparse.Namespace) -> int:
    try:
        source = args.source or _default_source(args)
        saved = Path(source.removeprefix("file://"))
        if "://" not in source.removeprefix("file://") and saved.is_file():
            progress(f"perfbudget report: rendering the JSON report {saved}")
            data = _saved(saved)
        else:
            progress(f"perfbudget report: asking {source} what it is")
            if is_prometheus(source):
                data = _from_prometheus(source, args.time_range, args)
            else:
                data = _from_perfbudget(source, args.time_range)
    except (ConfigError, ValueError, RuntimeError, PrometheusError) as exc:
        print(f"perfbudget report: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = json.dumps({"success": True, "data": data}, indent=2) + "\n"
    elif args.format == "markdown":
        text = markdown_report.render(data)
    else:
        text = html_report.render(data)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        progress(f"perfbudget report: wrote {args.output} ({len(text.encode()):,} bytes, {args.format})")
    return 0
