"""The demo site, from a checkout: a thin script over perfbudget.demoshop (which ships in the wheel).

    python demo/serve.py --listen 127.0.0.1:8080 --exporter-url http://127.0.0.1:9478

It needs only the standard library and `exporter/` beside this folder (or perfbudget installed), so it runs
in any Python: docker-compose's demo container mounts ./demo and ./exporter into a plain python image.
`perfbudget demo` runs the same shop with the exporter in one command.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from perfbudget.demoshop import main
except ImportError:  # a plain Python without perfbudget installed: the checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporter"))
    from perfbudget.demoshop import main

if __name__ == "__main__":
    main()
