"""Golden files: a budgets file in, the generated text out, compared whole.

`golden/in-<case>.yaml` -> `golden/out-<case>/` holds every file the generator writes; each stage has
`golden/<stage>/in-<case>.yaml` -> `golden/<stage>/out-<case>.yaml`, the rule groups that stage builds
(Sloth's in-*/out-* integration tests). After an intended change, rewrite them and review the diff:

    PERFBUDGET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/budgets -q

Without the variable a golden file is only read, so any drift fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from perfbudget.budgets.model import Budgets, load_budgets
from perfbudget.budgets.output import dump_yaml
from perfbudget.budgets.rulefmt import RuleGroup, groups_document

GOLDEN = Path(__file__).parent / "golden"
UPDATE = "PERFBUDGET_UPDATE_GOLDEN"

Stage = Callable[[Budgets], tuple[RuleGroup, ...]]


def updating() -> bool:
    return os.environ.get(UPDATE) == "1"


def expected(path: Path, actual: str) -> str:
    """The golden text at `path`, first rewritten with `actual` when PERFBUDGET_UPDATE_GOLDEN=1."""
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        return f"<{path.relative_to(GOLDEN)} is missing: run with {UPDATE}=1>"
    return path.read_text(encoding="utf-8")


def stage_inputs(stage: str) -> list[Path]:
    """The `in-*.yaml` budgets files of one stage, in name order."""
    return sorted((GOLDEN / stage).glob("in-*.yaml"))


def run_stage(stage: Stage, source: Path) -> tuple[str, str]:
    """(what the stage builds from `source`, its golden `out-*.yaml`), both as rule-file YAML."""
    groups = stage(load_budgets(source, env={}))
    header = f"golden output for {source.name}: {UPDATE}=1 .venv/bin/pytest tests/budgets rewrites it"
    actual = dump_yaml(groups_document(groups), header)
    return actual, expected(source.with_name("out-" + source.name.removeprefix("in-")), actual)
