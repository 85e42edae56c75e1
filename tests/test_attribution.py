"""The attribution top-K: kept across restarts in per-worker files that readers merge, robust to bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfbudget.attribution import AttributionStore, compact, extract


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
    real_write = Path.write_text

    def failing_once(self: Path, text: str, *args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        return real_write(self, text)

    monkeypatch.setattr(Path, "write_text", failing_once)
    with pytest.raises(OSError):
        store.flush()
    store.flush()  # no new report in between: the data is still written
    monkeypatch.undo()
    assert AttributionStore(tmp_path / "attribution", k=5).top("inp.target") == []  # its own file is skipped...
    other = AttributionStore(tmp_path / "attribution", k=5)
    other._file = lambda: tmp_path / "attribution" / "reader.json"  # type: ignore[method-assign]
    assert other.top("inp.target") == [("#buy", 1)]  # ...but another process reads it


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
