"""The HTTP server: listen address, workers, threads, proxies."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from .base import StrictModel
from .beacons import rate_limit_notation


def _default_workers() -> int:
    return max(2, os.cpu_count() or 2)


class ServerConfig(StrictModel):
    listen_address: str = "127.0.0.1:9478"
    workers: Annotated[int, Field(ge=1, le=256)] = Field(default_factory=_default_workers)
    # Production server, chosen on measurements (benchmarks/ingest.py): granian unless you need gunicorn.
    server: Literal["granian", "gunicorn", "gunicorn-gthread"] = "granian"
    # Threads per worker: under granian, the pool that runs every request but beacons once its body is in
    # (bodies are read by the event loop and hold no thread); gunicorn-gthread's threads, where a client
    # sending its body slowly holds one. Default 2 * cores + 1, the most granian runs without warning about
    # GIL contention.
    threads: Annotated[int, Field(ge=1, le=256)] = Field(default_factory=lambda: 2 * (os.cpu_count() or 2) + 1)
    # Seconds a client has to send its request headers, and then its whole body (granian): past it, a 408 and
    # the connection closed. Idle keep-alive connections are closed after it too.
    body_timeout: Annotated[float, Field(ge=1, le=600)] = 10.0
    # How many reverse-proxy hops to trust in X-Forwarded-For when finding the client address.
    trusted_proxy_hops: Annotated[int, Field(ge=0, le=10)] = 0
    # Anonymous reads of the summary (GET /api/web-vitals) and the console (GET /), per client address keyed
    # like the beacon limit, in Flask-Limiter notation, or "off". A request with a valid token is not limited.
    read_rate_limit: Annotated[str, AfterValidator(rate_limit_notation)] = "20/second"
    # Seconds an answer of those reads is shared by every worker while no report arrives (about one second
    # while reports do) before it is computed again; 0: never cached.
    read_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    # The console refreshes its figures and runs this often, in place (no reload); 0: never. The founding
    # design's dashboard refreshes every 30 s.
    console_refresh_seconds: Annotated[int, Field(ge=0, le=3600)] = 30

    @field_validator("listen_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT with a port between 1 and 65535")
        if host.startswith("[") != host.endswith("]"):
            raise ValueError("an IPv6 host must be written in brackets, like [::1]:9478")
        return value

    @property
    def host(self) -> str:
        return self.listen_address.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen_address.rpartition(":")[2])
