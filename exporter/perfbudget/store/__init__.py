"""A shared-memory table of histograms and counters: one slab per writer process, one collector for all.

    table = Table([FamilySpec.histogram("perfbudget_lcp_seconds", "...", ("route", "device"), edges)],
                  directory=multiprocess_dir, epoch=run_epoch)
    observe = table.histogram("perfbudget_lcp_seconds").observer(("/", "phone"))  # cache it
    observe(2.1)
    reader = Reader(table)
    registry.register(StoreCollector(reader))   # or exposition.generate_latest(reader, registry)
    reader.read("perfbudget_lcp_seconds", match={"device": "phone"})

layout.py (bytes), slab.py (files), table.py (writes, the seqlock), read.py (reads),
collector.py (client_python families), exposition.py (the same bytes, faster).
"""

from .collector import StoreCollector
from .exposition import generate_latest, generate_latest_openmetrics
from .layout import FamilySpec, Labels, Layout
from .read import HistogramSeries, Reader
from .slab import SlabError
from .table import Counter, Histogram, Increment, Observer, Table

__all__ = [
    "Counter",
    "FamilySpec",
    "Histogram",
    "HistogramSeries",
    "Increment",
    "Labels",
    "Layout",
    "Observer",
    "Reader",
    "SlabError",
    "StoreCollector",
    "Table",
    "generate_latest",
    "generate_latest_openmetrics",
]
