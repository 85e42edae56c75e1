"""The counts of a summary filtered by site, version or navigation (`GET /api/web-vitals?site=&version=&navigation=`).

The summary's minute frames (snapshots.py) hold the vitals per route (and per device for the vitals a device
budget names), not per site or version, so a filtered summary is answered from the live store alone: every
worker's slabs read with a label match (store/read.py), that is the counts since this run of the exporter
started, whatever the window. That is what a release comparison wants (a version's page loads since it was
deployed, as `perfbudget compare` reads /metrics), and it costs nothing per snapshot: putting the site in
the frames' route keys would multiply the frames' rows by the sites + 1.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from itertools import accumulate
from operator import add
from typing import Any, Protocol

from .beacons import SOFT_NAVIGATION_TYPES
from .store import Labels
from .vitals import VITALS

#: A summary's label match (`site`, `version`, `navigation`), None for none.
Filter = Mapping[str, str] | None
#: The filter key for soft or hard navigations, and its values: `soft` is the navigation_type label's
#: soft-navigation (a single-page app's route change, web-vitals' reportSoftNavs), `hard` every other type
#: (a document load, a reload, a back-forward or bfcache restore, a prerender).
NAVIGATION = "navigation"
NAVIGATIONS = ("soft", "hard")


class LabelSource(Protocol):
    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, list[float]]: ...


def matched_counts(reader: LabelSource, match: Mapping[str, str], route: str | None,
                   device_vitals: Collection[str], device_key: Callable[[str, str], str]) -> dict[str, list[float]]:
    """Per vital, the cumulative bucket counts of the series whose labels match `match` (and `route` unless
    None), summed over the other labels; for `device_vitals` also per device under `device_key`. The
    `navigation` key matches the navigation_type label: soft-navigation, or (hard) all but it."""
    wanted = dict(match)
    if route is not None:
        wanted["route"] = route
    navigation = wanted.pop(NAVIGATION, None)
    if navigation is None:
        return _matched(reader, wanted, device_vitals, device_key)
    soft = _matched(reader, {**wanted, "navigation_type": SOFT_NAVIGATION_TYPES[0]}, device_vitals, device_key)
    if navigation == "soft":
        return soft
    everything = _matched(reader, wanted, device_vitals, device_key)
    return {key: [a - b for a, b in zip(counts, soft[key], strict=True)] if key in soft else counts
            for key, counts in everything.items()}


def _matched(reader: LabelSource, wanted: Mapping[str, str], device_vitals: Collection[str],
             device_key: Callable[[str, str], str]) -> dict[str, list[float]]:
    totals: dict[str, list[float]] = {}
    for vital in VITALS.values():
        for labels, row in reader.rows(vital.metric, wanted).items():
            counts = row[:-1]  # the sum of the observations dropped
            keys = [vital.name]
            if vital.name in device_vitals:
                keys.append(device_key(vital.name, labels[1]))
            for key in keys:
                acc = totals.get(key)
                totals[key] = counts if acc is None else list(map(add, acc, counts))
    return {key: [float(c) for c in accumulate(counts)] for key, counts in totals.items()}


def filter_key(match: Mapping[str, str] | None) -> str:
    """What a filter adds to the answer cache's key ('' for none)."""
    return f"|{sorted(match.items())!r}" if match else ""


def filter_view(match: Mapping[str, str] | None) -> dict[str, Any]:
    """The answer's `filter` (nothing without one): the labels matched and what the counts cover."""
    if not match:
        return {}
    return {"filter": {**match, "counts": "since the exporter started (a filtered answer is read from the live "
                                         "store, not the minute frames: the window does not apply)"}}
