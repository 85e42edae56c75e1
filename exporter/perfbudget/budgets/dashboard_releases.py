"""The Web Vitals dashboard's releases row: each vital's p75 and good share per `version` over the dashboard's
time range, to compare releases (a canary against the one before it).

The exporter gives the vitals histograms a `version` label when releases are on (`releases:` in its config,
config/releases.py); the `$version` variable (multi-select) picks the versions. The queries read the histograms
themselves (the recording rules keep no version): `increase(...[$__range])` per version, so each figure is the
whole selected time range's. Without releases there is no label and each panel shows one row, every page load.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vitals import VITALS, Vital
from . import naming

#: The histograms' selection: the dashboard's variables, the version among them.
RELEASE_FILTER = ('route=~"$route",device=~"$device",site=~"$site",navigation_type=~"$navigation",'
                  'version=~"$version"')


@dataclass(frozen=True, slots=True)
class VersionQueries:
    """One vital's p75 and good share per version, as PromQL over the dashboard's range."""

    vital: Vital
    p75: str
    good_share: str


def version_queries(vital: Vital) -> VersionQueries:
    buckets = f"{vital.metric}_bucket{{{RELEASE_FILTER}}}"
    good = f'{vital.metric}_bucket{{{RELEASE_FILTER},le="{naming.le(vital.good)}"}}'
    count = f"{vital.metric}_count{{{RELEASE_FILTER}}}"
    return VersionQueries(
        vital,
        f"histogram_quantile(0.75, sum by (version, le) (increase({buckets}[$__range])))",
        f"sum by (version) (increase({good}[$__range]))\n/ sum by (version) (increase({count}[$__range]))",
    )


def release_queries() -> list[VersionQueries]:
    return [version_queries(vital) for vital in VITALS.values()]


DESCRIPTION = ("Per release (the exporter's `version` label, with `releases:` configured), over the dashboard's "
               "time range: pick the versions to compare in the Version variable. Without releases there is one "
               "row, every page load.")
