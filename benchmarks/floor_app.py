"""The framework floor: an app that reads the request body and answers 204, nothing else.

Served by the same server, workers and settings as perfbudget, it is the ceiling perfbudget's own
work is measured against (benchmarks/ingest.py). `application` is the WSGI one; `rsgi_application` the
same on granian's RSGI interface, which `perfbudget serve` uses (server/front.py reads bodies on its
event loop, with a deadline): the difference between the two floors is what the interface itself costs.
"""

from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("204 No Content", [])
    return [b""]


class _RsgiFloor:
    async def __rsgi__(self, _scope: Any, protocol: Any) -> None:
        await protocol()
        protocol.response_bytes(204, [], b"")


rsgi_application = _RsgiFloor()
