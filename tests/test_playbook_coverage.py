"""Every alert the committed rules can raise has a bundled playbook to preview when it fires."""

from __future__ import annotations

from pathlib import Path

import yaml

from perfbudget.config import load_config
from perfbudget.playbooks.model import load_playbooks

RULES = Path(__file__).resolve().parents[1] / "alertmanager" / "rules"


def test_every_generated_alert_matches_a_bundled_playbook(tmp_path: Path) -> None:
    playbooks = load_playbooks(load_config(None, env={"PERFBUDGET_DATA_DIR": str(tmp_path)}))
    alerts = [rule for path in sorted(RULES.glob("*.yml"))
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 9
    unmatched = []
    for rule in alerts:
        labels = {"alertname": rule["alert"], **{k: str(v) for k, v in rule.get("labels", {}).items()}}
        if not any(book.spec.matches(labels) for book in playbooks.values()):
            unmatched.append(labels)
    assert unmatched == []
