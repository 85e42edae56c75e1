"""`perfbudget compare`: did a release make the Web Vitals worse? Two versions' histograms (stats.py: the
p75 and good share of each and the tests on the bucket counts; sources.py: the counts from a perfbudget
exporter's /metrics or from Prometheus; render.py: the table people read in CI logs and the JSON)."""
