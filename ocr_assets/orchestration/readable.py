"""Metadata values for people: sizes in binary units, numbers to a few significant digits.

The UI shows a metadata value as it is given: ``3412345`` bytes or ``0.27417395116043091``
say less than ``3.3 MiB`` and ``0.2742``. Everything an asset reports goes through these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Significant digits of a reported number.
DIGITS = 4

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def size_text(size: int) -> str:
    """``size`` bytes as ``512 bytes``, ``3.3 MiB``, ``1.2 GiB``."""
    if size < 1024:
        return f"{size} bytes"
    exponent = min(int(math.log(size, 1024)), len(_UNITS) - 1)
    return f"{size / 1024**exponent:.3g} {_UNITS[exponent]}"


def significant(value: float, digits: int = DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (NaN and infinities unchanged)."""
    if not math.isfinite(value) or value == 0:
        return float(value)
    return float(f"{value:.{digits}g}")


def rounded(value: Any, digits: int = DIGITS) -> Any:
    """``value`` with every float inside (mappings and sequences too) to ``digits``
    significant digits."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return significant(value, digits)
    if isinstance(value, Mapping):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, Sequence):
        return [rounded(item, digits) for item in value]
    return value
