"""perfbudget: real-user Core Web Vitals and performance budgets for Prometheus, Grafana and Alertmanager."""

__version__ = "0.1.0"
__all__ = ["__version__"]
