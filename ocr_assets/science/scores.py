"""Risk scores 0..10 from RPS (docs/science.md, "Scores")."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import xarray as xr

ArrayLike = TypeVar("ArrayLike", np.ndarray, xr.DataArray)

SCORE_EDGES: tuple[float, ...] = (0.01, 0.02, 0.035, 0.06, 0.1, 0.2, 0.5, 1.0, 3.0, 100.0)
"""Upper bin edges: score 1 is 0 < RPS < 0.01, ..., score 10 is 3 <= RPS <= 100."""
N_SCORES = 11
NO_SCORE = -1


def risk_score(rps: ArrayLike) -> ArrayLike:
    """Score 0..10 (int8) from RPS; ``-1`` where RPS is NaN.

    0 is RPS == 0; then left-closed bins with edges 0.01, 0.02, 0.035, 0.06, 0.1, 0.2, 0.5, 1, 3
    (score 10 is 3 <= RPS <= 100). Edges are compared at the input's precision, so a float32 0.01
    is score 2 and a float32 0.06 is score 5. Values below 0 or above 100 raise ``ValueError``.
    """
    values = np.asarray(rps)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.dtype(np.float64)
    values = values.astype(dtype, copy=False)
    edges = np.asarray(SCORE_EDGES[:-1], dtype=dtype)
    top = dtype.type(SCORE_EDGES[-1])
    with np.errstate(invalid="ignore"):
        bad = (values < 0) | (values > top)
    if bad.any():
        example = values[bad].ravel()[0]
        raise ValueError(
            f"risk_score: {int(bad.sum())} RPS value(s) outside [0, 100], e.g. {example!r}"
        )
    scores = (np.digitize(values, edges) + 1).astype(np.int8)
    scores[values == 0] = 0
    scores[np.isnan(values)] = NO_SCORE
    if isinstance(rps, xr.DataArray):
        return rps.copy(data=scores).rename("risk_score")
    return scores


def score_histogram(rps: np.ndarray) -> np.ndarray:
    """Counts of scores 0..10 (11 int64 counts, zeros first); NaN values are not counted."""
    scores = risk_score(np.asarray(rps))
    return np.bincount(scores[scores >= 0].ravel(), minlength=N_SCORES).astype(np.int64)
