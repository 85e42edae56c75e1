"""Mapping page URLs from beacons onto allowed files: hostile URLs are unmappable, never exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.attribution import extract
from perfbudget.playbooks.actions.paths import url_to_file


def test_a_url_names_the_allowed_file_it_serves(site: Path) -> None:
    (site / "img").mkdir()
    (site / "img" / "a.jpg").write_bytes(b"x")
    assert url_to_file("https://shop.example/img/a.jpg?v=1", (site,)) == site / "img" / "a.jpg"
    assert url_to_file("/img/../../etc/passwd", (site,)) is None


@pytest.mark.parametrize("url", [
    "https://shop.example/img/a%00.jpg",  # a NUL byte once decoded
    "/" + "a" * 5000 + ".jpg",  # longer than any file name
    "http://[::1/a.jpg",  # a netloc urlsplit refuses
])
def test_a_url_that_names_no_possible_file_is_unmappable(site: Path, url: str) -> None:
    assert url_to_file(url, (site,)) is None


@pytest.mark.parametrize("value", ["https://shop.example/a\x00.jpg", "img\n.hero", "#main\x7f", "div\x85"])
def test_a_beacon_value_with_a_control_character_is_never_attributed(value: str) -> None:
    assert extract("LCP", {"url": value, "target": value}) == []
    assert extract("INP", {"interactionTarget": value, "longestScript": {"entry": {"sourceURL": value}}}) == []
    assert extract("CLS", {"largestShiftTarget": value}) == []
