"""Straightforward implementation of the published directional spreading (test oracle).

This module is deliberately the plain, obviously faithful transcription of the published
approach (wind-informed burn probability steps 3 and 4 of docs/science.md): one ``cv2.filter2D``
call per direction, per iteration, for the valid mask and for the values, then a weighted
composite done with whole-array numpy operations. It is slow and memory hungry on a full
buffered region (roughly a minute and ~11 GB), and it is not used by the pipeline: it exists
as the oracle that the fast implementation in :mod:`ocr_assets.science` is tested against,
and as the baseline of ``benchmarks/bench_spread.py``.

Array orientation: rows are latitude ascending (the row index grows northward), columns
longitude ascending, and the kernels from ``wind_kernels`` are laid out the same way, so
arrays and kernels are passed to OpenCV as they are.
"""

from __future__ import annotations

import cv2
import numpy as np

from .kernels import DIRECTIONS  # order of the distribution's last axis (indices 0..7)

#: Correlation results below this are set to 0 (published behaviour; it relies on the
#: filter being exact where no valid pixel is under the kernel).
CLIP_THRESHOLD = 1e-11


def _correlate(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate ``arr`` with ``kernel`` the published way.

    ``cv2.filter2D`` computes a correlation (the kernel is not flipped), anchored at the
    kernel's centre cell, with reflect-101 borders; the output keeps the input's float32 type.
    """
    return cv2.filter2D(arr, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _spread_one(bp: np.ndarray, kernel: np.ndarray, iterations: int) -> np.ndarray:
    """Spread one 2-D float32 burn-probability array with one kernel (step 3)."""
    nan = np.isnan(bp)
    arr = np.where(nan, np.float32(0), bp)
    for _ in range(iterations):
        valid = (arr > 0).astype(np.float32)
        m = _correlate(valid, kernel)
        m[m < CLIP_THRESHOLD] = 0
        c = _correlate(arr, kernel)
        c[c < CLIP_THRESHOLD] = 0
        # arr = c / m where m > 0, else 0 (np.divide with `where` avoids 0/0 warnings).
        arr = np.zeros_like(c)
        np.divide(c, m, out=arr, where=m > 0)
    arr[nan] = np.nan
    return arr


def reference_spread(
    bp: np.ndarray, kernels: dict[str, np.ndarray], iterations: int = 3
) -> dict[str, np.ndarray]:
    """Spread burn probability along each wind direction (published approach, step 3).

    Parameters
    ----------
    bp
        2-D burn probability, rows latitude ascending, columns longitude ascending. NaN marks
        no data; it is treated as 0 while spreading and restored at the end.
    kernels
        Correlation kernels keyed by direction (typically ``wind_kernels(...)``), laid out
        like ``bp`` (row index grows northward), anchored at their centre cell.
    iterations
        Number of spreading iterations (3 in the published method).

    Returns
    -------
    dict[str, np.ndarray]
        One float32 array shaped like ``bp`` per key of ``kernels``.
    """
    bp32 = np.asarray(bp, dtype=np.float32)
    if bp32.ndim != 2:
        raise ValueError(f"bp must be 2-D, got shape {bp32.shape}")
    return {
        direction: _spread_one(bp32, np.asarray(kernel, dtype=np.float32), iterations)
        for direction, kernel in kernels.items()
    }


def reference_composite(spread: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted composite of the directional spreads (published approach, step 4).

    Parameters
    ----------
    spread
        Spread burn probability per direction; must hold every key of :data:`DIRECTIONS`.
    weights
        Wind-direction distribution shaped ``(lat, lon, 8)``, last axis in the order of
        :data:`DIRECTIONS`.

    Returns
    -------
    np.ndarray
        Float32 ``(lat, lon)``: per pixel the sum over directions of spread x weight, with the
        weights renormalised to sum 1. NaN spread values are skipped in the sum; the result
        is NaN where the weights sum to 0 or any weight is NaN.

    Raises
    ------
    ValueError
        If any weight is negative, or the shapes do not match.
    """
    w = np.moveaxis(np.asarray(weights, dtype=np.float32), -1, 0)
    stack = np.stack([np.asarray(spread[d], dtype=np.float32) for d in DIRECTIONS])
    if w.shape != stack.shape:
        raise ValueError(
            f"weights shaped {np.asarray(weights).shape} do not match spread "
            f"{stack.shape[1:]} x {len(DIRECTIONS)} directions"
        )
    if np.any(w < 0):
        raise ValueError("wind distribution weights must not be negative")
    total = w.sum(axis=0)
    valid = (total > 0) & ~np.isnan(w).any(axis=0)
    normalised = np.divide(w, total, out=np.zeros_like(w), where=valid)
    composite = np.nansum(stack * normalised, axis=0, dtype=np.float32)
    composite[~valid] = np.nan
    return composite


def reference_wind_informed_bp(
    bp: np.ndarray,
    weights: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    iterations: int = 3,
) -> np.ndarray:
    """Wind-informed composite burn probability, the straightforward way (steps 3 and 4).

    The kernels come from ``wind_kernels`` evaluated at the centre pixel of the coordinates
    (index ``len // 2`` of each), with the pixel spacing taken from the first step of each
    coordinate.

    Parameters
    ----------
    bp
        2-D burn probability ``(lat, lon)``, both coordinates ascending.
    weights
        Wind-direction distribution ``(lat, lon, 8)`` in the order of :data:`DIRECTIONS`.
    latitude, longitude
        1-D pixel-centre coordinates in degrees, ascending, matching ``bp``'s shape.
    iterations
        Number of spreading iterations.

    Returns
    -------
    np.ndarray
        Float32 ``(lat, lon)`` composite, see :func:`reference_composite`.
    """
    # Imported here so the oracle's spreading and composite stay usable on their own.
    from ocr_assets.science import wind_kernels

    latitude = np.asarray(latitude, dtype=np.float64)
    longitude = np.asarray(longitude, dtype=np.float64)
    if np.shape(bp) != (latitude.size, longitude.size):
        raise ValueError(
            f"bp shaped {np.shape(bp)} does not match coordinates "
            f"({latitude.size}, {longitude.size})"
        )
    kernels = wind_kernels(
        float(latitude[latitude.size // 2]),
        float(longitude[longitude.size // 2]),
        float(latitude[1] - latitude[0]),
        float(longitude[1] - longitude[0]),
    )
    return reference_composite(reference_spread(bp, kernels, iterations), weights)
