"""The chain: load and validate the budgets -> rule stages -> rule tests -> Alertmanager -> dashboards -> files.

`generate()` builds every file in memory first (deploy/kubernetes/ last, from the others); `write()` then
replaces them all, and `diff()` says which committed files differ from what would be written
(`perfbudget generate --check`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from . import naming
from .alertmanager import alertmanager_config
from .dashboards import dashboard_provisioning, dashboards, datasource_provisioning
from .kubernetes import kubernetes_files
from .model import ENV_OVERRIDES, Budgets, bundled_budgets_path, load_budgets
from .output import GeneratedFile, dump_json, dump_yaml
from .overrides import Overrides, apply_overrides, read_overrides
from .rule_tests import promtool_test_file
from .rulefmt import RuleFile
from .stages import resources, service, vitals_alerts, vitals_causes, vitals_recording, vitals_slo

BUNDLED_SOURCE = "perfbudget/budgets/budgets.yaml (bundled)"


def source_name(path: Path | None) -> str:
    """How the header names the budgets file: stable for the bundled one, as given otherwise."""
    if path is None or path.resolve() == bundled_budgets_path().resolve():
        return BUNDLED_SOURCE
    return path.as_posix()


def rule_files(budgets: Budgets) -> list[RuleFile]:
    """The rule stages, called in order (see `stages`), their groups gathered into the rule files."""
    return [
        RuleFile.from_stages("web-vitals", vitals_recording.rule_groups(budgets), vitals_causes.rule_groups(budgets),
                             vitals_alerts.rule_groups(budgets), vitals_slo.rule_groups(budgets)),
        RuleFile.from_stages("service", service.rule_groups(budgets)),
        RuleFile.from_stages("resources", resources.rule_groups(budgets)),
    ]


def generate_files(budgets: Budgets, header: str) -> list[GeneratedFile]:
    """Every generated file for these budgets, each with `header`."""
    files: list[GeneratedFile] = []
    for rule_file in rule_files(budgets):
        files.append(GeneratedFile(f"{naming.RULES_DIR}/{rule_file.stem}.yml", dump_yaml(rule_file.to_dict(), header)))
        files.append(GeneratedFile(f"{naming.RULE_TESTS_DIR}/{rule_file.stem}.yml",
                                   dump_yaml(promtool_test_file(budgets, rule_file), header)))
    files.append(GeneratedFile(naming.ALERTMANAGER_FILE, dump_yaml(alertmanager_config(budgets), header)))
    for stem, dashboard in dashboards(budgets, header).items():
        files.append(GeneratedFile(f"{naming.DASHBOARDS_DIR}/{stem}.json", dump_json(dashboard)))
    files.append(GeneratedFile(naming.DATASOURCES_FILE, dump_yaml(datasource_provisioning(), header)))
    files.append(GeneratedFile(naming.DASHBOARD_PROVIDER_FILE, dump_yaml(dashboard_provisioning(), header)))
    return files


def generate(path: Path | None = None, env: Mapping[str, str] | None = None,
             thresholds: Path | None = None) -> list[GeneratedFile]:
    """Load the budgets (the bundled file when `path` is None, with ALERT_THRESHOLD_* from `env`), apply
    the service thresholds set by API (the overrides file `thresholds`, when it exists) and build every
    file. Raises ConfigError for invalid budgets or overrides."""
    env = os.environ if env is None else env
    budgets = load_budgets(path, env)
    overrides = {name: env[name] for name in ENV_OVERRIDES if env.get(name)}
    set_by_api = read_overrides(thresholds) if thresholds is not None else Overrides()
    if set_by_api.items and thresholds is not None:
        budgets = apply_overrides(budgets, set_by_api)
        overrides["thresholds"] = thresholds.as_posix()
    header = naming.header(source_name(path), overrides)
    files = generate_files(budgets, header)
    # deploy/kubernetes/ embeds the rule files and dashboards just built (budgets/kubernetes.py).
    return [*files, *kubernetes_files(files, header)]


def diff(files: list[GeneratedFile], output_dir: Path) -> list[str]:
    """The paths whose committed text differs from the generated one (missing files included)."""
    changed = []
    for file in files:
        target = output_dir / file.path
        try:
            current = target.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != file.text:
            changed.append(file.path)
    return changed


def write(files: list[GeneratedFile], output_dir: Path) -> list[str]:
    """Write the files that changed (each atomically); returns their paths."""
    changed = diff(files, output_dir)
    by_path = {file.path: file for file in files}
    for path in changed:
        target = output_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(by_path[path].text, encoding="utf-8")
        temporary.replace(target)
    return changed
