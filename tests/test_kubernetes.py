"""deploy/kubernetes/ checked without a cluster (none runs here): rendered by the real `kubectl kustomize`
(`$KUBECTL`, else the `kubectl` scripts/install-test-deps installs; Debian bookworm's is 1.20 with kustomize
v2.0.3), the core kinds validated offline by kubernetes-validate against the schemas of the Kubernetes
versions below (strict: an unknown field is an error), and the Prometheus Operator's kinds, which are CRDs
and have no schema there, checked here against the fields of their CRDs (monitoring.coreos.com/v1, operator
v0.82): what the operator requires, and no field it would silently prune. Then what no schema can see: the
probes, ports and labels agree across the Deployment, the Service and the ServiceMonitor; the PrometheusRules
are the generated rule files and the dashboards' ConfigMaps the generated dashboards; no secret value is
anywhere in the tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from perfbudget import __version__
from perfbudget.budgets import kubernetes, naming
from perfbudget.budgets.generate import generate
from perfbudget.config import load_config
from perfbudget.config.env import API_TOKEN_ENV, DATA_DIR_ENV, MULTIPROC_ENV

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / kubernetes.KUBERNETES_DIR
#: The oldest schema kubernetes-validate ships, and a recent one: every field used is in both.
KUBERNETES_VERSIONS = ("1.25.0", "1.33.0")
CORE_KINDS = {"Deployment", "Service", "ConfigMap"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The Prometheus Operator's duration pattern (monitoring.coreos.com CRDs' `Duration`).
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
RULE_GROUP_FIELDS = {"name", "interval", "labels", "limit", "partial_response_strategy", "query_offset", "rules"}
RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
ENDPOINT_FIELDS_USED = {"port", "path", "interval", "scrapeTimeout"}
# `kubectl apply` (client side) keeps the whole object in an annotation, at most 256 KiB.
LAST_APPLIED_LIMIT = 262144


def _kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    assert found, "kubectl is not installed: run scripts/install-test-deps"
    return found


def _render(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return _render(BASE)


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in the rendered manifests"
    return found[0]


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in _container(docs)["env"]}


# --- the tree is what perfbudget generate writes -------------------------------------------------


def test_the_committed_manifests_are_what_perfbudget_generate_writes() -> None:
    generated = {f.path: f.text for f in generate(None, env={}) if f.path.startswith(kubernetes.KUBERNETES_DIR)}
    committed = {str(p.relative_to(ROOT)) for p in BASE.iterdir() if p.is_file()}
    assert set(generated) == committed, "deploy/kubernetes/ has other files than the generator's"
    for path, text in generated.items():
        assert (ROOT / path).read_text() == text, f"{path} drifted: run `perfbudget generate`"


def test_kustomize_renders_exactly_the_kinds_expected(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in rendered)
    rule_files = sorted((ROOT / naming.RULES_DIR).glob("*.yml"))
    dashboards = sorted((ROOT / naming.DASHBOARDS_DIR).glob("*.json"))
    assert kinds == sorted(["Deployment", "Service", "ServiceMonitor", "ConfigMap",
                            *["PrometheusRule"] * len(rule_files), *["ConfigMap"] * len(dashboards)])
    assert not [d for d in rendered if d["kind"] == "Secret"], "the Secret is the user's, never rendered"


# --- the core kinds against Kubernetes' own schemas ----------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_core_kinds_are_valid_for_kubernetes(rendered: list[dict[str, Any]], version: str) -> None:
    core = [d for d in rendered if d["kind"] in CORE_KINDS]
    assert {d["kind"] for d in rendered} == CORE_KINDS | CRD_KINDS
    for doc in core:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} for Kubernetes {version}: "
                                 f"{exc.path}: {exc.message}") from exc


def test_the_validator_catches_an_unknown_field_and_a_wrong_type(rendered: list[dict[str, Any]]) -> None:
    deployment = json.loads(json.dumps(_one(rendered, "Deployment")))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment = json.loads(json.dumps(_one(rendered, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9478"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


# --- the Prometheus Operator's kinds against their CRDs' fields ----------------------------------


def test_the_service_monitor_selects_the_service_and_scrapes_its_metrics_port(rendered: list[dict[str, Any]]) -> None:
    monitor, svc = _one(rendered, "ServiceMonitor"), _one(rendered, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    selector = spec["selector"]["matchLabels"]  # the CRD requires `selector`
    assert selector and selector.items() <= svc["metadata"]["labels"].items()
    service_ports = {port["name"] for port in svc["spec"]["ports"]}
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= ENDPOINT_FIELDS_USED
        assert endpoint["port"] in service_ports and endpoint["path"] == "/metrics"
        assert DURATION.match(endpoint["interval"]) and DURATION.match(endpoint["scrapeTimeout"])
        assert int(endpoint["scrapeTimeout"].rstrip("s")) <= int(endpoint["interval"].rstrip("s"))


def test_each_prometheus_rule_holds_the_groups_of_its_generated_rule_file(rendered: list[dict[str, Any]]) -> None:
    rules = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "PrometheusRule"}
    files = {f"perfbudget-{p.stem}": p for p in (ROOT / naming.RULES_DIR).glob("*.yml")}
    assert set(rules) == set(files)
    for name, rule in rules.items():
        assert rule["apiVersion"] == "monitoring.coreos.com/v1" and set(rule["spec"]) == {"groups"}
        groups = rule["spec"]["groups"]
        assert groups == yaml.safe_load(files[name].read_text())["groups"], f"{name} is not {files[name].name}"
        names = [group["name"] for group in groups]
        assert len(names) == len(set(names)), f"{name}: group names must be unique (the CRD's list-map key)"
        for group in groups:
            assert set(group) <= RULE_GROUP_FIELDS and group["name"] and group["rules"]
            for rule_ in group["rules"]:
                assert set(rule_) <= RULE_FIELDS, f"{name}: {set(rule_) - RULE_FIELDS} would be pruned"
                assert isinstance(rule_["expr"], str) and ("record" in rule_) != ("alert" in rule_)
                assert "for" not in rule_ or DURATION.match(rule_["for"])
                for field in ("labels", "annotations"):
                    assert all(isinstance(v, str) for v in rule_.get(field, {}).values())
        assert len(json.dumps(rule)) < LAST_APPLIED_LIMIT


def test_the_dashboards_config_maps_are_the_generated_dashboards(rendered: list[dict[str, Any]]) -> None:
    maps = {d["metadata"]["name"]: d for d in rendered
            if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"}
    dashboards = sorted((ROOT / naming.DASHBOARDS_DIR).glob("*.json"))
    assert set(maps) == {f"perfbudget-dashboard-{p.stem}" for p in dashboards}
    for path in dashboards:
        config_map = maps[f"perfbudget-dashboard-{path.stem}"]
        assert config_map["data"] == {path.name: path.read_text()}, f"{path.name} differs from its ConfigMap"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": naming.DASHBOARD_FOLDER}
        assert len(json.dumps(config_map)) < LAST_APPLIED_LIMIT


# --- what the pieces must agree on --------------------------------------------------------------


def test_probes_ports_and_labels_agree_across_deployment_service_and_config(
        rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    deployment, svc = _one(rendered, "Deployment"), _one(rendered, "Service")
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == template_labels
    assert svc["spec"]["selector"].items() <= template_labels.items()
    container = _container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for port in svc["spec"]["ports"]:
        assert port["targetPort"] in ports and port["port"] == ports[port["targetPort"]]
    assert container["startupProbe"]["httpGet"] == container["livenessProbe"]["httpGet"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    dockerfile = (ROOT / "exporter/Dockerfile").read_text()
    assert f"EXPOSE {ports['http']}" in dockerfile
    # The config the pod reads listens on that port, and loads without an error.
    config_file = tmp_path / kubernetes.CONFIG_FILE
    config_file.write_text(_one(rendered, "ConfigMap", _config_map_name(rendered))["data"][kubernetes.CONFIG_FILE])
    config = load_config(config_file, env={})
    assert config.server.listen_address == f"0.0.0.0:{ports['http']}"
    assert config.server.workers == kubernetes.WORKERS


def _config_map_name(docs: list[dict[str, Any]]) -> str:
    names: list[str] = [d["metadata"]["name"] for d in docs
             if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(f"{kubernetes.CONFIG_MAP}-")]
    assert len(names) == 1, names
    return names[0]


def test_the_pod_reads_the_generated_config_map_by_its_hashed_name(rendered: list[dict[str, Any]]) -> None:
    spec = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == _config_map_name(rendered)
    env = _env(rendered)
    mounts = {m["name"]: m for m in _container(rendered)["volumeMounts"]}
    assert env["PERFBUDGET_CONFIG"]["value"] == f"{mounts['config']['mountPath']}/{kubernetes.CONFIG_FILE}"
    assert mounts["config"]["readOnly"] is True


def test_the_pod_runs_non_root_read_only_and_writes_only_to_its_volumes(rendered: list[dict[str, Any]]) -> None:
    spec = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    pod, container = spec["securityContext"], _container(rendered)
    dockerfile = (ROOT / "exporter/Dockerfile").read_text()
    uid = int(re.search(r"useradd .*--uid (\d+)", dockerfile).group(1))  # type: ignore[union-attr]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid and pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert spec["enableServiceLinks"] is False  # else a Service named perfbudget sets PERFBUDGET_PORT & co
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    env = _env(rendered)
    data_dir = env[DATA_DIR_ENV]["value"]
    assert f"PERFBUDGET_DATA_DIR={data_dir}" in dockerfile
    # The read-only root leaves exactly these writable: the data dir, the multiprocess dir, /tmp (the run dir).
    for path in (data_dir, env[MULTIPROC_ENV]["value"], "/tmp"):
        assert "emptyDir" in mounts[path], f"{path} is not a writable volume"
    assert mounts[env[MULTIPROC_ENV]["value"]]["emptyDir"]["medium"] == "Memory"
    resources = container["resources"]
    assert set(resources["requests"]) >= {"cpu", "memory"} and set(resources["limits"]) >= {"cpu", "memory"}


def test_the_image_is_the_one_docker_compose_builds_from_the_dockerfile(rendered: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["exporter"]
    assert compose["build"]["dockerfile"] == "exporter/Dockerfile"
    assert _container(rendered)["image"] == compose["image"] == f"perfbudget:{__version__}"


# --- secrets ---------------------------------------------------------------------------------------


def test_the_token_and_the_database_url_come_from_the_users_secret(rendered: list[dict[str, Any]]) -> None:
    env = _env(rendered)
    token = env[API_TOKEN_ENV]["valueFrom"]["secretKeyRef"]
    assert token == {"name": kubernetes.SECRET, "key": kubernetes.TOKEN_KEY}  # required: no token, no start
    database = env[kubernetes.DATABASE_URL_ENV]["valueFrom"]["secretKeyRef"]
    assert database == {"name": kubernetes.SECRET, "key": kubernetes.DATABASE_URL_KEY, "optional": True}
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert "secretGenerator" not in kustomization


def test_no_secret_value_is_anywhere_in_the_tree(rendered: list[dict[str, Any]]) -> None:
    secret_like = re.compile(r"TOKEN|PASSWORD|SECRET|DATABASE_URL|CREDENTIAL", re.IGNORECASE)
    for name, entry in _env(rendered).items():
        if secret_like.search(name):
            assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], name
    for path in BASE.iterdir():
        text = path.read_text()
        assert not re.search(r"^kind: Secret\b|stringData:|\btokens:|password:", text, re.MULTILINE), path.name
    config = yaml.safe_load(_one(rendered, "ConfigMap", _config_map_name(rendered))["data"][kubernetes.CONFIG_FILE])
    assert "auth" not in config


# --- an overlay, as the README tells users to change things ---------------------------------------


def test_an_overlay_replaces_the_config_and_the_image_and_sets_the_namespace(tmp_path: Path) -> None:
    overlay = tmp_path / "overlays" / "shop"
    overlay.mkdir(parents=True)
    shutil.copytree(BASE, tmp_path / "base")
    (overlay / kubernetes.CONFIG_FILE).write_text(
        "server:\n  listen_address: 0.0.0.0:9478\n  workers: 2\n  threads: 5\n"
        "beacons:\n  allowed_origins: [\"https://shop.example.com\"]\n")
    # `bases:` is what kubectl 1.20's kustomize takes for a directory; newer ones also take `resources:`.
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "namespace": "monitoring",
        "bases": ["../../base"],
        "configMapGenerator": [{"name": kubernetes.CONFIG_MAP, "behavior": "replace",
                                "files": [kubernetes.CONFIG_FILE]}],
        "images": [{"name": "perfbudget", "newName": "registry.example.com/perfbudget", "newTag": __version__}],
    }))
    docs = _render(overlay)
    assert {d["metadata"].get("namespace") for d in docs} == {"monitoring"}
    assert _container(docs)["image"] == f"registry.example.com/perfbudget:{__version__}"
    config = _one(docs, "ConfigMap", _config_map_name(docs))["data"][kubernetes.CONFIG_FILE]
    assert "https://shop.example.com" in config
    volumes = {v["name"]: v for v in _one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == _config_map_name(docs)
