"""The playbook loader under hostile files: every input loads whole or raises ConfigError with precise lines.

`perfbudget check`, `serve` and `POST /-/reload` all go through `load_playbooks`; an exception other than
ConfigError there would be a crash at start or a 500 on reload instead of a list of what to fix. Each error
line names the file (and the YAML line and column, or the key path in the playbook).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perfbudget.config import Config, ConfigError
from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.model import Playbooks, load_playbooks

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)

VALID: dict[str, Any] = {
    "id": "fuzzed",
    "name": "Fuzzed",
    "metric": ["LCP"],
    "category": "images",
    "impact": "high",
    "effort": "low",
    "description": "A playbook under test.",
    "expectedImprovement": "LCP -10%",
    "match": ['metric=~"LCP"'],
    "actions": [
        {"id": "convert", "description": "convert", "kind": "images", "automated": True, "risk": "safe",
         "params": {"min_bytes": 1000}},
        {"id": "by-hand", "description": "by hand", "kind": "manual", "automated": False, "risk": "moderate",
         "params": {"steps": ["do it"]}},
    ],
}
TOP_KEYS = [k for k in VALID if k != "actions"]
ACTION_KEYS = ["id", "description", "kind", "automated", "risk"]


@pytest.fixture
def books(tmp_path: Path) -> Path:
    directory = tmp_path / "books"
    directory.mkdir()
    return directory


@pytest.fixture
def config(make_config: Callable[..., Config], books: Path) -> Config:
    return make_config(playbooks={"directory": str(books)})


def _clear(directory: Path) -> None:
    for path in directory.iterdir():
        path.unlink()


def _load(config: Config) -> tuple[Playbooks | None, list[str]]:
    """The playbooks or the errors; any other exception fails the test."""
    try:
        return load_playbooks(config), []
    except ConfigError as exc:
        assert exc.errors, "a ConfigError must list at least one error"
        return None, exc.errors


def _assert_precise(errors: list[str], directory: Path, names: list[str]) -> None:
    """Every line names one of our files, then a YAML position or a key path, then what is wrong."""
    prefixes = [re.escape(f"{directory}/{name}") for name in names]
    shape = re.compile(rf"^({'|'.join(prefixes)})(:\d+:\d+)?: .+", re.DOTALL)
    for line in errors:
        assert shape.match(line), f"imprecise error line: {line!r}"


@FUZZ
@given(data=st.binary(max_size=1024))
@example(data=b"[" * 5000)  # nesting deeper than the YAML parser's recursion
@example(data=b"{a: " * 3000)
@example(data=b"!!python/object/apply:os.system ['touch /tmp/perfbudget-yaml-pwned']")
@example(data=b"a: &a [*a]\n")
@example(data=b"\xff\xfe not utf-8")
@example(data=b"- just\n- a list\n")
@example(data=b"? [a, b]\n: unhashable key\n")
@example(data=b"id: 2025-01-01\n")
def test_no_bytes_in_a_playbook_file_crash_the_loader(config: Config, books: Path, data: bytes) -> None:
    _clear(books)
    (books / "fuzzed.yaml").write_bytes(data)
    loaded, errors = _load(config)
    if loaded is None:
        _assert_precise(errors, books, ["fuzzed.yaml"])
    assert not Path("/tmp/perfbudget-yaml-pwned").exists()


@FUZZ
@given(document=json_values | st.dictionaries(st.sampled_from([*VALID, "extra"]), json_values, max_size=12))
def test_no_yaml_document_crashes_the_loader(config: Config, books: Path, document: Any) -> None:
    _clear(books)
    (books / "doc.yml").write_text(yaml.safe_dump(document))
    loaded, errors = _load(config)
    if loaded is None:
        _assert_precise(errors, books, ["doc.yml"])


def _params(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = list(KINDS[kind].Params.model_fields)
    return st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values, max_size=4)


mutations = st.one_of(
    st.tuples(st.sampled_from(TOP_KEYS), json_values).map(lambda t: ((t[0],), t[1])),
    st.tuples(st.integers(0, 1), st.sampled_from(ACTION_KEYS), json_values).map(
        lambda t: (("actions", t[0], t[1]), t[2])),
    st.tuples(st.integers(0, 1), st.sampled_from(sorted(KINDS))).flatmap(
        lambda t: _params(t[1]).map(lambda p: (("actions", t[0], "kind+params"), (t[1], p)))),
)


def _path_text(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@FUZZ
@given(mutation=mutations)
def test_a_bad_field_is_named_by_its_key_path(config: Config, books: Path, mutation: tuple[Any, Any]) -> None:
    path, value = mutation
    book = copy.deepcopy(VALID)
    if path[-1] == "kind+params":
        kind, params = value
        book["actions"][path[1]].update(kind=kind, params=params)
        named = ("actions", path[1], "params")
    else:
        node = book
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        named = path
    _clear(books)
    (books / "mutated.yaml").write_text(yaml.safe_dump(book))
    loaded, errors = _load(config)
    if loaded is None:
        _assert_precise(errors, books, ["mutated.yaml"])
        where = f"{books}/mutated.yaml: {_path_text(named)}"
        # The error names the field we broke (or, when `actions` itself broke, the list or the action).
        assert any(line.startswith(where) or line.startswith(f"{books}/mutated.yaml: actions") for line in errors), (
            where, errors)
    else:
        assert "fuzzed" in loaded


@FUZZ
@given(names=st.lists(st.from_regex(r"[a-z0-9_.-]{1,12}\.ya?ml", fullmatch=True), min_size=2, max_size=4,
                      unique=True),
       ids=st.lists(st.sampled_from(["fuzzed", "other", "optimize-images"]), min_size=4, max_size=4))
def test_several_files_are_loaded_whole_or_every_error_is_named(
    config: Config, books: Path, names: list[str], ids: list[str]
) -> None:
    _clear(books)
    for name, book_id in zip(names, ids, strict=False):
        (books / name).write_text(yaml.safe_dump({**VALID, "id": book_id}))
    loaded, errors = _load(config)
    distinct = len({book_id for book_id in ids[: len(names)]}) == len(names)
    if distinct:
        assert loaded is not None, errors
    else:
        assert loaded is None
        _assert_precise(errors, books, names)
        assert any(": id: " in line and "already used by" in line for line in errors)
