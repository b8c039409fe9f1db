"""Measuring helpers the benchmarks share: CPU time of this process and its children, peak
resident memory sampled, and the JSON report."""

from __future__ import annotations

import json
import resource
import threading
from pathlib import Path
from typing import Any

import psutil

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_WHO = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)


def usage() -> list[resource.struct_rusage]:
    """Resource usage of this process and of its finished children, now."""
    return [resource.getrusage(who) for who in _WHO]


def cpu_seconds_since(before: list[resource.struct_rusage]) -> float:
    """CPU seconds (user and system) this process and its finished children used since
    :func:`usage` returned ``before``."""
    return sum(
        (a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime)
        for a, b in zip(usage(), before, strict=True)
    )


class Sampler:
    """Peak resident memory of this process and of the sum of its children, sampled."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak_self = self.peak_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                children = self.process.children(recursive=True)
                total = 0
                for child in children:
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        continue
                self.peak_children = max(self.peak_children, total)
                self.peak_self = max(self.peak_self, self.process.memory_info().rss)
            except psutil.Error:
                continue

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_report(report: dict[str, Any], name: str) -> Path:
    """Write ``report`` as ``results/{name}-{report['when']}.json``; its path (printed)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{report['when'].replace(':', '')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"report: {path}")
    return path
