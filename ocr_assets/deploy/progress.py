"""Progress of a deployment: counts, elapsed time and an estimate of the time left.

Pure bookkeeping, no I/O: the deploy ops feed it each finished unit (a region run, a roll-up)
and print the line it gives. The estimate of what is left is, per unit still to do, its own
duration in the last deployment when known (the roll-ups differ a lot from one another), else
the mean duration of the units finished so far, divided by the units running at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    """``seconds`` for a person: ``4.2 s``, ``38 s``, ``3 min 20 s``, ``1 h 05 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Progress:
    """Units of one kind to finish (``[3/10] ...`` lines).

    Attributes:
        units: Every unit to finish, in order.
        at_a_time: Units running at once (the estimate divides by it).
        previous: Seconds each unit took last time, where known.
        done: Seconds each finished unit took.
    """

    units: tuple[str, ...]
    at_a_time: int = 1
    previous: Mapping[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)

    def finish(self, unit: str, seconds: float) -> int:
        """Record ``unit`` as finished after ``seconds``; its number (1-based)."""
        self.done[unit] = seconds
        return len(self.done)

    @property
    def left(self) -> list[str]:
        """The units not finished yet, in order."""
        return [unit for unit in self.units if unit not in self.done]

    def estimate(self) -> float | None:
        """Seconds left (``None``: nothing to estimate from yet)."""
        left = self.left
        if not left:
            return 0.0
        mean = sum(self.done.values()) / len(self.done) if self.done else None
        total = 0.0
        for unit in left:
            seconds = self.previous.get(unit, mean)
            if seconds is None:
                return None
            total += seconds
        return total / max(1, min(self.at_a_time, len(left)))

    def line(self, unit: str, outcome: str) -> str:
        """``[n/total] unit outcome; k left, about T`` (after :meth:`finish`)."""
        number = list(self.done).index(unit) + 1
        text = f"[{number}/{len(self.units)}] {unit} {outcome}"
        left = len(self.left)
        if not left:
            return text
        estimate = self.estimate()
        about = f", about {duration(estimate)}" if estimate is not None else ""
        return f"{text}; {left} left{about}"
