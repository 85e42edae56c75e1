"""The rule stages, Sloth-style: each module turns the validated budgets into its rule groups, with one
signature, `rule_groups(budgets) -> tuple[RuleGroup, ...]`, and its own tests and golden files.

In the order the generator calls them (`perfbudget.budgets.generate.rule_files`):

1. `vitals_recording`: the Web Vitals SLI recording rules (bucket and count increases, quantiles, good ratio).
   `vitals_causes`: LCP's subparts and INP's phases at p75 and the dominant one, the `cause` of their alerts.
2. `vitals_alerts`: the Web Vitals budget, regression and beacons-stopped alerts, on those recording rules.
   `vitals_slo`: objectives on a vital's good share: the error ratios over the burn windows, burn-rate alerts.
3. `service`: API latency, error rate and availability burn-rate rules and alerts.
4. `resources`: CPU, memory and disk rules and alerts on node_exporter.
"""
