"""Where the inputs live: one folder (local or ``s3://``) holding the public data sets.

``InputCatalog(root)`` opens the inputs below ``root`` lazily and validates what the pipeline
relies on (grids, CRSs, resolutions, chunking). The synthetic demo inputs written by
:mod:`ocr_assets.synthetic` and the real data sets use the same names:

=========================================  ==================================================
``scott-et-al-2024-30m-4326.zarr``         ``CRPS``, ``RPS``, ``BP`` on (latitude, longitude)
``riley-et-al-2025-{year}-270m-5070.zarr``  ``BP`` on (y, x), EPSG:5070, 270 m, y descending
``riley-et-al-2025-{year}-30m-4326.zarr``   ``BP`` on the Scott 30 m grid
``conus404-hourly.zarr``                    ``T2``, ``RH``, ``WSPD``, ``WDIR`` on (time, y, x)
``overture-buildings.parquet``              building footprints (GeoParquet 1.1)
``census/{level}.parquet``                  census polygons with ``GEOID``
``valid_region_ids.json``                   region IDs holding any non-NaN CRPS
=========================================  ==================================================

S3-compatible endpoints are reached through the standard ``AWS_ENDPOINT_URL`` environment
variable (and the usual AWS credential variables), which s3fs honours.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo.xr import assign_crs
from pyproj import CRS, Transformer
from upath import UPath

from ocr_assets.regions import Bounds, RegionGrid

SCOTT_STORE = "scott-et-al-2024-30m-4326.zarr"
CONUS404_STORE = "conus404-hourly.zarr"
BUILDINGS_FILE = "overture-buildings.parquet"
VALID_REGION_IDS_FILE = "valid_region_ids.json"

#: The two climates of the Riley et al. 2025 burn probability.
RILEY_YEARS: tuple[int, ...] = (2011, 2047)
#: Census levels, coarsest first.
CENSUS_LEVELS: tuple[str, ...] = ("nation", "states", "counties", "tracts", "blocks")

#: Pixel size of the Scott (and Riley 30 m) grid in degrees: 1 arc-second.
PIXEL_SIZE_DEGREES = 1 / 3600
#: Tolerance on the 30 m grid's coordinate spacing, degrees.
PIXEL_SIZE_TOLERANCE = 1e-9
#: Pixel size of the Riley native grid, metres (EPSG:5070).
RILEY_RESOLUTION_M = 270.0
#: Extra coarse pixels kept around a region's buffered window in ``riley_270m``.
RILEY_WINDOW_MARGIN_PIXELS = 3

HOW_TO_GENERATE = (
    "generate the synthetic demo inputs with `make demo` or "
    "`python -m ocr_assets.synthetic --root {root}`"
)

# Grid parameters stored in the Scott store's attributes (see ocr_assets.synthetic).
_GRID_ATTRS = ("west", "north", "region_rows", "region_cols", "n_region_rows", "n_region_cols")
# A coordinate may be off its expected pixel centre by this fraction of a pixel.
_COORD_TOLERANCE_PX = 1e-3


def riley_store(year: int, resolution: str) -> str:
    """Name of a Riley et al. 2025 store: ``resolution`` is ``'270m-5070'`` or ``'30m-4326'``."""
    if year not in RILEY_YEARS:
        raise ValueError(f"unknown Riley year {year!r}: expected one of {RILEY_YEARS}")
    if resolution not in ("270m-5070", "30m-4326"):
        raise ValueError(
            f"unknown Riley resolution {resolution!r}: expected '270m-5070' or '30m-4326'"
        )
    return f"riley-et-al-2025-{year}-{resolution}.zarr"


def census_file(level: str) -> str:
    """Relative path of a census level's GeoParquet file (``census/{level}.parquet``)."""
    if level not in CENSUS_LEVELS:
        raise ValueError(f"unknown census level {level!r}: expected one of {CENSUS_LEVELS}")
    return f"census/{level}.parquet"


def valid_region_ids_document(region_ids: Sequence[str], grid: RegionGrid) -> dict[str, Any]:
    """The JSON document of ``valid_region_ids.json``: the IDs and the grid they refer to."""
    for region_id in region_ids:
        grid.parse(region_id)
    return {"region_ids": list(region_ids), "grid": grid.to_dict()}


