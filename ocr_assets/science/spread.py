"""Directional spreading of burn probability and the wind-weighted composite (steps 3-4).

Public entry points:

- :func:`spread_burn_probability` returns all 8 spread fields (the published intermediate).
- :func:`weighted_composite` weights them by the fire-weather wind distribution.
- :func:`wind_informed_burn_probability` gives the same values as the two above, but spreads one
  direction at a time and folds it into the composite immediately, so at most one spread field,
  one set of prefix sums and the composite are alive at once (the pipeline's path).
"""

from __future__ import annotations

import numba
import numpy as np
import xarray as xr

from ._filters import SpreadWorkspace, footprint, spread_direction
from .kernels import DIRECTION_DIM, DIRECTIONS, wind_kernels

BACKENDS = ("cpu", "cupy")
GRID_DIMS = ("latitude", "longitude")
_REGULAR_RTOL = 1e-6


def _regular_ascending(values: np.ndarray, name: str, what: str) -> float:
    """Check a coordinate is strictly ascending and regular; return its step."""
    if values.size < 2:
        raise ValueError(f"{what}: coordinate {name!r} needs at least 2 values, got {values.size}")
    steps = np.diff(values.astype(np.float64))
    if not np.all(steps > 0):
        bad = int(np.argmax(steps <= 0))
        raise ValueError(
            f"{what}: coordinate {name!r} must be strictly ascending; "
            f"{values[bad]!r} is followed by {values[bad + 1]!r}"
        )
    step = (float(values[-1]) - float(values[0])) / (values.size - 1)
    worst = float(np.max(np.abs(steps - step)))
    if worst > _REGULAR_RTOL * step:
        raise ValueError(
            f"{what}: coordinate {name!r} is irregular: steps deviate from {step!r} by up to {worst!r}"
        )
    return step


def check_grid(
    da: xr.DataArray, what: str, extra_dims: tuple[str, ...] = ()
) -> tuple[float, float]:
    """Validate a (latitude, longitude[, extra]) raster; return (lat step, lon step) in degrees."""
    expected = (*GRID_DIMS, *extra_dims)
    if tuple(da.dims) != expected:
        raise ValueError(f"{what}: expected dims {expected}, got {tuple(da.dims)}")
    for dim in GRID_DIMS:
        if dim not in da.coords:
            raise ValueError(f"{what}: missing coordinate {dim!r}")
    dlat = _regular_ascending(np.asarray(da["latitude"].values), "latitude", what)
    dlon = _regular_ascending(np.asarray(da["longitude"].values), "longitude", what)
    return dlat, dlon


