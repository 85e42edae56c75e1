"""The attribution top-K: kept across restarts in per-worker files that readers merge, robust to bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfbudget.attribution import HOST_TAG, MERGED, AttributionStore, compact, extract, merge_files


def test_workers_files_are_merged_and_survive_a_restart(tmp_path: Path) -> None:
    first = AttributionStore(tmp_path, k=5)
    first.record("LCP", "/p", {"url": "https://shop.test/img/hero.jpg?v=3", "target": "img.hero"})
    first.flush()
    compact(tmp_path, k=5)  # what a restart does before the workers start
    again = AttributionStore(tmp_path, k=5)
    again.record("LCP", "/p", {"url": "https://shop.test/img/hero.jpg?v=4"})
    assert again.top("lcp.url", "/p") == [("https://shop.test/img/hero.jpg", 2)]
    assert again.top("lcp.target") == [("img.hero", 1)]


@pytest.mark.parametrize(
    "foreign",
    ['[1, 2, 3]', '{"tables": {"kind": "lcp.url"}}', '{"tables": [{"kind": "lcp.url"}, 7]}',
     '{"tables": [{"kind": "lcp.url", "route": "/p", "counts": {"x": "many"}}]}', "not json"],
)
def test_a_damaged_or_foreign_file_never_breaks_a_reader_or_the_compaction(tmp_path: Path, foreign: str) -> None:
    worker = {"tables": [{"kind": "cls.target", "route": "/p", "counts": {"div.banner": 1}}]}
    (tmp_path / "111.json").write_text(json.dumps(worker))  # another worker's file
    (tmp_path / "999999.json").write_text(foreign)
    reader = AttributionStore(tmp_path, k=5)
    assert reader.top("cls.target") == [("div.banner", 1)]
    compact(tmp_path, k=5)
    assert json.loads((tmp_path / "merged.json").read_text())["tables"][0]["counts"] == {"div.banner": 1}


def test_a_failed_write_is_retried_by_the_next_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = AttributionStore(tmp_path / "attribution", k=5)
    store.record("INP", "/p", {"interactionTarget": "#buy"})
    calls = {"n": 0}
    real_write = Path.write_bytes

    def failing_once(self: Path, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_once)
    with pytest.raises(OSError):
        store.flush()
    store.flush()  # no new report in between: the data is still written
    monkeypatch.undo()
    assert store.top("inp.target") == [("#buy", 1)]  # its own file is skipped: counted once, from memory
    assert AttributionStore(tmp_path / "attribution", k=5).top("inp.target") == [("#buy", 1)]  # others read it


@pytest.mark.parametrize(
    ("vital", "attribution", "pairs"),
    [
        ("LCP", {"url": "https://cdn.test/a.jpg?v=3#x", "target": "img.hero"},
         [("lcp.url", "https://cdn.test/a.jpg"), ("lcp.target", "img.hero")]),
        ("LCP", {"lcpEntry": {"url": "https://cdn.test/p/123/a.jpg"}, "element": "img"},  # web-vitals v3
         [("lcp.url", "https://cdn.test/p/123/a.jpg"), ("lcp.target", "img")]),
        ("LCP", {"url": "data:image/png;base64,AAAA", "target": ""}, []),
        ("INP", {"eventTarget": "#buy", "longestScript": {"entry": {"sourceURL": "https://s.test/app.js?h=1"}}},
         [("inp.target", "#buy"), ("inp.script", "https://s.test/app.js")]),
        ("INP", {"interactionTarget": "a\x00b", "longestScript": {"invoker": "BUTTON.onclick"}},
         [("inp.script", "BUTTON.onclick")]),
        ("CLS", {"largestShiftTarget": "div.banner", "largestShiftValue": 0.03}, [("cls.target", "div.banner")]),
        ("FCP", {"target": "h1"}, []),
        ("TTFB", {"url": "https://shop.test/"}, []),
    ],
)
def test_extract_takes_what_the_top_k_keeps_under_every_web_vitals_name(
    vital: str, attribution: dict[str, object], pairs: list[tuple[str, str]]
) -> None:
    assert extract(vital, attribution) == pairs


def test_a_repeated_value_is_counted_each_time_it_is_reported() -> None:
    store = AttributionStore(None, k=5)
    for version in range(3):
        store.record("LCP", "/p", {"url": f"https://cdn.test/hero.jpg?v={version}"})
    store.record("FCP", "/p", {"url": "https://cdn.test/hero.jpg"})
    assert store.top("lcp.url", "/p") == [("https://cdn.test/hero.jpg", 3)]


def _past_worker_file(directory: Path, pid: int, counts: dict[str, int], host: str | None = None) -> Path:
    """A file as a worker of this host (or of `host`) that is gone left it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{pid}-{host or HOST_TAG}-deadbeef.json"
    path.write_text(json.dumps({"written": time.time(), "tables": [
        {"kind": "lcp.url", "route": "/p", "counts": counts}]}))
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_worker_merges_the_files_of_past_workers_keeping_their_counts(tmp_path: Path) -> None:
    gone = [_past_worker_file(tmp_path, _dead_pid(), {"/hero.jpg": 3}),
            _past_worker_file(tmp_path, _dead_pid(), {"/hero.jpg": 2, "/logo.png": 1})]
    live = AttributionStore(tmp_path, k=5)
    live.record("LCP", "/p", {"url": "/hero.jpg"})
    live.flush()
    sibling = AttributionStore(tmp_path, k=5)  # another live worker: its file is fresh and its process alive
    sibling.record("LCP", "/p", {"url": "/logo.png"})
    sibling.flush()
    before = live.top("lcp.url", "/p")
    assert live.merge_past() == 2
    assert not any(path.exists() for path in gone)
    remaining = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(remaining) == 3 and MERGED in remaining  # the two live workers' files and the merge
    assert live.top("lcp.url", "/p") == before == [("/hero.jpg", 6), ("/logo.png", 2)]
    assert sibling.top("lcp.url", "/p") == before
    assert live.merge_past() == 0  # nothing left to merge: the live files stay


