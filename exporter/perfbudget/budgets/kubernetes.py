"""deploy/kubernetes/: the manifests `kubectl apply -k deploy/kubernetes` applies, written by `perfbudget generate`
from the files it generates beside them: the PrometheusRules hold the rule files' groups and the dashboards'
ConfigMaps the dashboards' JSON, byte for byte, so neither can drift from what Prometheus and Grafana get
elsewhere; the workload (Deployment, Service, ServiceMonitor, the config) is built here from the same names.

The kustomization uses only what the kustomize of Debian bookworm's kubectl 1.20 (kustomize v2.0.3) knows:
`resources`, `configMapGenerator` and `images`. The Secret (the API token, the database URL) is never written:
the user creates it (`kubectl create secret generic perfbudget ...`), the README says how.
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import __version__
from ..config.env import API_TOKEN_ENV, CONFIG_ENV, DATA_DIR_ENV, MULTIPROC_ENV
from . import naming
from .output import GeneratedFile, dump_yaml

KUBERNETES_DIR = "deploy/kubernetes"
NAME = "perfbudget"
IMAGE = "perfbudget"
PORT = 9478
PORT_NAME = "http"
#: What Kubernetes needs the image's user as: a number (runAsNonRoot cannot check the name `perfbudget`).
UID = 10001
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "exporter"}
#: The label Grafana's dashboard sidecar (kube-prometheus-stack's default) looks for, and its folder annotation.
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"

#: The Secret the user creates, and its keys.
SECRET = NAME
TOKEN_KEY = "api-token"
DATABASE_URL_KEY = "database-url"
#: The shared store's URL (issue 17's PostgreSQL part): passed on when the Secret has it, read once that lands.
DATABASE_URL_ENV = "PERFBUDGET_DATABASE_URL"

CONFIG_MAP = f"{NAME}-config"
CONFIG_FILE = "perfbudget.yml"
CONFIG_DIR = "/etc/perfbudget"
DATA_DIR = "/var/lib/perfbudget/data"  # exporter/Dockerfile's PERFBUDGET_DATA_DIR, owned by the image's user
MULTIPROC_DIR = "/run/perfbudget"
WORKERS = 2

# Chosen from the README's Performance section: the master and two workers take 184 MiB of RSS before any
# series (about 95 MiB proportional set size, shared pages counted once, which is what the cgroup charges),
# 232 MiB at 1,000 vital series and 346 MiB at 10,000; the default route cap allows 4,040 (32,320 with the
# navigation type label). The limit leaves room for the label, the in-memory multiprocess directory
# (27 MiB of sparse files at start) and an images playbook decoding a large image.
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "320Mi", "ephemeral-storage": "256Mi"},
    "limits": {"cpu": "2", "memory": "640Mi", "ephemeral-storage": "3Gi"},
}
DATA_SIZE_LIMIT = "2Gi"  # summary.sqlite takes about 41 MB a day at the route cap, kept 30 days by default
MULTIPROC_SIZE_LIMIT = "128Mi"
TMP_SIZE_LIMIT = "256Mi"

CONFIG_TEXT = f"""\
# perfbudget's configuration in Kubernetes: the ConfigMap {CONFIG_MAP}, mounted at {CONFIG_DIR}/{CONFIG_FILE}.
# perfbudget generate rewrites this file: change it in an overlay (a configMapGenerator named {CONFIG_MAP}
# with `behavior: replace` and your own file), see the README's "Running on Kubernetes".
server:
  listen_address: 0.0.0.0:{PORT}       # the Service's target port
  workers: {WORKERS}                         # set: the default counts the node's cores, not the pod's CPU limit
  threads: {2 * WORKERS + 1}                         # likewise (2 x workers + 1)
  trusted_proxy_hops: 0              # 1 behind an Ingress controller that appends X-Forwarded-For
beacons:
  allowed_origins: ["*"]             # list your site's origins, e.g. ["https://shop.example.com"]