def kernels_for(da: xr.DataArray) -> dict[str, np.ndarray]:
    """The 8 kernels for a raster's own grid (centre pixel ``len // 2`` of each coordinate)."""
    dlat, dlon = check_grid(da, "burn probability", tuple(d for d in da.dims if d not in GRID_DIMS))
    lat = np.asarray(da["latitude"].values)
    lon = np.asarray(da["longitude"].values)
    return wind_kernels(float(lat[lat.size // 2]), float(lon[lon.size // 2]), dlat, dlon)


def _prepared(bp: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """NaN-free float32 copy of the raster and its NaN mask (NaNs become 0)."""
    arr = np.asarray(bp.values, dtype=np.float32)
    nan = np.isnan(arr)
    arr = np.where(nan, np.float32(0.0), arr).astype(np.float32, copy=False)
    return np.ascontiguousarray(arr), nan


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")


def _check_iterations(iterations: int) -> None:
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int | np.integer)
        or iterations < 0
    ):
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")


def spread_burn_probability(
    bp: xr.DataArray, iterations: int = 3, *, backend: str = "cpu"
) -> xr.Dataset:
    """Spread burn probability downwind in each of the 8 directions (step 3).

    ``bp`` has dims ``(latitude, longitude)``, both ascending and regular. Returns a Dataset with
    one float32 variable per direction label (``N`` .. ``NW``) on ``bp``'s coordinates. NaNs in
    ``bp`` are treated as 0 while spreading and restored in every output. ``backend="cupy"``
    runs the same arithmetic on a CUDA GPU (identical results).
    """
    _check_iterations(iterations)
    _check_backend(backend)
    kernels = kernels_for(bp)
    arr, nan = _prepared(bp)
    out = xr.Dataset(coords=bp.coords)
    if backend == "cupy":
        from .gpu import GpuSpreader

        gpu = GpuSpreader(arr)
        spreads = {d: gpu.spread(footprint(kernels[d]), iterations).get() for d in DIRECTIONS}
    else:
        workspace = SpreadWorkspace(arr.shape)
        spreads = {
            d: spread_direction(arr, footprint(kernels[d]), iterations, workspace)
            for d in DIRECTIONS
        }
    for direction, spread in spreads.items():
        spread[nan] = np.nan
        out[direction] = (GRID_DIMS, spread)
        out[direction].attrs = {
            "long_name": f"burn probability spread by wind from {direction}",
            "units": "1",
        }
    out.attrs = {"iterations": iterations, "kernel": "81x81 binary ellipse, 400 m x 200 m"}
    return out


def _distribution_array(dist: xr.DataArray, bp: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Validate the wind distribution against ``bp``'s grid.

    Returns the float32 ``(lat, lon, 8)`` weights (no copy when the input already is one) and
    the index of each of N..NW along the last axis, so labels may come in any order.
    """
    what = "wind distribution"
    if set(dist.dims) != {*GRID_DIMS, DIRECTION_DIM}:
        raise ValueError(
            f"{what}: expected dims {(*GRID_DIMS, DIRECTION_DIM)}, got {tuple(dist.dims)}"
        )
    if DIRECTION_DIM not in dist.coords:
        raise ValueError(f"{what}: missing {DIRECTION_DIM!r} labels; expected {list(DIRECTIONS)}")
    labels = [str(v) for v in dist[DIRECTION_DIM].values]
    if sorted(labels) != sorted(DIRECTIONS) or len(labels) != len(DIRECTIONS):
        raise ValueError(f"{what}: direction labels must be {list(DIRECTIONS)}, got {labels}")
    order = np.asarray([labels.index(d) for d in DIRECTIONS], dtype=np.int64)
    dist = dist.transpose(*GRID_DIMS, DIRECTION_DIM)
    check_grid(dist, what, (DIRECTION_DIM,))
    for dim in GRID_DIMS:
        a = np.asarray(dist[dim].values, dtype=np.float64)
        b = np.asarray(bp[dim].values, dtype=np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=1e-9):
            raise ValueError(
                f"{what}: {dim} grid does not match the burn probability grid "
                f"({a.size} values {a[0]!r}..{a[-1]!r} vs {b.size} values {b[0]!r}..{b[-1]!r})"
            )
    weights = np.ascontiguousarray(np.asarray(dist.values, dtype=np.float32))
    if np.fmin.reduce(weights, axis=None) < 0:  # NaN-ignoring minimum, no temporary array
        where = np.argwhere(weights < 0)[0]
        raise ValueError(
            f"{what}: negative weight {weights[tuple(where)]!r} at "
            f"(latitude index {where[0]}, longitude index {where[1]}, {labels[where[2]]})"
        )
    return weights, order


@numba.njit(parallel=True, cache=True, nogil=True)
def _accumulate(composite, spread, nan, weights, order, d):  # pragma: no cover - numba
    """Add direction ``d``'s weighted spread to the composite, the published way, in float32.

    Weights are renormalised by their (pairwise float32) sum where it is > 0 and none is NaN;
    elsewhere the composite is NaN. Spread values at NaN input pixels are skipped (count 0).
    The sum over directions runs sequentially N..NW in float32, as a reduction over the
    stacked direction axis does.
    """
    h, w = composite.shape
    for y in numba.prange(h):
        for x in range(w):
            wv = weights[y, x]
            w0, w1, w2, w3 = wv[order[0]], wv[order[1]], wv[order[2]], wv[order[3]]
            w4, w5, w6, w7 = wv[order[4]], wv[order[5]], wv[order[6]], wv[order[7]]
            total = ((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7))
            if not (total > 0):  # also catches NaN totals (any NaN weight)
                composite[y, x] = np.float32(np.nan)
                continue
            term = np.float32(0.0)
            if not nan[y, x]:
                term = np.float32(spread[y, x] * np.float32(wv[order[d]] / total))
            composite[y, x] = term if d == 0 else np.float32(composite[y, x] + term)


def _composite_array(values: np.ndarray, coords: object) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=GRID_DIMS,
        coords=coords,
        name="wind_weighted_bp",
        attrs={
            "long_name": "wind-weighted composite burn probability",
            "units": "1",
            "direction_labels": list(DIRECTIONS),
            "note": "NaN where the wind distribution is all zero (no fire-weather hours) or NaN",
        },
    )


def weighted_composite(spread: xr.Dataset, wind_distribution: xr.DataArray) -> xr.DataArray:
    """Weight the 8 spread fields by the wind-direction distribution (step 4).

    ``wind_distribution`` has dims ``(latitude, longitude, wind_direction)`` labelled N..NW on the
    spread grid. Weights are renormalised to sum 1 where their sum is > 0 and none is NaN; the
    result is NaN elsewhere. A negative weight raises ``ValueError``. NaN spread values are
    skipped, so a NaN input pixel with fire weather comes out 0.
    """
    missing = [d for d in DIRECTIONS if d not in spread.data_vars]
    if missing:
        raise ValueError(f"spread dataset is missing direction variable(s) {missing}")
    template = spread[DIRECTIONS[0]]
    check_grid(template, "spread")
    weights, order = _distribution_array(wind_distribution, template)
    composite = np.empty(template.shape, dtype=np.float32)
    for d, direction in enumerate(DIRECTIONS):
        values = np.ascontiguousarray(np.asarray(spread[direction].values, dtype=np.float32))
        _accumulate(composite, values, np.isnan(values), weights, order, d)
    return _composite_array(composite, template.coords)


def wind_informed_burn_probability(
    bp: xr.DataArray,
    wind_distribution: xr.DataArray,
    iterations: int = 3,
    *,
    backend: str = "cpu",
) -> xr.DataArray:
    """Wind-weighted composite of the spread burn probability, computed lean and fast.

    Same values as ``weighted_composite(spread_burn_probability(bp, iterations),
    wind_distribution)``; directions are spread one at a time and folded into the composite.
    ``backend="cupy"`` runs the same arithmetic on a CUDA GPU (identical results).
    """
    _check_iterations(iterations)
    _check_backend(backend)
    kernels = kernels_for(bp)
    weights, order = _distribution_array(wind_distribution, bp)
    arr, nan = _prepared(bp)
    if backend == "cupy":
        composite = _composite_on_gpu(arr, nan, weights, order, kernels, iterations)
    else:
        workspace = SpreadWorkspace(arr.shape)
        composite = np.empty(arr.shape, dtype=np.float32)
        spread = np.empty_like(arr)
        for d, direction in enumerate(DIRECTIONS):
            spread_direction(arr, footprint(kernels[direction]), iterations, workspace, out=spread)
            _accumulate(composite, spread, nan, weights, order, d)
    return _composite_array(composite, bp.coords)


def _composite_on_gpu(
    arr: np.ndarray,
    nan: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    kernels: dict[str, np.ndarray],
    iterations: int,
) -> np.ndarray:
    from .gpu import GpuSpreader

    gpu = GpuSpreader(arr)
    cp = gpu.cp
    nan_d, weights_d = cp.asarray(nan), cp.asarray(weights)
    composite = cp.empty(arr.shape, dtype=cp.float32)
    for d, direction in enumerate(DIRECTIONS):
        spread = gpu.spread(footprint(kernels[direction]), iterations)
        gpu.accumulate(composite, spread, nan_d, weights_d, order, d)
    return composite.get()
