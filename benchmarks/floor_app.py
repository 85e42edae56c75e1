"""The framework floor: a WSGI app that reads the request body and answers 204, nothing else.

Served by the same server, workers and settings as perfbudget, it is the ceiling perfbudget's own
work is measured against (benchmarks/ingest.py).
"""

from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("204 No Content", [])
    return [b""]