# prometheus:
#   url: http://prometheus-operated.monitoring.svc:9090   # the Prometheus Operator's service: verification, reports
"""


def _metadata(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": dict(LABELS), **extra}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": PORT_NAME}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


def _container() -> dict[str, Any]:
    return {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": CONFIG_ENV, "value": f"{CONFIG_DIR}/{CONFIG_FILE}"},
            {"name": DATA_DIR_ENV, "value": DATA_DIR},
            {"name": MULTIPROC_ENV, "value": MULTIPROC_DIR},
            {"name": API_TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": TOKEN_KEY}}},
            {"name": DATABASE_URL_ENV,
             "valueFrom": {"secretKeyRef": {"name": SECRET, "key": DATABASE_URL_KEY, "optional": True}}},
        ],
        # Start-up compacts attribution and recovers interrupted runs: give it a minute before liveness counts.
        "startupProbe": _probe("/-/healthy", 2, 30),
        "livenessProbe": _probe("/-/healthy", 10, 3),
        "readinessProbe": _probe("/-/ready", 5, 2),
        "resources": RESOURCES,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "metrics", "mountPath": MULTIPROC_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(NAME),
        "spec": {
            # One replica until the shared store lands: each replica keeps its own audit log and summary.
            "replicas": 1,
            "selector": {"matchLabels": dict(LABELS)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    # A Service named perfbudget would otherwise add PERFBUDGET_PORT, PERFBUDGET_SERVICE_HOST...
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container()],
                    "volumes": [
                        {"name": "config", "configMap": {"name": CONFIG_MAP}},
                        # Per pod, lost when it is rescheduled: the audit log, snapshots, attribution.
                        {"name": "data", "emptyDir": {"sizeLimit": DATA_SIZE_LIMIT}},
                        # The workers' shared tables (mmap): in memory, charged to the memory limit.
                        {"name": "metrics", "emptyDir": {"medium": "Memory", "sizeLimit": MULTIPROC_SIZE_LIMIT}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                    ],
                },
            },
        },
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(NAME),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(LABELS),
            "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
            # A client's beacons (and one Alertmanager's webhook) keep to one replica: dedup is per replica.
            "sessionAffinity": "ClientIP",
        },
    }


def service_monitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(NAME),
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            # Every pod behind the Service is its own target (its own `instance`); `job` is the Service's name.
            "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}],
        },
    }


def prometheus_rule(stem: str, rule_file_text: str) -> dict[str, Any]:
    groups = yaml.safe_load(rule_file_text)["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(f"{NAME}-{stem}"),
        "spec": {"groups": groups},
    }


def dashboard_config_map(stem: str, dashboard_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{NAME}-dashboard-{stem}",
            "labels": {**LABELS, **DASHBOARD_LABEL},
            "annotations": {DASHBOARD_FOLDER_ANNOTATION: naming.DASHBOARD_FOLDER},
        },
        "data": {f"{stem}.json": dashboard_json},
    }


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        # A new config gets a new name (a hash suffix), so editing it rolls the pods.
        "configMapGenerator": [{"name": CONFIG_MAP, "files": [CONFIG_FILE]}],
        "generatorOptions": {"labels": dict(LABELS)},
        "images": [{"name": IMAGE, "newName": IMAGE, "newTag": __version__}],
    }


def _stem(path: str, folder: str, suffix: str) -> str | None:
    """`web-vitals` for `<folder>/web-vitals<suffix>`; None for anything else (rule tests live deeper)."""
    name = path.removeprefix(f"{folder}/")
    if name == path or "/" in name or not name.endswith(suffix):
        return None
    return name.removesuffix(suffix)


def kubernetes_files(generated: list[GeneratedFile], header: str) -> list[GeneratedFile]:
    """deploy/kubernetes/* for the rule files and dashboards in `generated`, each YAML file with `header`."""
    manifests: dict[str, dict[str, Any]] = {
        "deployment.yaml": deployment(),
        "service.yaml": service(),
        "servicemonitor.yaml": service_monitor(),
    }
    for file in generated:
        if (stem := _stem(file.path, naming.RULES_DIR, ".yml")) is not None:
            manifests[f"prometheusrule-{stem}.yaml"] = prometheus_rule(stem, file.text)
        elif (stem := _stem(file.path, naming.DASHBOARDS_DIR, ".json")) is not None:
            manifests[f"dashboard-{stem}.yaml"] = dashboard_config_map(stem, file.text)
    out = [GeneratedFile(f"{KUBERNETES_DIR}/{name}", dump_yaml(manifest, header))
           for name, manifest in manifests.items()]
    out.append(GeneratedFile(f"{KUBERNETES_DIR}/{CONFIG_FILE}", f"# {header}\n{CONFIG_TEXT}"))
    out.append(GeneratedFile(f"{KUBERNETES_DIR}/kustomization.yaml",
                             dump_yaml(kustomization(list(manifests)), header)))
    return out
