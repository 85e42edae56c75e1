"""docker-compose.yml checked without a Docker engine (none runs here): the compose spec's JSON schema and
Compose v1's own `config` validation, then what neither can see: every file it mounts exists and is the
generated one, the real tools (promtool, amtool) accept those configs as the containers will read them,
every name one service uses for another resolves, and the few paths two files must agree on do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.generate import generate
from perfbudget.config import load_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# What each config file is mounted as: (repository path, container path) in the service that reads it.
GENERATED_MOUNTS = {
    ("alertmanager", naming.ALERTMANAGER_FILE): "/etc/alertmanager/alertmanager.yml",
    ("prometheus", naming.RULES_DIR): "/etc/prometheus/rules",
    ("grafana", "grafana/provisioning"): "/etc/grafana/provisioning",
    ("grafana", naming.DASHBOARDS_DIR): "/var/lib/grafana/dashboards",
}
HAND_WRITTEN_MOUNTS = {
    ("prometheus", "prometheus/prometheus.yml"): "/etc/prometheus/prometheus.yml",
    ("otel-collector", "otel-collector/config.yaml"): "/etc/otelcol/config.yaml",
    ("exporter", "demo/perfbudget.yml"): "/etc/perfbudget/perfbudget.yml",
}
TOKEN = "compose-test-token-0123456789"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed: run scripts/install-test-deps"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def _volumes(service: str) -> list[tuple[str, str]]:
    """(source, target) of a service's short-syntax volumes, the mode dropped."""
    out = []
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        out.append((source, target))
    return out


def _bind_mounts() -> list[tuple[str, str, str]]:
    return [(name, source, target) for name in SERVICES for source, target in _volumes(name)
            if source.startswith((".", "/"))]


def _mount_target(service: str, repo_path: str) -> str | None:
    for source, target in _volumes(service):
        if source.startswith(".") and os.path.normpath(source) == repo_path:
            return target
    return None


# --- the compose file against the tools that validate it --------------------------------------------


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_v1_config_accepts_it_with_the_env_example(tmp_path: Path) -> None:
    """Debian's docker-compose (v1, the only Compose installable without Docker's own repository) resolves
    interpolation, anchors, references and depends_on conditions. It predates the spec's top-level `name`,
    so it checks a copy without that one line, with the project directory set to the repository."""
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(re.sub(r"(?m)^name: .*\n", "", COMPOSE_FILE.read_text()))
    args = [_tool("docker-compose"), "--project-directory", str(ROOT), "--env-file", str(ROOT / ".env.example"),
            "-f", str(copy), "config"]
    result = _run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(SERVICES)
    for service in resolved["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]  # v1 prints the short syntax, bind sources made absolute
            if source.startswith("/"):
                assert Path(source).exists(), volume
    # Without the token the file refuses to resolve, with the message .env.example answers.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "PERFBUDGET_API_TOKEN"}
    refused = subprocess.run([*args[:3], "--env-file", str(empty), *args[5:]], capture_output=True, text=True,
                             timeout=120, check=False, cwd=tmp_path, env=env)
    assert refused.returncode != 0 and "set PERFBUDGET_API_TOKEN in .env" in refused.stderr


# --- references inside the compose file -------------------------------------------------------------


def test_every_bind_mounted_file_and_directory_exists_in_the_repository() -> None:
    missing = [(name, source) for name, source, _ in _bind_mounts() if not (ROOT / source).exists()]
    assert missing == []
    assert {source.lstrip("./") for _, source, _ in _bind_mounts()} >= {
        path for _, path in (*GENERATED_MOUNTS, *HAND_WRITTEN_MOUNTS)}


def test_every_build_context_and_what_its_dockerfile_copies_exist() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    for name, service in SERVICES.items():
        if "build" not in service:
            continue
        context = ROOT / service["build"]["context"]
        dockerfile = context / service["build"]["dockerfile"]
        assert dockerfile.is_file(), name
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                for source in words[1:-1]:
                    assert (context / source).exists(), f"{dockerfile.name}: {line}"
                    assert source not in ignored, f"{source} is in .dockerignore"


def test_every_service_in_depends_on_is_defined_and_healthy_ones_have_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on undefined {dependency}"
            if condition["condition"] == "service_healthy":
                target = SERVICES[dependency]
                image_check = "build" in target and "HEALTHCHECK" in (
                    ROOT / target["build"]["context"] / target["build"]["dockerfile"]).read_text()
                assert "healthcheck" in target or image_check, f"{dependency} has no healthcheck"


def test_the_dependency_graph_has_no_cycle() -> None:
    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        for dependency in SERVICES[name].get("depends_on", {}):
            visit(dependency, (*path, name))

    for name in SERVICES:
        visit(name, ())


def test_every_named_volume_is_declared_and_every_declared_one_is_used() -> None:
    used = {source for name in SERVICES for source, _ in _volumes(name) if not source.startswith((".", "/"))}
    assert used == set(COMPOSE["volumes"])
    assert {"perfbudget-data", "prometheus-data", "grafana-data"} <= used


def test_published_ports_bind_the_loopback_address_unless_bind_says_otherwise() -> None:
    published = {name: service.get("ports", []) for name, service in SERVICES.items()}
    for name, ports in published.items():
        for port in ports:
            assert re.fullmatch(r"\$\{BIND:-127\.0\.0\.1\}:(\d+):\1", port), f"{name}: {port}"
    # Only what a user opens: the demo, the console, Prometheus, Alertmanager, Grafana; not the collector.
    assert {name for name, ports in published.items() if ports} == {
        "exporter", "prometheus", "alertmanager", "grafana", "demo"}


def test_every_variable_the_compose_file_reads_is_in_env_example() -> None:
    text = re.sub(r"\$\$", "", COMPOSE_FILE.read_text())  # $$ is a literal $ for the container's shell
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    documented = set(re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text()))
    assert used <= documented, used - documented


