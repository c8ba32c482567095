"""Resources used over a measured window: CPU of the gateway's process tree, of the fake, of
the driver, and of everything else on the machine; memory sampled mid-window."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench import procs


@dataclass
class Usage:
    seconds: float
    gateway_cpu_s: float | None  # None when the gateway's process is not ours to watch
    fake_util: float
    driver_util: float
    background_util: float  # cores used by processes that are not part of the run

    @property
    def gateway_util(self) -> float | None:
        return None if self.gateway_cpu_s is None else self.gateway_cpu_s / self.seconds


class ResourceWindow:
    def __init__(self, gateway_pids: list[int], fake_pid: int) -> None:
        self.gateway = [pid for root in gateway_pids for pid in procs.tree(root)]
        self.fake = [fake_pid] if fake_pid != os.getpid() else []
        self.driver = [os.getpid()]

    def _read(self) -> tuple[float, float, float, float, float]:
        return (
            time.monotonic(),
            procs.cpu_seconds(self.gateway),
            procs.cpu_seconds(self.fake),
            procs.cpu_seconds(self.driver),
            procs.busy_seconds(),
        )

    def open(self) -> None:
        self.start = self._read()

    def memory(self) -> tuple[float | None, float | None]:
        """(PSS MB, RSS MB) of the gateway's process tree now."""
        if not self.gateway:
            return None, None
        return procs.pss_kb(self.gateway) / 1024, procs.rss_kb(self.gateway) / 1024

    def close(self) -> Usage:
        end = self._read()
        t0, gateway0, fake0, driver0, busy0 = self.start
        t1, gateway1, fake1, driver1, busy1 = end
        seconds = t1 - t0
        gateway = gateway1 - gateway0
        fake, driver = (fake1 - fake0) / seconds, (driver1 - driver0) / seconds
        ours = gateway / seconds + fake + driver
        return Usage(
            seconds=seconds,
            gateway_cpu_s=gateway if self.gateway else None,
            fake_util=fake,
            driver_util=driver,
            background_util=max(0.0, (busy1 - busy0) / seconds - ours),
        )
