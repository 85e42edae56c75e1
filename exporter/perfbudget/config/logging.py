"""The structured event log (`eventlog.py`): where its JSON lines go, from which level, what they may hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from .base import StrictModel

EventLevel = Literal["debug", "info", "warning", "error", "off"]


class LoggingConfig(StrictModel):
    # The event log's level: "info" writes every event, "warning" only alerts that fire, refusals and failed
    # reloads, "off" none. Events never go to the human logs, nor the human logs to the event log.
    events_level: EventLevel = "info"
    # A file the events are appended to (one write per line, so every worker can share it); stdout when
    # unset. Rotate it from outside (logrotate without copytruncate): each worker reopens the file once it
    # sees the name point at a new one, so nothing is lost and no line is split.
    events_file: Path | None = None
    # beacon_rejected lines per minute, per reason and per worker; the rest are counted in the next line's
    # `suppressed`.
    rejected_per_minute: Annotated[int, Field(ge=0, le=10_000)] = 10
    # Whether auth_refused lines carry the client address (off: addresses are personal data).
    client_addresses: bool = False
