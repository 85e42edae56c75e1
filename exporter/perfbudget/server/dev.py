"""Flask's development server, one process, for `perfbudget serve --dev`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from werkzeug.serving import run_simple

from ..app import close_app, create_app
from ..config import Config


class _Reloadable:
    """The development server's app, rebuilt whole from the new config on `POST /-/reload`.

    (The production server reloads by restarting its workers on SIGHUP instead.) The new app gets a new
    registry, so counters restart from zero, which Prometheus handles as a counter reset.
    """

    def __init__(self, config: Config, path: Path | None) -> None:
        self._path = path
        self.app = self._build(config)

    def _build(self, config: Config) -> Any:
        return create_app(config, config_file=self._path, swap=self.swap)

    def swap(self, config: Config) -> None:
        old, self.app = self.app, self._build(config)
        close_app(old)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


def run_dev(config: Config, path: Path | None) -> int:
    print(f"perfbudget: development server on http://{config.server.listen_address}/", file=sys.stderr)
    run_simple(config.server.host, config.server.port, _Reloadable(config, path), threaded=True)
    return 0
