"""The region grid of the inputs, derived from the CRPS store, and its valid region IDs.

Never assumed: pixel size, origin and shape come from the store's coordinates, the region size
from its storage chunks (the last chunk of an axis may be partial). Bad input raises
``ValueError`` naming the store, the expected and the found value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ocr_assets.catalog.validation import COORD_TOLERANCE_PX, check_crs, crs_of, data_var
from ocr_assets.regions import RegionGrid

# The two axes' steps may differ by this fraction of a pixel.
_STEP_TOLERANCE = 1e-9


def grid_of(store: str, ds: xr.Dataset, var: str) -> RegionGrid:
    """The region grid of ``ds[var]``: pixel size, origin and shape from its coordinates, the
    region size from its storage chunks (the last chunk of an axis may be partial).

    Raises:
        ValueError: naming ``store``, the expected and the found value, when the variable is
            not on ascending, regular ``(latitude, longitude)`` EPSG:4326 coordinates with one
            step along both axes, or has no usable chunking.
    """
    da = data_var(ds, var, store)
    if da.dims != ("latitude", "longitude"):
        raise ValueError(f"{store}: {var} dims must be ('latitude', 'longitude'), found {da.dims}")
    check_crs(store, crs_of(ds, var), 4326)
    axes = {name: np.asarray(ds[name].values, dtype=np.float64) for name in da.dims}
    steps = {}
    for name, coord in axes.items():
        if coord.size < 2:
            raise ValueError(
                f"{store}: coordinate {name!r} needs at least 2 values, found {coord.size}"
            )
        step = float((coord[-1] - coord[0]) / (coord.size - 1))
        if not step > 0:
            raise ValueError(f"{store}: coordinate {name!r} must be ascending, it is not")
        steps[name] = step
    pixel_size = steps["latitude"]
    if abs(steps["longitude"] - pixel_size) > _STEP_TOLERANCE * pixel_size:
        raise ValueError(
            f"{store}: the pixel size must be the same along both axes, found "
            f"{pixel_size!r} (latitude) and {steps['longitude']!r} (longitude)"
        )
    for name, coord in axes.items():
        centres = coord[0] + np.arange(coord.size) * pixel_size
        worst = int(np.argmax(np.abs(coord - centres)))
        if abs(coord[worst] - centres[worst]) > COORD_TOLERANCE_PX * pixel_size:
            raise ValueError(
                f"{store}: coordinate {name!r} must be regular with step {pixel_size!r} "
                f"(within {COORD_TOLERANCE_PX} pixel), found {float(coord[worst])!r} at index "
                f"{worst} where {float(centres[worst])!r} was expected"
            )
    region_rows, region_cols = _region_chunks(store, da)
    return RegionGrid(
        west=float(axes["longitude"][0] - pixel_size / 2),
        south=float(axes["latitude"][0] - pixel_size / 2),
        pixel_size=float(pixel_size),
        height=int(axes["latitude"].size),
        width=int(axes["longitude"].size),
        region_rows=region_rows,
        region_cols=region_cols,
    )


def _region_chunks(store: str, da: xr.DataArray) -> tuple[int, int]:
    """``(rows, cols)`` of the storage chunks of ``da`` (the dask chunks when not stored):
    uniform along each axis except for a smaller last chunk."""
    encoded = da.encoding.get("chunks")
    if encoded is not None:
        rows, cols = (int(c) for c in encoded)
        return rows, cols
    if da.chunks is None:
        raise ValueError(f"{store}: {da.name} has no chunking; expected one chunk per region")
    sizes = []
    for name, chunks in zip(da.dims, da.chunks, strict=True):
        first = int(chunks[0])
        if any(int(c) != first for c in chunks[:-1]) or int(chunks[-1]) > first:
            raise ValueError(
                f"{store}: {da.name} chunks along {name!r} must be uniform except a smaller "
                f"last chunk, found {tuple(int(c) for c in chunks)}"
            )
        sizes.append(first)
    return sizes[0], sizes[1]


def same_geometry(a: RegionGrid, b: RegionGrid) -> bool:
    """Whether two grids have the same shape and chunks, and origins and pixel sizes within a
    thousandth of a pixel (over the whole grid) of each other; the buffer is not compared."""
    shape_a = (a.height, a.width, a.region_rows, a.region_cols)
    shape_b = (b.height, b.width, b.region_rows, b.region_cols)
    tol = COORD_TOLERANCE_PX * b.pixel_size
    return (
        shape_a == shape_b
        and abs(a.west - b.west) <= tol
        and abs(a.south - b.south) <= tol
        and abs(a.pixel_size - b.pixel_size) * max(a.height, a.width) <= tol
    )


def valid_region_ids_of(crps: xr.DataArray, grid: RegionGrid) -> list[str]:
    """Region IDs of ``grid`` where ``crps`` (latitude, longitude ascending, the grid's shape)
    holds any non-NaN value, in grid order; one dask task per region."""
    if crps.shape != (grid.height, grid.width):
        raise ValueError(
            f"CRPS of shape {crps.shape} does not match the grid {(grid.height, grid.width)}"
        )
    blocks = crps.chunk({"latitude": grid.region_rows, "longitude": grid.region_cols}).data
    any_valid = blocks.map_blocks(
        lambda block: (~np.isnan(block)).any(keepdims=True),
        chunks=((1,) * grid.n_region_rows, (1,) * grid.n_region_cols),
        dtype=bool,
    ).compute()
    return [
        grid.region_id(row, col)
        for row in range(grid.n_region_rows)
        for col in range(grid.n_region_cols)
        if any_valid[row, col]
    ]


def read_valid_region_ids(text: str, path: object, grid: RegionGrid) -> list[str]:
    """The IDs cached in ``text`` (the content of ``path``, a ``valid_region_ids.json``),
    checked against ``grid``."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or "region_ids" not in doc or "grid" not in doc:
        raise ValueError(f"{path}: expected a JSON object with 'region_ids' and 'grid'")
    try:
        stored = RegionGrid(**doc["grid"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: its grid {doc['grid']} is not a valid grid description ({error}); "
            "delete the file to recompute it"
        ) from error
    if not same_geometry(stored, grid):
        raise ValueError(
            f"{path}: cached for grid {doc['grid']}, but the CRPS store has grid "
            f"{grid.to_dict()}; delete the file to recompute it"
        )
    region_ids = list(doc["region_ids"])
    for region_id in region_ids:
        grid.parse(region_id)
    return region_ids


def valid_region_ids_document(region_ids: Sequence[str], grid: RegionGrid) -> dict[str, Any]:
    """The JSON document of ``valid_region_ids.json``: the IDs and the grid they refer to."""
    for region_id in region_ids:
        grid.parse(region_id)
    return {"region_ids": list(region_ids), "grid": grid.to_dict()}