@dataclass(frozen=True)
class RegionInputs:
    """Everything one region needs, loaded into memory (numpy-backed DataArrays).

    The 30 m arrays (``crps``, ``rps``, ``riley_30m``) cover the region's buffered window
    clipped to the grid, with identical ascending latitude/longitude coordinates and the
    EPSG:4326 CRS attached. ``riley_270m`` holds, per year, the 270 m EPSG:5070 burn
    probability covering ``buffered_bounds`` plus a margin of a few coarse pixels.

    Attributes:
        region_id: The region, ``y{row}_x{col}``.
        bounds: ``(west, south, east, north)`` of the region itself (pixel edges).
        buffered_bounds: Pixel-edge bounds of the loaded 30 m window (buffer clipped to grid).
        crps: Scott 2024 conditional risk to potential structures, %.
        rps: Scott 2024 risk to potential structures, %.
        riley_30m: Riley burn probability on the 30 m grid, by year (2011, 2047).
        riley_270m: Riley burn probability on its native 270 m grid, by year (2011, 2047).
    """

    region_id: str
    bounds: Bounds
    buffered_bounds: Bounds
    crps: xr.DataArray
    rps: xr.DataArray
    riley_30m: dict[int, xr.DataArray]
    riley_270m: dict[int, xr.DataArray]


def _crs_of(ds: xr.Dataset, var: str) -> CRS | None:
    """CRS of a store: its grid-mapping variable (odc-geo / CF) or its ``crs`` attribute."""
    candidates = [ds[var].encoding.get("grid_mapping"), ds[var].attrs.get("grid_mapping")]
    candidates.append("spatial_ref")
    for name in candidates:
        if name and name in ds.variables:
            attrs = ds[name].attrs
            wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            if wkt:
                return CRS.from_user_input(wkt)
    if "crs" in ds.attrs:
        return CRS.from_user_input(ds.attrs["crs"])
    return None


def _check_crs(store: object, crs: CRS | None, epsg: int) -> None:
    """Raise ValueError unless ``crs`` is ``EPSG:{epsg}``, naming the store and what it found."""
    if crs is None or crs.to_epsg() != epsg:
        found = "no CRS" if crs is None else crs.to_string()
        raise ValueError(f"{store}: CRS must be EPSG:{epsg}, found {found}")


def _data_var(ds: xr.Dataset, var: str, store: object) -> xr.DataArray:
    """``ds[var]``, or a ValueError naming the store and the variables it has."""
    if var not in ds.data_vars:
        raise ValueError(f"{store}: expected variable {var!r}, found {list(ds.data_vars)}")
    return ds[var]


def _check_spacing(store: str, name: str, coord: np.ndarray, expected: float, tol: float) -> None:
    """Raise ValueError unless ``coord`` is regular with step ``expected`` (sign included)."""
    if coord.size < 2:
        raise ValueError(
            f"{store}: coordinate {name!r} needs at least 2 values, found {coord.size}"
        )
    steps = np.diff(coord)
    worst = steps[np.argmax(np.abs(steps - expected))]
    if abs(worst - expected) > tol:
        raise ValueError(
            f"{store}: coordinate {name!r} spacing must be {expected!r} (within {tol}), "
            f"found a step of {float(worst)!r}"
        )


