"""The application granian's workers load (`perfbudget.server.rsgi:application`): the WSGI app of
`server/wsgi.py` behind the asynchronous front that reads every body with a deadline."""

from __future__ import annotations

from ..config import load_config
from .front import Front
from .wsgi import application as _wsgi_app
from .wsgi import config as _config

_in_force = _config if _config is not None else load_config()
application = Front(
    _wsgi_app,
    body_timeout=_in_force.server.body_timeout,
    beacon_cap=_in_force.beacons.max_body_bytes,
    cap=int(_wsgi_app.config["MAX_CONTENT_LENGTH"]),
    threads=_in_force.server.threads,
)
