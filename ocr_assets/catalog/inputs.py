"""The input catalog: one root (local folder or ``s3://``) laid out like the published bucket.

``InputCatalog(root)`` opens each input at its published prefix (:mod:`ocr_assets.catalog.layout`)
lazily and validates what the pipeline relies on (:mod:`ocr_assets.catalog.validation`). Zarr
inputs are Icechunk repositories read from branch ``main``; like the published reader, a plain
Zarr store at the same prefix is accepted too. The vectors are GeoParquet
(:mod:`ocr_assets.catalog.vectors`). Bad input raises ``FileNotFoundError`` or ``ValueError``
naming the prefix, what was expected and what was found.

S3-compatible endpoints and limits are the storage layer's configuration
(:mod:`ocr_assets.storage.config`); credentials come from the usual AWS sources.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import geopandas as gpd
import icechunk
import numpy as np
import shapely
import xarray as xr
from odc.geo.xr import assign_crs
from pyproj import CRS, Transformer
from upath import UPath

from ocr_assets.catalog.grid import (
    grid_of,
    read_valid_region_ids,
    same_geometry,
    valid_region_ids_document,
    valid_region_ids_of,
)
from ocr_assets.catalog.identity import file_identity, folder_identity
from ocr_assets.catalog.layout import (
    BUILDING_TAGS,
    BUILDINGS_FILE,
    CONUS404_CONSTANT_VARIABLES,
    CONUS404_CONSTANTS,
    CONUS404_QUANTITIES,
    CONUS404_UNITS,
    CONUS404_VARIABLES,
    HOW_TO_GENERATE,
    INPUT_BRANCH,
    INPUT_NAMES,
    RILEY_RESOLUTION_M,
    RILEY_WINDOW_MARGIN_PIXELS,
    RILEY_YEARS,
    SCOTT_STORE,
    SCOTT_VARIABLES,
    VALID_REGION_IDS_FILE,
    census_file,
    conus404_store,
    riley_store,
)
from ocr_assets.catalog.validation import (
    COORD_TOLERANCE_PX,
    check_crs,
    check_same_grid,
    check_spacing,
    crs_of,
    data_var,
    lat_lon,
)
from ocr_assets.catalog.vectors import check_bbox, read_geoparquet
from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import CONUS_GRID, Bounds, RegionGrid
from ocr_assets.science.units import convert_units
from ocr_assets.storage import objects
from ocr_assets.storage.raster_store import icechunk_storage


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


class InputCatalog:
    """The input data sets below one root (local folder or ``s3://bucket/prefix``).

    Zarr inputs are opened lazily (dask arrays in their native chunks) and validated on first
    use; vectors are read on each call.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Point the catalog at ``root``; nothing is read until a method needs it."""
        self.root = str(root)
        self._root = UPath(self.root)
        self._datasets: dict[str, xr.Dataset] = {}
        # The snapshot of each Icechunk input this catalog opened (what it read).
        self._snapshots: dict[str, str] = {}

    def __repr__(self) -> str:
        """Show the root."""
        return f"InputCatalog({self.root!r})"

    # ------------------------------------------------------------------ paths
    def path(self, name: str) -> UPath:
        """Full path of an input below the root."""
        return self._root / name

    def _location(self, name: str) -> str:
        """``path(name)`` as a local path or a URL."""
        path = self.path(name)
        return path.path if self._is_local else str(path)

    def _missing(self, name: str, expected: str) -> FileNotFoundError:
        return FileNotFoundError(
            f"input {name!r} not found at {self.path(name)}: expected {expected}, found nothing; "
            f"{HOW_TO_GENERATE.format(root=self.root)}"
        )

    @property
    def _is_local(self) -> bool:
        return self._root.protocol in ("", "file", "local")

    def _open_zarr(
        self, name: str, decode_coords: Literal["all", "coordinates"] = "all"
    ) -> xr.Dataset:
        """The dataset at prefix ``name``: an Icechunk repository (branch ``main``) or Zarr.

        ``decode_coords="all"`` makes each variable's ``grid_mapping`` variable (``spatial_ref``)
        a coordinate. A CONUS404 hourly repository is opened with ``"coordinates"``, as the
        published reader opens it: its variables' ``grid_mapping: crs`` names a variable held in
        the constants repository, which ``"all"`` would drop with a warning on every open; the
        attribute is kept and resolves once the constants are merged in (:meth:`conus404`).

        Raises:
            FileNotFoundError: nothing at the prefix.
            ValueError: something is there but it is neither, or has no branch ``main``.
        """
        if name in self._datasets:
            return self._datasets[name]
        location = self._location(name)
        if not objects.exists(location):
            # (checked first: Icechunk's existence check creates a missing local folder)
            raise self._missing(name, f"an Icechunk repository (branch {INPUT_BRANCH!r}) or Zarr")
        storage = icechunk_storage(location)
        if icechunk.Repository.exists(storage):
            try:
                session = icechunk.Repository.open(storage).readonly_session(INPUT_BRANCH)
            except icechunk.IcechunkError as error:
                raise ValueError(
                    f"{self.path(name)}: expected an Icechunk repository with a branch "
                    f"{INPUT_BRANCH!r}, found one that cannot be read there ({error})"
                ) from error
            store: Any = session.store
            options: dict[str, Any] = {"consolidated": False}
            self._snapshots[name] = session.snapshot_id
        else:
            store = location
            options = (
                {}
                if self._is_local
                else {"storage_options": dict(objects.filesystem(location)[0].storage_options)}
            )
        try:
            ds = xr.open_dataset(
                store, engine="zarr", chunks={}, decode_coords=decode_coords, **options
            )
        except (FileNotFoundError, KeyError, ValueError, OSError) as error:
            raise ValueError(
                f"{self.path(name)}: expected an Icechunk repository (branch {INPUT_BRANCH!r}) "
                f"or a Zarr store, found something else ({type(error).__name__}: {error})"
            ) from error
        self._datasets[name] = ds
        return ds

    def _read_geoparquet(
        self,
        name: str,
        required: Sequence[str],
        bbox: Bounds | None = None,
        columns: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Rows of the GeoParquet file ``name`` (those whose ``bbox`` intersects ``bbox``).

        Filtering uses the file's bounding-box struct column (the GeoParquet covering, else
        ``bbox``), so it works on GeoPandas-written files and on DuckDB-written ones alike.

        Raises:
            FileNotFoundError: no file at ``name``.
            ValueError: naming the file and the column, when the file is not Parquet, lacks a
                ``required`` column or the bounding-box column a ``bbox`` query needs.
        """
        location = self._location(name)
        fs, path = objects.filesystem(location)
        if not fs.exists(path):
            raise self._missing(name, "a GeoParquet file")
        return read_geoparquet(fs, path, str(self.path(name)), required, bbox, columns)

    # ------------------------------------------------------------------ rasters
    def scott(self) -> xr.Dataset:
        """Scott et al. 2024 (30 m, EPSG:4326): lazy, with float32 ``CRPS``, ``RPS``, ``BP``."""
        ds = self._open_zarr(SCOTT_STORE)
        store = self.path(SCOTT_STORE)
        missing = [v for v in SCOTT_VARIABLES if v not in ds.data_vars]
        if missing:
            raise ValueError(
                f"{store}: expected variables {list(SCOTT_VARIABLES)}, missing {missing} "
                f"(found {list(ds.data_vars)})"
            )
        for var in SCOTT_VARIABLES:
            if ds[var].dtype != np.float32:
                raise ValueError(f"{store}: {var} must be float32, found {ds[var].dtype}")
        return ds

    @cached_property
    def grid(self) -> RegionGrid:
        """The region grid of the inputs, read from the Scott store's ``CRPS`` and validated.

        Pixel size, origin and shape come from the coordinates, the region size from the
        storage chunks (the last chunk of each axis may be partial). The store must be in
        EPSG:4326 with dims ``(latitude, longitude)``, both ascending and regular with the same
        step. A store whose geometry is the published grid's (within a thousandth of a pixel)
        gets :data:`~ocr_assets.regions.CONUS_GRID` itself.

        Raises:
            ValueError: naming the store, the expected and the found value, for any mismatch.
        """
        store = str(self.path(SCOTT_STORE))
        ds = self.scott()
        grid = grid_of(store, ds, "CRPS")
        return CONUS_GRID if same_geometry(grid, CONUS_GRID) else grid

    def riley_30m(self, year: int) -> xr.DataArray:
        """Riley et al. 2025 ``BP`` of ``year`` on the 30 m grid (lazy, same shape as Scott).

        Its coordinates may differ from Scott's by rounding; ``region_inputs`` replaces them
        with Scott's so the arrays align exactly.
        """
        name = riley_store(year, "30m-4326")
        ds = self._open_zarr(name)
        crs = crs_of(ds, "BP")
        if crs is not None:
            check_crs(self.path(name), crs, 4326)
        da = data_var(ds, "BP", self.path(name))
        grid = self.grid
        if da.dims != ("latitude", "longitude") or da.shape != (grid.height, grid.width):
            raise ValueError(
                f"{self.path(name)}: BP must be (latitude, longitude) of shape "
                f"{(grid.height, grid.width)} like the Scott grid, found {da.dims} {da.shape}"
            )
        return da

    def riley_270m(self, year: int) -> xr.DataArray:
        """Riley et al. 2025 ``BP`` of ``year`` on its native grid (lazy, CRS attached).

        Validated: dims (y, x), EPSG:5070, 270 m pixels, x ascending. The published store has
        y ascending; either order is accepted and the array is returned north-up (y
        descending, a lazy reversal).
        """
        name = riley_store(year, "270m-5070")
        store = str(self.path(name))
        ds = self._open_zarr(name)
        da = data_var(ds, "BP", store)
        if da.dims != ("y", "x"):
            raise ValueError(f"{store}: BP dims must be ('y', 'x'), found {da.dims}")
        check_crs(store, crs_of(ds, "BP"), 5070)
        res = RILEY_RESOLUTION_M
        y = np.asarray(da["y"].values)
        check_spacing(store, "x", np.asarray(da["x"].values), res, 1e-6)
        ascending = y.size > 1 and y[1] > y[0]
        check_spacing(store, "y", y, res if ascending else -res, 1e-6)
        if ascending:
            da = da.isel(y=slice(None, None, -1))
        return assign_crs(da, "EPSG:5070")

    def conus404(self) -> xr.Dataset:
        """The hourly CONUS404 variables merged with their spatial constants (lazy).

        Like the published ``load_conus404(add_spatial_constants=True)``: ``PSFC, Q2, T2, TD2,
        U10, V10`` (time, y, x) float32 in their WRF units (:data:`CONUS404_UNITS`; other units
        of the same quantity are converted with pint, lazily, e.g. ``degC``, ``km/h``, ``hPa``,
        ``g kg-1``), ``SINALPHA``, ``COSALPHA`` (y, x) float32, dimensionless (units ``"1"``,
        ``""``, ``"dimensionless"`` or none); coordinates ``x``, ``y``, ``time``, ``lat``/``lon``
        (y, x) from the ``T2`` repository and the scalar ``crs`` (its ``crs_wkt`` attribute is
        the grid's CRS), which the hourly variables' ``grid_mapping: crs`` points at.

        Raises:
            FileNotFoundError: a repository is missing (named).
            ValueError: naming the repository, for a missing variable, wrong dims or dtype,
                units that cannot be converted (naming the variable and the unit), a grid
                differing from ``T2``'s, or a ``crs`` without a usable WKT.
        """
        reference = self._conus404_variable("T2")
        coordinates = lat_lon(
            self._open_zarr(conus404_store("T2"), "coordinates"), self.path(conus404_store("T2"))
        )
        parts = [self._conus404_variable(name) for name in CONUS404_VARIABLES]
        constants = self._conus404_constants(reference)
        merged = xr.merge([*parts, constants], join="exact")
        return merged.assign_coords(coordinates)

    def _conus404_variable(self, name: str) -> xr.Dataset:
        """One hourly variable (lat/lon dropped), validated against the published layout."""
        prefix = conus404_store(name)
        store = self.path(prefix)
        ds = self._open_zarr(prefix, "coordinates")
        da = data_var(ds, name, store)
        if da.dims != ("time", "y", "x"):
            raise ValueError(f"{store}: {name} dims must be ('time', 'y', 'x'), found {da.dims}")
        if da.dtype != np.float32:
            raise ValueError(f"{store}: {name} must be float32, found {da.dtype}")
        try:
            converted = convert_units(da, CONUS404_UNITS[name], CONUS404_QUANTITIES[name])
        except ValueError as error:
            raise ValueError(f"{store}: {error}") from error
        if name != "T2":
            check_same_grid(store, ds, self._conus404_variable("T2"), ("time", "y", "x"))
        out = ds[[name]].drop_vars(["lat", "lon"], errors="ignore").reset_coords(drop=True)
        return out.assign({name: converted.reset_coords(drop=True)})

    def _conus404_constants(self, reference: xr.Dataset) -> xr.Dataset:
        """``SINALPHA``, ``COSALPHA`` (dimensionless, units ``"1"``) and the scalar coordinate
        ``crs``, validated."""
        prefix = conus404_store(CONUS404_CONSTANTS)
        store = self.path(prefix)
        ds = self._open_zarr(prefix)
        dimensionless = {}
        for name in CONUS404_CONSTANT_VARIABLES:
            da = data_var(ds, name, store)
            if da.dims != ("y", "x") or da.dtype != np.float32:
                raise ValueError(
                    f"{store}: {name} must be float32 on ('y', 'x'), found {da.dtype} on {da.dims}"
                )
            try:
                dimensionless[name] = convert_units(da, "1", CONUS404_QUANTITIES[name], missing="1")
            except ValueError as error:
                raise ValueError(f"{store}: {error} (it must be dimensionless)") from error
        check_same_grid(store, ds, reference, ("y", "x"))
        if "crs" not in ds.variables or ds["crs"].ndim != 0:
            raise ValueError(
                f"{store}: expected a scalar variable 'crs' with a 'crs_wkt' attribute, found "
                f"{list(ds.variables)}"
            )
        wkt = ds["crs"].attrs.get("crs_wkt")
        try:
            crs = CRS.from_wkt(wkt)
        except Exception as error:
            raise ValueError(
                f"{store}: 'crs' must carry the grid's CRS as a WKT 'crs_wkt' attribute, found "
                f"{wkt!r}"
            ) from error
        if not crs.is_projected:
            raise ValueError(f"{store}: 'crs' must be a projected CRS, found {crs.name!r}")
        out = ds[list(CONUS404_CONSTANT_VARIABLES)].reset_coords(drop=True)
        out = out.assign({name: da.reset_coords(drop=True) for name, da in dimensionless.items()})
        return out.assign_coords(crs=ds["crs"].variable)

    # ------------------------------------------------------------------ vectors
    def buildings(
        self, bbox: Bounds | None = None, columns: Sequence[str] = BUILDING_TAGS
    ) -> gpd.GeoDataFrame:
        """Building footprints with ``columns`` (the published tags by default) and geometry.

        With ``bbox`` ``(west, south, east, north)``, only the footprints whose bounding box
        (the file's ``bbox`` column, widened by :data:`BBOX_QUERY_MARGIN_DEG`) intersects it.

        Raises:
            ValueError: naming the file and the column, when a requested column or ``bbox``
                is missing.
        """
        return self._read_geoparquet(
            BUILDINGS_FILE, required=("geometry",), bbox=check_bbox(bbox), columns=columns
        )

    def census(self, level: str, bbox: Bounds | None = None) -> gpd.GeoDataFrame:
        """Census polygons of one level (``nation``, ``states``, ``counties``, ``tracts``,
        ``blocks``) with all their columns, ``GEOID`` among them; with ``bbox`` (west, south,
        east, north), only the polygons whose covering bbox intersects it.

        Raises:
            ValueError: naming the file and the column, when ``GEOID`` (or the ``bbox``
                column a ``bbox`` query needs) is missing.
        """
        return self._read_geoparquet(census_file(level), required=("GEOID",), bbox=check_bbox(bbox))

    def states_covering(self, bounds: Bounds) -> list[str]:
        """The names of the census states a box (west, south, east, north) overlaps, most
        covered first: a place hint for a region. ``NAME``, else ``STUSPS``, else ``GEOID``."""
        states = self.census("states", bbox=bounds)
        box = shapely.box(*bounds)
        column = next(name for name in ("NAME", "STUSPS", "GEOID") if name in states.columns)
        # Square degrees rank the states within one box well enough (one latitude band).
        shares = shapely.area(shapely.intersection(np.asarray(states.geometry.values), box))
        covered = states.assign(share=shares)[shares > 0].sort_values("share", ascending=False)
        return [str(name) for name in covered[column]]

    # ------------------------------------------------------------------ identities
    def input_versions(self, names: Sequence[str] = INPUT_NAMES) -> dict[str, str]:
        """The identity of each input in ``names`` (prefixes below the root): it changes when
        the input's content does.

        An Icechunk repository: ``icechunk:{snapshot ID}`` of branch ``main`` (the snapshot
        this catalog read, once it opened the repository). A file (Parquet): ``etag:...`` or
        ``sha256:...`` of its size, time of last change and footer (:func:`file_identity`).
        A plain Zarr folder: ``sha256:...`` of its listing (:func:`folder_identity`).

        Raises:
            FileNotFoundError: naming the input, when nothing is at its prefix.
        """
        return {name: self._input_version(name) for name in names}

    def _input_version(self, name: str) -> str:
        if name in self._snapshots:
            return f"icechunk:{self._snapshots[name]}"
        location = self._location(name)
        if not objects.exists(location):
            raise self._missing(name, "an input (Icechunk repository, Zarr store or file)")
        storage = icechunk_storage(location)
        fs, path = objects.filesystem(location)

        def identify() -> str:
            if fs.isfile(path):
                return file_identity(fs, path)
            if icechunk.Repository.exists(storage):
                snapshot = icechunk.Repository.open(storage).lookup_branch(INPUT_BRANCH)
                return f"icechunk:{snapshot}"
            return folder_identity(fs, path)

        return objects.bounded_call("identify input", location, identify)

    # ------------------------------------------------------------------ regions
    def valid_region_ids(self) -> list[str]:
        """Region IDs with any non-NaN CRPS, in grid order (south-west first).

        On the published grid, the list shipped with the package. On any other grid (the
        demo's, a cut-out of the real grid) they are read from ``valid_region_ids.json`` under
        the root; when that file is missing they are computed from the CRPS store (one pass
        over the data) and cached: in that file for a local root, in memory otherwise.
        """
        return list(self._valid_region_ids)

    @cached_property
    def _valid_region_ids(self) -> tuple[str, ...]:
        grid = self.grid
        if grid == CONUS_GRID:
            return tuple(published_valid_region_ids())
        location = self._location(VALID_REGION_IDS_FILE)
        if objects.exists(location):
            fs, path = objects.filesystem(location)
            text = objects.bounded_call("read", location, lambda: fs.cat_file(path).decode())
            return tuple(read_valid_region_ids(text, location, grid))
        region_ids = self._compute_valid_region_ids()
        if self._is_local:
            write_json_atomically(location, valid_region_ids_document(region_ids, grid))
        return tuple(region_ids)

    def _compute_valid_region_ids(self) -> list[str]:
        return valid_region_ids_of(self.scott()["CRPS"], self.grid)

    def region_inputs(self, region_id: str) -> RegionInputs:
        """Load the inputs of one region's buffered window into memory.

        Raises:
            ValueError: for a malformed or out-of-grid ID, or a region without any valid CRPS.
        """
        grid = self.grid
        rows, cols = grid.buffered_window(region_id)
        index = {"latitude": rows, "longitude": cols}
        scott = self.scott()
        crps = scott["CRPS"].isel(index).load()

        region_rows, region_cols = grid.window(region_id)
        inner = crps.isel(
            latitude=slice(region_rows.start - rows.start, region_rows.stop - rows.start),
            longitude=slice(region_cols.start - cols.start, region_cols.stop - cols.start),
        )
        if not bool(inner.notnull().any()):
            raise ValueError(f"region {region_id!r} has no valid (non-NaN) CRPS data")

        coords = {"latitude": crps["latitude"].values, "longitude": crps["longitude"].values}
        crps = assign_crs(crps, "EPSG:4326")
        rps = assign_crs(scott["RPS"].isel(index).load(), "EPSG:4326")
        riley_30m = {
            year: assign_crs(
                with_coords(
                    self.riley_30m(year).isel(index).load(),
                    coords,
                    self.path(riley_store(year, "30m-4326")),
                    grid.pixel_size,
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


def with_coords(
    da: xr.DataArray, coords: dict[str, np.ndarray], store: UPath, pixel_size: float
) -> xr.DataArray:
    """Give ``da`` exactly ``coords`` (the Scott window's) after checking they agree within a
    thousandth of a pixel of ``pixel_size`` degrees."""
    tol = COORD_TOLERANCE_PX * pixel_size
    for name, expected in coords.items():
        found = da[name].values
        if found.shape != expected.shape or np.abs(found - expected).max() > tol:
            raise ValueError(
                f"{store}: {name!r} coordinates must match the Scott grid within {tol:.3g} "
                "degrees, they do not"
            )
    return da.assign_coords(coords)


def write_json_atomically(path: str, doc: dict[str, Any]) -> None:
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