# --- the configs it mounts are the generated ones, and the real tools accept them ---------------------


def test_the_mounted_configs_are_the_generated_ones_mounted_where_each_service_reads_them() -> None:
    for (service, path), target in {**GENERATED_MOUNTS, **HAND_WRITTEN_MOUNTS}.items():
        assert _mount_target(service, path) == target, (service, path)
    # deploy/kubernetes/ is Kubernetes' (tests/test_kubernetes.py), not the compose stack's.
    generated = {file.path: file.text for file in generate(None, env={}) if not file.path.startswith("deploy/")}
    mounted = [path for _, path in GENERATED_MOUNTS]
    covered = {p for p in generated if any(p == m or p.startswith(m + "/") for m in mounted)}
    assert covered == set(generated), "a generated file is not mounted"
    drifted = [p for p in covered if (ROOT / p).read_text() != generated[p]]
    assert drifted == [], "run `perfbudget generate`"


def test_promtool_accepts_prometheus_yml_with_the_repository_rules_in_place_of_the_container_path(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    rules_target = _mount_target("prometheus", naming.RULES_DIR)
    assert config["rule_files"] == [f"{rules_target}/*.yml"]
    config["rule_files"] = [str(ROOT / naming.RULES_DIR / "*.yml")]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = _run(_tool("promtool"), "check", "config", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = sorted(p.name for p in (ROOT / naming.RULES_DIR).glob("*.yml"))
    assert f"SUCCESS: {len(rule_files)} rule files found" in result.stdout and rule_files


def test_prometheus_scrapes_the_exporter_and_alerts_alertmanager_by_their_service_names() -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    listen = SERVICES["exporter"]["environment"].get("PERFBUDGET_LISTEN_ADDRESS")
    dockerfile = (ROOT / "exporter" / "Dockerfile").read_text()
    assert listen is None and "PERFBUDGET_LISTEN_ADDRESS=0.0.0.0:9478" in dockerfile
    assert targets["perfbudget"] == ["exporter:9478"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert SERVICES["prometheus"]["command"][0] == "--config.file=/etc/prometheus/prometheus.yml"


def _alertmanager_startup() -> str:
    command = SERVICES["alertmanager"]["command"]
    assert SERVICES["alertmanager"]["entrypoint"] == ["/bin/sh", "-c"] and len(command) == 1
    return str(command[0])


def _as_started(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """alertmanager.yml as the container's entrypoint rewrites it (its sed), with the files it writes."""
    startup = _alertmanager_startup()
    rewritten = (ROOT / naming.ALERTMANAGER_FILE).read_text()
    for old, new in re.findall(r"sed 's#([^#]+)#([^#]+)#g' /etc/alertmanager/alertmanager.yml", startup):
        rewritten = rewritten.replace(old, new)
    written = set(re.findall(r"> (/etc/alertmanager/[\w.-]+)", startup))
    for path in written:  # the container paths, under tmp, so that amtool can read them
        local = tmp_path / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("https://hooks.slack.example/services/T/B/X" if "slack" in path else TOKEN)
        rewritten = rewritten.replace(path, str(local))
    checked = tmp_path / "alertmanager.yml"
    checked.write_text(rewritten)
    return checked, yaml.safe_load(rewritten)


def test_amtool_accepts_the_generated_alertmanager_config_as_mounted_and_as_the_container_starts_it(
    tmp_path: Path,
) -> None:
    result = _run(_tool("amtool"), "check-config", str(ROOT / naming.ALERTMANAGER_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    started, _ = _as_started(tmp_path)
    result = _run(_tool("amtool"), "check-config", str(started))
    assert result.returncode == 0, result.stdout + result.stderr
    startup = _alertmanager_startup()
    assert "--config.file=/tmp/alertmanager.yml" in startup and "> /tmp/alertmanager.yml" in startup


def test_the_alertmanager_entrypoint_writes_every_secret_file_the_generated_config_reads(tmp_path: Path) -> None:
    generated = yaml.safe_load((ROOT / naming.ALERTMANAGER_FILE).read_text())
    read = set()
    for receiver in generated["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            read.add(webhook["http_config"]["authorization"]["credentials_file"])
        for slack in receiver.get("slack_configs", []):
            read.add(slack["api_url_file"])
    startup = _alertmanager_startup()
    writes = dict(re.findall(r"printf '%s' \"\$\$\{?(\w+)[^\"]*\" > (/etc/alertmanager/[\w.-]+)", startup))
    assert writes.get("PERFBUDGET_API_TOKEN") == "/etc/alertmanager/perfbudget-token"
    assert read == set(writes.values()), (read, writes)
    assert "PERFBUDGET_API_TOKEN" in SERVICES["alertmanager"]["environment"]
    # Every webhook reaches the exporter's service, not the container's own loopback.
    _, started = _as_started(tmp_path)
    urls = {w["url"] for r in started["receivers"] for w in r.get("webhook_configs", [])}
    assert urls == {"http://exporter:9478/api/alertmanager"}


def test_the_grafana_dashboard_provider_reads_the_directory_compose_mounts_the_dashboards_at() -> None:
    providers = [p for f in sorted((ROOT / "grafana" / "provisioning" / "dashboards").glob("*.yml"))
                 for p in yaml.safe_load(f.read_text())["providers"]]
    dashboards_at = _mount_target("grafana", naming.DASHBOARDS_DIR)
    assert providers and {p["options"]["path"] for p in providers} == {dashboards_at}
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(f"{dashboards_at}/")
    assert (ROOT / naming.DASHBOARDS_DIR / home.removeprefix(f"{dashboards_at}/")).is_file()
    for dashboard in (ROOT / naming.DASHBOARDS_DIR).glob("*.json"):
        json.loads(dashboard.read_text())


def test_the_grafana_datasource_is_the_prometheus_service() -> None:
    datasources = yaml.safe_load((ROOT / naming.DATASOURCES_FILE).read_text())["datasources"]
    assert [(d["uid"], d["url"]) for d in datasources] == [(naming.DATASOURCE_UID, "http://prometheus:9090")]


def test_the_collector_config_wires_every_pipeline_to_defined_components_and_the_exporter_reaches_it() -> None:
    """No collector binary installs here, so its `validate` cannot run: check what it would check first."""
    config = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    service = config["service"]
    assert set(service.get("extensions", [])) <= set(config.get("extensions", {}))
    for name, pipeline in service["pipelines"].items():
        assert name.split("/")[0] in ("metrics", "traces", "logs"), name
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(config.get(kind, {})), (name, kind)
        assert pipeline["receivers"] and pipeline["exporters"], name
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    endpoint = SERVICES["exporter"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == f"http://otel-collector:{grpc.rsplit(':', 1)[1]}"
    command = SERVICES["otel-collector"]["command"]
    assert command == [f"--config={_mount_target('otel-collector', 'otel-collector/config.yaml')}"]


def test_the_exporter_config_it_mounts_is_valid_and_allows_the_demo_sites_origin() -> None:
    environment = SERVICES["exporter"]["environment"]
    assert environment["PERFBUDGET_CONFIG"] == _mount_target("exporter", "demo/perfbudget.yml")
    config = load_config(ROOT / "demo" / "perfbudget.yml", env={})
    demo_port = SERVICES["demo"]["ports"][0].rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{demo_port}" in config.beacons.allowed_origins
    # The demo and the exporter share the site, so the images playbook changes what the demo serves.
    site = environment["PERFBUDGET_SITE_ROOT"]
    assert ("demo-site", site) in _volumes("exporter")
    assert any(source == "demo-site" for source, _ in _volumes("demo"))
    assert f"--root {site}" in " ".join(shlex.split(SERVICES["demo"]["command"][-1]))
