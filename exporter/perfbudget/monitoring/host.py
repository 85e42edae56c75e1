"""resourceUsage of the host perfbudget runs on, from psutil: CPU, memory and disk in percent of capacity,
network in percent of the interfaces' link speed where the system reports one (else None and why).

CPU and network are rates: each is measured between two calls of `sample()` in this process (the first
call measures from when the sampler was made). The disk is the file system that holds the data directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil


class HostSampler:
    def __init__(self, disk_path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._disk = disk_path
        self._clock = clock
        self._lock = threading.Lock()
        psutil.cpu_percent(interval=None)  # primes the CPU times the next call measures from
        self._net = (clock(), self._net_bytes())

    @staticmethod
    def _net_bytes() -> dict[str, tuple[int, int]]:
        return {nic: (c.bytes_sent, c.bytes_recv) for nic, c in psutil.net_io_counters(pernic=True).items()}

    def sample(self) -> dict[str, Any]:
        """{cpu, memory, disk, network, reasons: {figure: why it is None}}; percentages rounded to 0.1."""
        reasons: dict[str, str] = {}
        with self._lock:
            cpu = round(psutil.cpu_percent(interval=None), 1)
            network = self._network(reasons)
        memory = round(psutil.virtual_memory().percent, 1)
        disk: float | None
        try:
            disk = round(psutil.disk_usage(str(self._existing(self._disk))).percent, 1)
        except OSError as exc:
            disk, reasons["disk"] = None, f"cannot read the file system of {self._disk}: {exc.strerror}"
        return {"cpu": cpu, "memory": memory, "disk": disk, "network": network, "reasons": reasons}

    @staticmethod
    def _existing(path: Path) -> Path:
        while not path.exists() and path != path.parent:
            path = path.parent
        return path

    def _network(self, reasons: dict[str, str]) -> float | None:
        """The busiest direction of the busiest interface, in percent of its link speed (full duplex)."""
        now, counters = self._clock(), self._net_bytes()
        then, before = self._net
        self._net = (now, counters)
        stats = psutil.net_if_stats()
        up = {nic: s for nic, s in stats.items() if s.isup and "loopback" not in s.flags and nic != "lo"}
        rated = {nic: s.speed for nic, s in up.items() if s.speed > 0}
        if not rated:
            names = ", ".join(sorted(up)) or "none up"
            reasons["network"] = (f"no network interface reports a link speed (psutil's net_if_stats speed is 0 "
                                  f"for: {names}), so there is no capacity to compare with")
            return None
        elapsed = now - then
        if elapsed <= 0:
            reasons["network"] = "no time has passed since the last sample"
            return None
        busiest = 0.0
        for nic, mbps in rated.items():
            sent, received = counters.get(nic, (0, 0))
            old_sent, old_received = before.get(nic, (sent, received))
            rate = max(sent - old_sent, received - old_received, 0) * 8 / elapsed  # bits per second
            busiest = max(busiest, 100.0 * rate / (mbps * 1_000_000))
        return round(busiest, 1)