class InputCatalog:
    """The input data sets below one root folder (local path or ``s3://bucket/prefix``).

    Stores are opened lazily (``xarray.open_zarr``) and validated on first use.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Point the catalog at ``root``; nothing is read until a method needs it."""
        self.root = str(root)
        self._root = UPath(self.root)
        self._datasets: dict[str, xr.Dataset] = {}

    def __repr__(self) -> str:
        """Show the root."""
        return f"InputCatalog({self.root!r})"

    # ------------------------------------------------------------------ paths
    def path(self, name: str) -> UPath:
        """Full path of an input below the root."""
        return self._root / name

    def _require(self, name: str) -> UPath:
        path = self.path(name)
        if not path.exists():
            raise FileNotFoundError(
                f"input {name!r} not found at {path}; {HOW_TO_GENERATE.format(root=self.root)}"
            )
        return path

    @property
    def _is_local(self) -> bool:
        return self._root.protocol in ("", "file", "local")

    def _open_zarr(self, name: str) -> xr.Dataset:
        if name not in self._datasets:
            path = self._require(name)
            self._datasets[name] = xr.open_zarr(
                path.path if self._is_local else str(path),
                storage_options=None if self._is_local else dict(path.storage_options),
                decode_coords="all",
            )
        return self._datasets[name]

    def _read_parquet(self, name: str, bbox: Bounds | None = None) -> gpd.GeoDataFrame:
        path = self._require(name)
        if self._is_local:
            return gpd.read_parquet(path.path, bbox=bbox)
        return gpd.read_parquet(str(path), storage_options=dict(path.storage_options), bbox=bbox)

    # ------------------------------------------------------------------ rasters
    def scott(self) -> xr.Dataset:
        """Scott et al. 2024: lazy dataset with ``CRPS``, ``RPS``, ``BP`` (latitude, longitude)."""
        ds = self._open_zarr(SCOTT_STORE)
        missing = [v for v in ("CRPS", "RPS", "BP") if v not in ds.data_vars]
        if missing:
            raise ValueError(
                f"{self.path(SCOTT_STORE)}: expected variables ['CRPS', 'RPS', 'BP'], "
                f"missing {missing}"
            )
        return ds

    @cached_property
    def grid(self) -> RegionGrid:
        """The region grid of the inputs, read from the Scott store and validated.

        The store must be in EPSG:4326 with ascending 1/3600 degree coordinates and chunks of
        exactly one region; grid parameters stored in its attributes (``west``, ``north``,
        ``region_rows``...) must agree with its coordinates. Without those attributes the
        origin comes from the coordinates and the region size from the chunking.
        """
        store = str(self.path(SCOTT_STORE))
        ds = self.scott()
        crps = ds["CRPS"]
        if crps.dims != ("latitude", "longitude"):
            raise ValueError(
                f"{store}: CRPS dims must be ('latitude', 'longitude'), found {crps.dims}"
            )
        _check_crs(store, _crs_of(ds, "CRPS"), 4326)
        lat = np.asarray(ds["latitude"].values, dtype=np.float64)
        lon = np.asarray(ds["longitude"].values, dtype=np.float64)
        ps = PIXEL_SIZE_DEGREES
        _check_spacing(store, "latitude", lat, ps, PIXEL_SIZE_TOLERANCE)
        _check_spacing(store, "longitude", lon, ps, PIXEL_SIZE_TOLERANCE)

        chunks = crps.encoding.get("chunks")
        if chunks is None:
            raise ValueError(f"{store}: CRPS has no chunk encoding; expected one chunk per region")
        attrs = ds.attrs
        if all(key in attrs for key in _GRID_ATTRS):
            grid = RegionGrid(
                west=float(attrs["west"]),
                north=float(attrs["north"]),
                pixel_size=ps,
                region_rows=int(attrs["region_rows"]),
                region_cols=int(attrs["region_cols"]),
                n_region_rows=int(attrs["n_region_rows"]),
                n_region_cols=int(attrs["n_region_cols"]),
                buffer_degrees=float(attrs.get("buffer_degrees", 0.15)),
            )
        else:
            rows, cols = (int(c) for c in chunks)
            if lat.size % rows or lon.size % cols:
                raise ValueError(
                    f"{store}: shape {(lat.size, lon.size)} must be a whole number of "
                    f"chunks {(rows, cols)} (one chunk per region)"
                )
            grid = RegionGrid(
                west=float(lon[0] - ps / 2),
                north=float(lat[-1] + ps / 2),
                pixel_size=ps,
                region_rows=rows,
                region_cols=cols,
                n_region_rows=lat.size // rows,
                n_region_cols=lon.size // cols,
            )
        expected_chunks = (grid.region_rows, grid.region_cols)
        if tuple(int(c) for c in chunks) != expected_chunks:
            raise ValueError(
                f"{store}: chunks must be one region {expected_chunks}, found {tuple(chunks)}"
            )
        if (lat.size, lon.size) != (grid.height, grid.width):
            raise ValueError(
                f"{store}: shape must be {(grid.height, grid.width)} for the grid in its "
                f"attributes, found {(lat.size, lon.size)}"
            )
        tol = _COORD_TOLERANCE_PX * ps
        for name, found, expected in (
            ("longitude", lon[0], grid.longitude()[0]),
            ("latitude", lat[-1], grid.latitude()[-1]),
        ):
            if abs(found - expected) > tol:
                raise ValueError(
                    f"{store}: first pixel centre of {name!r} must be {expected!r} for the "
                    f"grid in its attributes, found {float(found)!r}"
                )
        return grid

    def riley_30m(self, year: int) -> xr.DataArray:
        """Riley et al. 2025 ``BP`` of ``year`` on the 30 m grid (lazy, same shape as Scott).

        Its coordinates may differ from Scott's by rounding; ``region_inputs`` replaces them
        with Scott's so the arrays align exactly.
        """
        name = riley_store(year, "30m-4326")
        ds = self._open_zarr(name)
        crs = _crs_of(ds, "BP")
        if crs is not None:
            _check_crs(self.path(name), crs, 4326)
        da = _data_var(ds, "BP", self.path(name))
        grid = self.grid
        if da.dims != ("latitude", "longitude") or da.shape != (grid.height, grid.width):
            raise ValueError(
                f"{self.path(name)}: BP must be (latitude, longitude) of shape "
                f"{(grid.height, grid.width)} like the Scott grid, found {da.dims} {da.shape}"
            )
        return da

    def riley_270m(self, year: int) -> xr.DataArray:
        """Riley et al. 2025 ``BP`` of ``year`` on its native grid (lazy, CRS attached).

        Validated: dims (y, x), EPSG:5070, 270 m pixels, x ascending and y descending.
        """
        name = riley_store(year, "270m-5070")
        store = str(self.path(name))
        ds = self._open_zarr(name)
        da = _data_var(ds, "BP", store)
        if da.dims != ("y", "x"):
            raise ValueError(f"{store}: BP dims must be ('y', 'x'), found {da.dims}")
        _check_crs(store, _crs_of(ds, "BP"), 5070)
        res = RILEY_RESOLUTION_M
        _check_spacing(store, "x", np.asarray(da["x"].values), res, 1e-6)
        _check_spacing(store, "y", np.asarray(da["y"].values), -res, 1e-6)
        return assign_crs(da, "EPSG:5070")

    def conus404(self) -> xr.Dataset:
        """The hourly CONUS404-like weather cube (lazy): ``T2``, ``RH``, ``WSPD``, ``WDIR``."""
        ds = self._open_zarr(CONUS404_STORE)
        missing = [v for v in ("T2", "RH", "WSPD", "WDIR") if v not in ds.data_vars]
        if missing:
            raise ValueError(
                f"{self.path(CONUS404_STORE)}: expected variables T2, RH, WSPD, WDIR, "
                f"missing {missing}"
            )
        crs = _crs_of(ds, "T2")
        if crs is None:
            raise ValueError(f"{self.path(CONUS404_STORE)}: no CRS found (expected a spatial_ref)")
        return assign_crs(ds, crs)

    # ------------------------------------------------------------------ vectors
    def buildings(self, bbox: Bounds | None = None) -> gpd.GeoDataFrame:
        """Building footprints (EPSG:4326), optionally only those intersecting ``bbox``.

        ``bbox`` is ``(west, south, east, north)``; filtering uses the GeoParquet covering bbox.
        """
        if bbox is not None:
            if len(bbox) != 4 or not (bbox[0] <= bbox[2] and bbox[1] <= bbox[3]):
                raise ValueError(f"bbox must be (west, south, east, north), got {bbox!r}")
            bbox = tuple(float(v) for v in bbox)
        return self._read_parquet(BUILDINGS_FILE, bbox=bbox)

    def census(self, level: str, bbox: Bounds | None = None) -> gpd.GeoDataFrame:
        """Census polygons of one level (``nation``, ``states``, ``counties``, ``tracts``,
        ``blocks``) with a ``GEOID`` column; with ``bbox`` (west, south, east, north), only
        the polygons whose covering bbox intersects it."""
        name = census_file(level)
        gdf = self._read_parquet(name, bbox=bbox)
        if "GEOID" not in gdf.columns:
            raise ValueError(
                f"{self.path(name)}: expected a 'GEOID' column, found {list(gdf.columns)}"
            )
        return gdf

    # ------------------------------------------------------------------ regions
    def valid_region_ids(self) -> list[str]:
        """Region IDs with any non-NaN CRPS, in grid order.

        Read from ``valid_region_ids.json``; when that file is missing they are computed from
        the CRPS store (one pass over the data) and, for a local root, cached in it.
        """
        grid = self.grid
        path = self.path(VALID_REGION_IDS_FILE)
        if path.exists():
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or "region_ids" not in doc or "grid" not in doc:
                raise ValueError(f"{path}: expected a JSON object with 'region_ids' and 'grid'")
            stored = RegionGrid(**doc["grid"])
            if not _same_grid(stored, grid):
                raise ValueError(
                    f"{path}: cached for grid {doc['grid']}, but the CRPS store has grid "
                    f"{grid.to_dict()}; delete the file to recompute it"
                )
            region_ids = list(doc["region_ids"])
            for region_id in region_ids:
                grid.parse(region_id)
            return region_ids
        region_ids = self._compute_valid_region_ids()
        if self._is_local:
            _write_json_atomically(path.path, valid_region_ids_document(region_ids, grid))
        return region_ids

    def _compute_valid_region_ids(self) -> list[str]:
        grid = self.grid
        any_valid = (
            self.scott()["CRPS"]
            .notnull()
            .coarsen(latitude=grid.region_rows, longitude=grid.region_cols)
            .any()
            .values
        )
        # latitude is ascending: the last block row is region row 0 (the northernmost).
        any_valid = any_valid[::-1]
        return [
            grid.region_id(row, col)
            for row in range(grid.n_region_rows)
            for col in range(grid.n_region_cols)
            if any_valid[row, col]
        ]

    def region_inputs(self, region_id: str) -> RegionInputs:
        """Load the inputs of one region's buffered window into memory.

        Raises:
            ValueError: for a malformed or out-of-grid ID, or a region without any valid CRPS.
        """
        grid = self.grid
        rows, cols = grid.buffered_window(region_id)
        index = {"latitude": grid.latitude_index(rows), "longitude": cols}
        scott = self.scott()
        crps = scott["CRPS"].isel(index).load()

        region_rows, region_cols = grid.window(region_id)
        inner = crps.isel(
            latitude=slice(rows.stop - region_rows.stop, rows.stop - region_rows.start),
            longitude=slice(region_cols.start - cols.start, region_cols.stop - cols.start),
        )
        if not bool(inner.notnull().any()):
            raise ValueError(f"region {region_id!r} has no valid (non-NaN) CRPS data")

        coords = {"latitude": crps["latitude"].values, "longitude": crps["longitude"].values}
        crps = assign_crs(crps, "EPSG:4326")
        rps = assign_crs(scott["RPS"].isel(index).load(), "EPSG:4326")
        riley_30m = {
            year: assign_crs(
                _with_coords(
                    self.riley_30m(year).isel(index).load(),
                    coords,
                    self.path(riley_store(year, "30m-4326")),
                ),
                "EPSG:4326",
            )
            for year in RILEY_YEARS
        }
        buffered_bounds = grid.window_bounds(rows, cols)
        riley_270m = {year: self._riley_270m_window(year, buffered_bounds) for year in RILEY_YEARS}
        return RegionInputs(
            region_id=region_id,
            bounds=grid.bounds(region_id),
            buffered_bounds=buffered_bounds,
            crps=crps,
            rps=rps,
            riley_30m=riley_30m,
            riley_270m=riley_270m,
        )

    def _riley_270m_window(self, year: int, bounds: Bounds) -> xr.DataArray:
        """The 270 m pixels touching ``bounds`` (EPSG:4326) plus a margin, loaded."""
        da = self.riley_270m(year)
        to_5070 = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
        xmin, ymin, xmax, ymax = to_5070.transform_bounds(*bounds, densify_pts=21)
        res = RILEY_RESOLUTION_M
        margin = RILEY_WINDOW_MARGIN_PIXELS
        x_edge = float(da["x"].values[0]) - res / 2
        y_edge = float(da["y"].values[0]) + res / 2
        col0 = math.floor((xmin - x_edge) / res) - margin
        col1 = math.ceil((xmax - x_edge) / res) + margin
        row0 = math.floor((y_edge - ymax) / res) - margin
        row1 = math.ceil((y_edge - ymin) / res) + margin
        ny, nx = da.shape
        if row0 < 0 or col0 < 0 or row1 > ny or col1 > nx:
            raise ValueError(
                f"{self.path(riley_store(year, '270m-5070'))}: does not cover the bounds "
                f"{bounds} plus {margin} pixels (needs rows {row0}:{row1} and cols "
                f"{col0}:{col1} of a {ny} x {nx} raster)"
            )
        window = da.isel(y=slice(row0, row1), x=slice(col0, col1)).load()
        return assign_crs(window, "EPSG:5070")


def _with_coords(da: xr.DataArray, coords: dict[str, np.ndarray], store: UPath) -> xr.DataArray:
    """Give ``da`` exactly ``coords`` (the Scott window's) after checking they agree."""
    tol = _COORD_TOLERANCE_PX * PIXEL_SIZE_DEGREES
    for name, expected in coords.items():
        found = da[name].values
        if found.shape != expected.shape or np.abs(found - expected).max() > tol:
            raise ValueError(
                f"{store}: {name!r} coordinates must match the Scott grid within {tol:.3g} "
                "degrees, they do not"
            )
    return da.assign_coords(coords)


def _same_grid(a: RegionGrid, b: RegionGrid) -> bool:
    tol = _COORD_TOLERANCE_PX * PIXEL_SIZE_DEGREES
    da, db = a.to_dict(), b.to_dict()
    return all(
        abs(da[k] - db[k]) <= tol if isinstance(da[k], float) else da[k] == db[k]
        for k in da
        if k != "buffer_degrees"
    )


def _write_json_atomically(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` through a temporary file in the same folder."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
