"""Region-level composition: the 8 risk variables of a processing region (docs/science.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from .riley import wind_informed_bp_from_riley
from .spread import GRID_DIMS

CLIMATES = (2011, 2047)

VARIABLES: dict[str, dict[str, str]] = {
    "bp_2011": {
        "description": "Wind-informed burn probability, ~2011 climate (Riley et al. 2025 BP "
        "spread downwind and smoothed)",
        "units": "1",
        "valid_range": "0..1",
    },
    "bp_2047": {
        "description": "Wind-informed burn probability, ~2047 climate",
        "units": "1",
        "valid_range": "0..1",
    },
    "rps_2011": {
        "description": "Wind-informed risk to potential structures, ~2011: bp_2011 x crps_scott",
        "units": "%",
        "valid_range": "0..100",
    },
    "rps_2047": {
        "description": "Wind-informed risk to potential structures, ~2047: bp_2047 x crps_scott",
        "units": "%",
        "valid_range": "0..100",
    },
    "crps_scott": {
        "description": "Conditional risk to potential structures (Scott et al. 2024, "
        "RDS-2020-0016-2)",
        "units": "%",
        "valid_range": "0..100",
    },
    "rps_scott": {
        "description": "Risk to potential structures (Scott et al. 2024, RDS-2020-0016-2)",
        "units": "%",
        "valid_range": "0..100",
    },
    "bp_2011_riley": {
        "description": "Annual burn probability, ~2011 climate (Riley et al. 2025, RDS-2025-0006) "
        "on the 30 m grid",
        "units": "1",
        "valid_range": "0..1",
    },
    "bp_2047_riley": {
        "description": "Annual burn probability, ~2047 climate (Riley et al. 2025, RDS-2025-0006) "
        "on the 30 m grid",
        "units": "1",
        "valid_range": "0..1",
    },
}
"""The 8 output variables, in the raster store's order, with their attributes."""

BUILDING_VARIABLES: tuple[str, ...] = tuple(v for v in VARIABLES if v != "rps_scott")
"""The 7 variables published for buildings, statistics and tiles."""


def crop(da: xr.DataArray, bounds: tuple[float, float, float, float]) -> xr.DataArray:
    """Pixels whose centres lie inside ``(west, south, east, north)``."""
    west, south, east, north = bounds
    if not (west < east and south < north):
        raise ValueError(f"crop: bounds {bounds!r} are not (west, south, east, north)")
    out = da.sel(latitude=slice(south, north), longitude=slice(west, east))
    if out.sizes["latitude"] == 0 or out.sizes["longitude"] == 0:
        raise ValueError(f"crop: bounds {bounds!r} select no pixel of the raster")
    return out


def _grid_of(da: xr.DataArray, name: str) -> xr.DataArray:
    if tuple(da.dims[:2]) != GRID_DIMS:
        raise ValueError(f"region_risk: {name} must have dims {GRID_DIMS}, got {tuple(da.dims)}")
    return da


def region_risk(
    riley_270m: Mapping[int, xr.DataArray],
    riley_30m: Mapping[int, xr.DataArray],
    crps: xr.DataArray,
    rps: xr.DataArray,
    wind_distribution: xr.DataArray,
    bounds: tuple[float, float, float, float],
    *,
    backend: str = "cpu",
) -> xr.Dataset:
    """The 8 risk variables of one region, cropped to ``bounds`` (float32, with attrs).

    Inputs other than ``riley_270m`` are on the buffered 30 m window; ``riley_270m`` maps each
    climate (2011, 2047) to the EPSG:5070 270 m BP covering the window plus a margin.
    ``backend`` selects where the spreading runs (``cpu`` or ``cupy``).
    """
    for year in CLIMATES:
        if year not in riley_270m or year not in riley_30m:
            raise ValueError(f"region_risk: missing Riley BP for climate {year}")
    _grid_of(wind_distribution, "wind_distribution")
    crps_region = crop(_grid_of(crps, "crps"), bounds).astype(np.float32)
    out = xr.Dataset(coords={d: crps_region[d].values for d in GRID_DIMS})

    def put(name: str, da: xr.DataArray) -> None:
        values = np.asarray(da.values, dtype=np.float32)
        if values.shape != crps_region.shape:
            raise ValueError(
                f"region_risk: {name} has shape {values.shape} on the region, expected "
                f"{crps_region.shape} (inputs are not on one grid)"
            )
        out[name] = (GRID_DIMS, values)
        out[name].attrs = {k: v for k, v in VARIABLES[name].items()}

    for year in CLIMATES:
        bp = crop(
            wind_informed_bp_from_riley(riley_270m[year], wind_distribution, backend=backend),
            bounds,
        )
        put(f"bp_{year}", bp)
        put(f"rps_{year}", bp * crps_region.values)
    put("crps_scott", crps_region)
    put("rps_scott", crop(_grid_of(rps, "rps"), bounds))
    for year in CLIMATES:
        put(f"bp_{year}_riley", crop(_grid_of(riley_30m[year], f"riley_30m[{year}]"), bounds))
    out = out[list(VARIABLES)]
    out.attrs = {
        "title": "Open Climate Risk wildfire risk variables",
        "provider": "CarbonPlan",
        "license": "CC-BY-4.0",
        "crs": "EPSG:4326",
    }
    return out


def sample_nearest(
    ds: xr.Dataset, longitude: np.ndarray, latitude: np.ndarray
) -> dict[str, np.ndarray]:
    """Values of every variable of ``ds`` at the pixel nearest to each point.

    ``ds`` is on a regular ascending (latitude, longitude) grid. Points more than half a pixel
    outside the grid get NaN.
    """
    lon = np.asarray(longitude, dtype=np.float64)
    lat = np.asarray(latitude, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"sample_nearest: {lon.shape} longitudes vs {lat.shape} latitudes")
    indices = []
    inside = np.ones(lon.shape, dtype=bool)
    for dim, values in (("latitude", lat), ("longitude", lon)):
        coord = np.asarray(ds[dim].values, dtype=np.float64)
        step = (coord[-1] - coord[0]) / (coord.size - 1) if coord.size > 1 else 1.0
        half = 0.5 * step * (1.0 + 1e-9)  # a point on the grid's outer edge is inside
        inside &= (values >= coord[0] - half) & (values <= coord[-1] + half)
        idx = np.floor((values - coord[0]) / step + 0.5).astype(np.int64)
        indices.append(np.clip(idx, 0, coord.size - 1))
    ic, jc = indices
    ic, jc = np.where(inside, ic, 0), np.where(inside, jc, 0)
    out: dict[str, np.ndarray] = {}
    for name, da in ds.data_vars.items():
        values = np.asarray(da.transpose(*GRID_DIMS).values)[ic, jc].astype(np.float32)
        values[~inside] = np.nan
        out[str(name)] = values
    return out
