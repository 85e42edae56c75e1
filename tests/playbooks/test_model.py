"""Loading playbooks: the bundled set, overrides by id, and a table of bad files with their exact errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.config import Config, ConfigError
from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.model import bundled_directory, load_playbooks

from .conftest import EchoKind, playbook

BUNDLED = {"optimize-images", "render-blocking-resources", "reduce-js-execution", "layout-stability",
           "server-response-caching", "api-latency", "error-rate-burn", "cpu-saturation", "memory-pressure",
           "disk-pressure", "beacons-stopped"}


def _action(index: int, **changes: Any) -> dict[str, Any]:
    action = dict(playbook()["actions"][index])
    action.update(changes)
    return action


def _actions(index: int, **changes: Any) -> list[dict[str, Any]]:
    actions = [dict(a) for a in playbook()["actions"]]
    actions[index] = _action(index, **changes)
    return actions


def _without(key: str) -> dict[str, Any]:
    book = playbook()
    del book[key]
    return book


SRC = "BOOKS/test-images.yaml"

BAD_FILES: list[tuple[str, dict[str, Any], str]] = [
    ("risk not one of three", playbook(actions=_actions(2, risk="unsafe")),
     f"{SRC}: actions[2].risk: 'unsafe': is not one of safe, moderate, high"),
    ("unknown kind", playbook(actions=_actions(0, kind="teleport")),
     f"{SRC}: actions[0].kind: 'teleport': is not one of KNOWN"),
    ("unknown action key", playbook(actions=_actions(1, retries=3)),
     f"{SRC}: actions[1].retries: 3: unknown key"),
    ("unknown top-level key", playbook(owner="web"), f"{SRC}: owner: 'web': unknown key"),
    ("missing id", _without("id"), f"{SRC}: id: required key is missing"),
    ("missing actions", _without("actions"), f"{SRC}: actions: required key is missing"),
    ("no actions", playbook(actions=[]),
     f"{SRC}: actions: []: must have at least 1 item"),
    ("bad id", playbook(id="Optimize Images"),
     f"{SRC}: id: 'Optimize Images': must match the pattern ^[a-z0-9][a-z0-9-]{{0,62}}$"),
    ("impact not a level", playbook(impact="huge"), f"{SRC}: impact: 'huge': is not one of low, medium, high"),
    ("automated not a bool", playbook(actions=_actions(0, automated="sometimes")),
     f"{SRC}: actions[0].automated: 'sometimes': must be true or false"),
    ("bad matcher", playbook(match=['metric=~"("']),
     f"{SRC}: match: ['metric=~\"(\"']: [0]: 'metric=~\"(\"' regex '(' does not compile: missing ), "
     "unterminated subpattern at position 0"),
    ("bad matcher in an alternative", playbook(match=[['metric="LCP"'], ['cause=~"("']]),
     f"{SRC}: match: [['metric=\"LCP\"'], ['cause=~\"(\"']]: [1][0]: 'cause=~\"(\"' regex '(' does not compile: "
     "missing ), unterminated subpattern at position 0"),
    ("an empty alternative", playbook(match=[['metric="LCP"'], []]),
     f"{SRC}: match: [['metric=\"LCP\"'], []]: [1]: [] is not a list of matchers: a match of alternatives is a "
     "list of lists, each with at least one matcher"),
    ("matchers and alternatives mixed", playbook(match=['metric="LCP"', ['cause="x"']]),
     f"{SRC}: match: ['metric=\"LCP\"', ['cause=\"x\"']]: [0]: 'metric=\"LCP\"' is not a list of matchers: a "
     "match of alternatives is a list of lists, each with at least one matcher"),
    ("bad metric name", playbook(metric=["LCP", "p75 of LCP"]),
     f"{SRC}: metric: ['LCP', 'p75 of LCP']: 'p75 of LCP' is not a metric name like LCP or api_latency"),
    ("unknown parameter", playbook(actions=_actions(1, params={"note": "x", "qualty": 80})),
     f"{SRC}: actions[1].params.qualty: 80: unknown key"),
    ("parameter out of range", playbook(actions=_actions(0, params={"bytes_before": -1})),
     f"{SRC}: actions[0].params.bytes_before: -1: must be >= 0"),
    ("duplicate action ids", playbook(actions=_actions(1, id="safe-step")),
     f"{SRC}: actions[1].id: 'safe-step': already used by actions[0]"),
]


@pytest.mark.parametrize(("case", "book", "error"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_playbook_file_is_refused_with_a_precise_error(
    make_config: Callable[..., Config], echo: EchoKind, tmp_path: Path, case: str, book: dict[str, Any], error: str
) -> None:
    directory = tmp_path / "books"
    directory.mkdir()
    (directory / "test-images.yaml").write_text(yaml.safe_dump(book, sort_keys=False))
    config = make_config(playbooks={"directory": str(directory)})
    with pytest.raises(ConfigError) as caught:
        load_playbooks(config)
    expected = error.replace("BOOKS", str(directory)).replace("KNOWN", ", ".join(sorted(KINDS)))
    assert caught.value.errors == [expected]


def test_the_valid_test_playbook_loads_with_its_parameters_parsed(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    books = load_playbooks(make_config(playbooks={"directory": str(book_dir)}))
    book = books["test-images"]
    assert book.source == f"{book_dir}/test-images.yaml"
    assert [p.model_dump()["note"] for p in book.params] == ["safe step", "moderate step", "manual step"]
    matched = books.matching({"alertname": "WebVitalsBudgetExceeded", "metric": "LCP"})
    assert [b.id for b in matched] == ["optimize-images", "test-images"]
    assert [b.id for b in books.matching({"alertname": "Other", "metric": "LCP"})] == ["optimize-images"]


def test_every_error_of_every_file_is_reported_at_once(
    make_config: Callable[..., Config], echo: EchoKind, tmp_path: Path
) -> None:
    directory = tmp_path / "books"
    directory.mkdir()
    (directory / "a.yaml").write_text(yaml.safe_dump(playbook(id="a", impact="huge")))
    (directory / "b.yml").write_text(yaml.safe_dump(playbook(id="b", effort="none")))
    (directory / "c.yaml").write_text("id: [unclosed")
    (directory / "notes.txt").write_text("not a playbook")
    with pytest.raises(ConfigError) as caught:
        load_playbooks(make_config(playbooks={"directory": str(directory)}))
    assert caught.value.errors == [
        f"{directory}/a.yaml: impact: 'huge': is not one of low, medium, high",
        f"{directory}/b.yml: effort: 'none': is not one of low, medium, high",
        f"{directory / 'c.yaml'}:1:14: invalid YAML: expected ',' or ']', but got '<stream end>'",
    ]


def test_two_files_with_one_id_are_an_error(make_config: Callable[..., Config], echo: EchoKind, tmp_path: Path) -> None:
    directory = tmp_path / "books"
    directory.mkdir()
    (directory / "a.yaml").write_text(yaml.safe_dump(playbook()))
    (directory / "b.yaml").write_text(yaml.safe_dump(playbook()))
    with pytest.raises(ConfigError) as caught:
        load_playbooks(make_config(playbooks={"directory": str(directory)}))
    assert caught.value.errors == [f"{directory}/b.yaml: id: 'test-images': already used by {directory}/a.yaml"]


def test_a_playbook_in_the_directory_replaces_the_bundled_one_with_its_id(
    make_config: Callable[..., Config], echo: EchoKind, tmp_path: Path
) -> None:
    directory = tmp_path / "books"
    directory.mkdir()
    (directory / "mine.yaml").write_text(yaml.safe_dump(playbook(id="optimize-images", name="Ours")))
    books = load_playbooks(make_config(playbooks={"directory": str(directory)}))
    assert books["optimize-images"].spec.name == "Ours"
    assert set(books) == BUNDLED


def test_an_execute_allowlist_naming_no_playbook_is_an_error(
    make_config: Callable[..., Config], echo: EchoKind
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_playbooks(make_config(playbooks={"execute": ["optimise-images"]}))
    assert caught.value.errors[0].startswith("config: playbooks.execute: 'optimise-images': no such playbook (known: ")


def test_a_missing_playbook_directory_is_an_error(make_config: Callable[..., Config], echo: EchoKind,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_playbooks(make_config(playbooks={"directory": str(tmp_path / "nope")}))
    assert caught.value.errors == [f"{tmp_path / 'nope'}: playbook directory does not exist or is not a directory"]


def test_the_bundled_playbooks_come_from_the_checkout_or_the_wheel() -> None:
    directory = bundled_directory()
    assert {p.stem for p in directory.glob("*.yaml")} == BUNDLED


def test_bundled_playbooks_load_with_the_real_kinds(make_config: Callable[..., Config]) -> None:
    """No stand-ins: every bundled action's kind is installed and its parameters are valid."""
    books = load_playbooks(make_config())
    assert set(books) == BUNDLED
    by_metric = {m for b in books.values() for m in b.spec.metric}
    assert {"LCP", "INP", "CLS", "FCP", "TTFB", "api_latency", "error_rate", "cpu", "memory"} <= by_metric
    for book in books.values():
        assert all(a.kind in KINDS for a in book.spec.actions)
