"""The 11 risk-score classes the preview colours everything by: bin edges, colours, labels.

The classes are those of the published histograms (``risk_score_YYYY_hist``): class 0 is an RPS
of exactly 0, then upper-inclusive bins ``(0, 0.01], (0.01, 0.02], ..., (3, 100]`` for classes
1..10, with the edges of :data:`ocr_assets.science.scores.SCORE_EDGES`. The colours are a
sequential yellow-orange-red ramp (ColorBrewer YlOrRd, extended by one darker step) with a grey
for class 0; the published web map's own palette is not in the published data, so this is our
choice (see docs/preview.md).

Pure: numpy only.
"""

from __future__ import annotations

import numpy as np

from ocr_assets.science.scores import N_SCORES, SCORE_EDGES

#: Colour of each class 0..10 (hex RGB).
CLASS_COLOURS: tuple[str, ...] = (
    "#d9d9d9",
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
    "#4d0013",
)


def class_labels() -> list[str]:
    """Legend text of each class, the RPS it covers: ``"0"``, ``"(0, 0.01]"``, ..., ``"(3, 100]"``."""
    lows = (0.0, *SCORE_EDGES[:-1])
    return ["0", *(f"({low:g}, {high:g}]" for low, high in zip(lows, SCORE_EDGES, strict=True))]


def risk_class(values: np.ndarray) -> np.ndarray:
    """Class 0..10 (int8) of each RPS value; ``-1`` where NaN or outside ``[0, 100]``.

    Upper-inclusive bins as the published histograms: ``0.01`` is class 1, ``0.0100001`` class 2.
    Edges are compared at the input's float precision.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    edges = np.asarray(SCORE_EDGES, dtype=values.dtype)
    classes = (np.searchsorted(edges, values, side="left") + 1).astype(np.int8)
    with np.errstate(invalid="ignore"):
        classes[values == 0] = 0
        classes[~((values >= 0) & (values <= edges[-1]))] = -1
    return classes


def class_rgba() -> np.ndarray:
    """``(12, 4)`` uint8 lookup table: rows 0..10 the class colours, row 11 transparent.

    Index it with ``risk_class(values)`` directly: class ``-1`` picks the last row.
    """
    table = np.zeros((N_SCORES + 1, 4), dtype=np.uint8)
    for index, colour in enumerate(CLASS_COLOURS):
        table[index, :3] = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        table[index, 3] = 255
    return table