def test_a_file_nobody_touched_for_a_while_is_a_past_workers_even_if_its_pid_was_reused(tmp_path: Path) -> None:
    path = _past_worker_file(tmp_path, os.getpid(), {"/hero.jpg": 4})  # this process's pid, an old file
    old = time.time() - 3600
    os.utime(path, (old, old))
    live = AttributionStore(tmp_path, k=5)
    live.flush()
    assert live.merge_past() == 1
    assert live.top("lcp.url") == [("/hero.jpg", 4)]


def test_a_reader_between_the_merge_and_the_removal_counts_a_past_file_once(tmp_path: Path) -> None:
    path = _past_worker_file(tmp_path, _dead_pid(), {"/hero.jpg": 3})
    saved = path.read_bytes()
    reader = AttributionStore(tmp_path, k=5)
    merge_files(tmp_path, 5, lambda p: True)
    path.write_bytes(saved)  # as if the merge had not removed it yet (or stopped before it did)
    assert reader.top("lcp.url") == [("/hero.jpg", 3)]
    assert merge_files(tmp_path, 5, lambda p: True) == 1  # merged already: removed, not added again
    assert not path.exists()
    assert reader.top("lcp.url") == [("/hero.jpg", 3)]


def test_the_file_of_a_worker_on_another_host_is_merged_only_once_nobody_touches_it(tmp_path: Path) -> None:
    other = _past_worker_file(tmp_path, _dead_pid(), {"/hero.jpg": 3}, host="0ther0st")  # its pid means nothing here
    live = AttributionStore(tmp_path, k=5)
    assert live.merge_past() == 0 and other.exists()
    old = time.time() - 3600
    os.utime(other, (old, old))
    assert live.merge_past() == 1 and not other.exists()
    assert live.top("lcp.url") == [("/hero.jpg", 3)]
