"""Budgets -> `alertmanager.yml`: routes by severity to the perfbudget webhook (playbooks), with example
Slack and e-mail receivers to fill in, and criticals inhibiting warnings about the same thing.

Only keys Alertmanager 0.25 knows are written (`amtool check-config` there refuses newer ones). No secret
is committed: the webhook's bearer token and the Slack URL are read from files (`credentials_file`,
`api_url_file`) that the operator creates.
"""

from __future__ import annotations

from typing import Any

from .model import Budgets

WEBHOOK_PATH = "/api/alertmanager"
TOKEN_FILE = "/etc/alertmanager/perfbudget-token"
SLACK_URL_FILE = "/etc/alertmanager/slack-webhook-url"
SLACK_CHANNEL = "#web-performance"
EMAIL_TO = "web-performance@example.com"

RECEIVER_WEBHOOK = "perfbudget"
RECEIVER_WARNING = "perfbudget-and-slack"
RECEIVER_CRITICAL = "perfbudget-slack-and-email"
GROUP_BY = ["alertname", "budget", "route", "device", "site"]
# A critical alert silences warnings about the same metric on the same route, device and site (or job); a label
# both alerts lack (`site` without sites) is equal.
INHIBIT_EQUAL = ["metric", "route", "device", "site", "job", "instance"]


def _webhook(budgets: Budgets) -> dict[str, Any]:
    return {
        "url": budgets.exporter_url.rstrip("/") + WEBHOOK_PATH,
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": TOKEN_FILE}},
        "max_alerts": 0,
    }


def _slack() -> dict[str, Any]:
    return {
        "api_url_file": SLACK_URL_FILE,
        "channel": SLACK_CHANNEL,
        "send_resolved": True,
        "title": '{{ .Status | toUpper }}: {{ .CommonAnnotations.summary }}',
        "text": ('{{ range .Alerts }}{{ .Annotations.description }}\n'
                 'Dashboard: {{ .Annotations.dashboard }}\nPlaybooks: {{ .Annotations.runbook_url }}\n{{ end }}'),
    }


def alertmanager_config(budgets: Budgets) -> dict[str, Any]:
    """The whole Alertmanager configuration as a mapping, keys in the order people read them."""
    return {
        "global": {
            "resolve_timeout": "5m",
            # Fill in your SMTP relay; the e-mail receiver is only used for critical alerts.
            "smtp_smarthost": "smtp.example.com:587",
            "smtp_from": "alertmanager@example.com",
            "smtp_require_tls": True,
        },
        "route": {
            "receiver": RECEIVER_WEBHOOK,
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": RECEIVER_CRITICAL, "matchers": ['severity="critical"'], "repeat_interval": "1h"},
                {"receiver": RECEIVER_WARNING, "matchers": ['severity="warning"']},
                {"receiver": RECEIVER_WEBHOOK, "matchers": ['severity="info"'], "repeat_interval": "12h"},
            ],
        },
        "inhibit_rules": [
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
             "equal": INHIBIT_EQUAL},
        ],
        "receivers": [
            {"name": RECEIVER_WEBHOOK, "webhook_configs": [_webhook(budgets)]},
            {"name": RECEIVER_WARNING, "webhook_configs": [_webhook(budgets)], "slack_configs": [_slack()]},
            {"name": RECEIVER_CRITICAL, "webhook_configs": [_webhook(budgets)], "slack_configs": [_slack()],
             "email_configs": [{"to": EMAIL_TO, "send_resolved": True}]},
        ],
    }
