"""Where the inputs live: one root (local folder or ``s3://``) laid out like the published bucket.

``InputCatalog(root)`` finds every input at the prefix it has in the published bucket
``carbonplan-ocr`` (so ``root`` may be ``s3://carbonplan-ocr`` itself, any copy of it, or the
synthetic demo inputs written by :mod:`ocr_assets.synthetic`), opens it lazily and validates
what the pipeline relies on (variables, dims, CRSs, units, columns):

=============================================================================  ====================
``input/fire-risk/tensor/USFS/scott-et-al-2024/processed-30m-4326.icechunk``   ``CRPS``, ``RPS``, ``BP``
``input/fire-risk/tensor/USFS/riley-et-al-2025/{year}-climate-run-270m-5070.icechunk``  ``BP`` (y, x)
``input/fire-risk/tensor/USFS/riley-et-al-2025/{year}-climate-run-30m-4326.icechunk``   ``BP``
``input/conus404-hourly-icechunk/{PSFC,Q2,T2,TD2,U10,V10}``                      one variable each
``input/conus404-hourly-icechunk/constants``                                  ``SINALPHA``, ``COSALPHA``, ``crs``
``input/fire-risk/vector/overture-maps/CONUS-overture-region-tagged-buildings-2025-09-24.0.parquet``
``input/fire-risk/vector/census-tiger/{level}/{level}.parquet``                ``GEOID``, ``geometry``
``valid_region_ids.json``                                                     cache of valid region IDs
=============================================================================  ====================

Zarr inputs are Icechunk repositories read from branch ``main``; like the published reader,
a plain Zarr store at the same prefix is accepted too. The vectors are GeoParquet; bounding-box
queries filter on their ``bbox`` struct column. Bad input raises ``FileNotFoundError`` or
``ValueError`` naming the prefix, what was expected and what was found.

S3-compatible endpoints are reached through the standard ``AWS_ENDPOINT_URL`` environment
variable (and the usual AWS credential variables), which s3fs and Icechunk honour.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import icechunk
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import shapely
import xarray as xr
from odc.geo.xr import assign_crs
from pyproj import CRS, Transformer
from upath import UPath

from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import CONUS_GRID, Bounds, RegionGrid
from ocr_assets.storage import objects
from ocr_assets.storage.raster_store import icechunk_storage

#: Icechunk branch the inputs are read from.
INPUT_BRANCH = "main"

_USFS = "input/fire-risk/tensor/USFS"
SCOTT_STORE = f"{_USFS}/scott-et-al-2024/processed-30m-4326.icechunk"
#: The Scott variables the pipeline reads (the store has 8; these must be float32).
SCOTT_VARIABLES: tuple[str, ...] = ("CRPS", "RPS", "BP")
CONUS404_PREFIX = "input/conus404-hourly-icechunk"
#: The hourly CONUS404 variables (one Icechunk repository each) and their WRF units.
CONUS404_UNITS: Mapping[str, str] = {
    "PSFC": "Pa",
    "Q2": "kg kg-1",
    "T2": "K",
    "TD2": "K",
    "U10": "m s-1",
    "V10": "m s-1",
}
CONUS404_VARIABLES: tuple[str, ...] = tuple(CONUS404_UNITS)
#: The repository of the CONUS404 spatial constants (this project's convention, see the docs).
CONUS404_CONSTANTS = "constants"
CONUS404_CONSTANT_VARIABLES: tuple[str, ...] = ("SINALPHA", "COSALPHA")
BUILDINGS_FILE = (
    "input/fire-risk/vector/overture-maps/"
    "CONUS-overture-region-tagged-buildings-2025-09-24.0.parquet"
)
#: Columns of the region-tagged buildings file, in the published order.
BUILDINGS_COLUMNS: tuple[str, ...] = (
    "geometry",
    "bbox",
    "block_geoid",
    "block_group_geoid",
    "tract_geoid",
    "county_geoid",
    "state_fips",
    "county_fips",
    "tract_fips",
    "block_group_fips",
    "block_fips",
    "state_abbrev",
    "county_name",
)
#: The building columns the pipeline reads besides the geometry.
BUILDING_TAGS: tuple[str, ...] = ("block_geoid", "state_abbrev", "county_name")
CENSUS_PREFIX = "input/fire-risk/vector/census-tiger"
VALID_REGION_IDS_FILE = "valid_region_ids.json"

#: The two climates of the Riley et al. 2025 burn probability.
RILEY_YEARS: tuple[int, ...] = (2011, 2047)
#: Census levels, coarsest first.
CENSUS_LEVELS: tuple[str, ...] = ("nation", "states", "counties", "tracts", "blocks")

#: Degrees added around a bounding-box query on the vectors' ``bbox`` column: Overture stores
#: it as float32, whose rounding (under 1e-5 degree on CONUS) must not drop a footprint.
BBOX_QUERY_MARGIN_DEG = 1e-5

#: Pixel size of the Scott (and Riley 30 m) grid in degrees (about 34 m by 25 m at 40 N).
PIXEL_SIZE_DEGREES = CONUS_GRID.pixel_size
#: Pixel size of the Riley native grid, metres (EPSG:5070).
RILEY_RESOLUTION_M = 270.0
#: Extra coarse pixels kept around a region's buffered window in ``riley_270m``.
RILEY_WINDOW_MARGIN_PIXELS = 3

HOW_TO_GENERATE = (
    "generate the synthetic demo inputs with `make demo` or "
    "`python -m ocr_assets.synthetic --root {root}`"
)

# A coordinate may be off its expected pixel centre by this fraction of a pixel.
_COORD_TOLERANCE_PX = 1e-3
# The two axes' steps may differ by this fraction of a pixel.
_STEP_TOLERANCE = 1e-9


def riley_store(year: int, resolution: str) -> str:
    """Prefix of a Riley et al. 2025 repository: ``resolution`` is ``'270m-5070'`` or ``'30m-4326'``."""
    if year not in RILEY_YEARS:
        raise ValueError(f"unknown Riley year {year!r}: expected one of {RILEY_YEARS}")
    if resolution not in ("270m-5070", "30m-4326"):
        raise ValueError(
            f"unknown Riley resolution {resolution!r}: expected '270m-5070' or '30m-4326'"
        )
    return f"{_USFS}/riley-et-al-2025/{year}-climate-run-{resolution}.icechunk"


def conus404_store(name: str) -> str:
    """Prefix of a CONUS404 repository: one of :data:`CONUS404_VARIABLES` or ``'constants'``."""
    if name not in (*CONUS404_VARIABLES, CONUS404_CONSTANTS):
        raise ValueError(
            f"unknown CONUS404 repository {name!r}: expected one of "
            f"{(*CONUS404_VARIABLES, CONUS404_CONSTANTS)}"
        )
    return f"{CONUS404_PREFIX}/{name}"


def census_file(level: str) -> str:
    """Prefix of a census level's GeoParquet file (``.../census-tiger/{level}/{level}.parquet``)."""
    if level not in CENSUS_LEVELS:
        raise ValueError(f"unknown census level {level!r}: expected one of {CENSUS_LEVELS}")
    return f"{CENSUS_PREFIX}/{level}/{level}.parquet"


#: Every input prefix of the layout above (what :meth:`InputCatalog.input_versions` identifies).
INPUT_NAMES: tuple[str, ...] = (
    SCOTT_STORE,
    *(riley_store(year, res) for year in RILEY_YEARS for res in ("270m-5070", "30m-4326")),
    *(conus404_store(name) for name in (*CONUS404_VARIABLES, CONUS404_CONSTANTS)),
    BUILDINGS_FILE,
    *(census_file(level) for level in CENSUS_LEVELS),
)
#: Bytes at the end of a file hashed into its identity (a Parquet file's footer: its schema,
#: row groups and column statistics change with any change of content).
FOOTER_BYTES = 64 * 1024


def grid_of(store: str, ds: xr.Dataset, var: str) -> RegionGrid:
    """The region grid of ``ds[var]``: pixel size, origin and shape from its coordinates, the
    region size from its storage chunks (the last chunk of an axis may be partial).

    Raises:
        ValueError: naming ``store``, the expected and the found value, when the variable is
            not on ascending, regular ``(latitude, longitude)`` EPSG:4326 coordinates with one
            step along both axes, or has no usable chunking.
    """
    da = _data_var(ds, var, store)
    if da.dims != ("latitude", "longitude"):
        raise ValueError(f"{store}: {var} dims must be ('latitude', 'longitude'), found {da.dims}")
    _check_crs(store, _crs_of(ds, var), 4326)
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
        if abs(coord[worst] - centres[worst]) > _COORD_TOLERANCE_PX * pixel_size:
            raise ValueError(
                f"{store}: coordinate {name!r} must be regular with step {pixel_size!r} "
                f"(within {_COORD_TOLERANCE_PX} pixel), found {float(coord[worst])!r} at index "
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
    tol = _COORD_TOLERANCE_PX * b.pixel_size
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


def _read_valid_region_ids(path: UPath, grid: RegionGrid) -> list[str]:
    """The IDs cached in ``path`` (``valid_region_ids.json``), checked against ``grid``."""
    doc = json.loads(path.read_text())
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


_UNIT_ALIASES = {"m/s": "m s-1", "m s**-1": "m s-1", "kg/kg": "kg kg-1", "kg kg**-1": "kg kg-1"}


def _normal_units(units: object) -> object:
    """Units spelled the WRF way (``'m s-1'``) when they are a known equivalent spelling."""
    return _UNIT_ALIASES.get(units, units) if isinstance(units, str) else units


def _describe(values: np.ndarray) -> str:
    if values.size == 0:
        return "0 values"
    return f"{values.size} values from {values[0]!r} to {values[-1]!r}"


def _check_same_grid(
    store: object, ds: xr.Dataset, reference: xr.Dataset, dims: Sequence[str]
) -> None:
    """Raise ValueError unless ``ds`` has exactly ``reference``'s coordinates along ``dims``."""
    for dim in dims:
        if dim not in ds.coords:
            raise ValueError(f"{store}: expected a coordinate {dim!r}, found {list(ds.coords)}")
        found, expected = ds[dim].values, reference[dim].values
        if found.shape != expected.shape or not np.array_equal(found, expected):
            raise ValueError(
                f"{store}: coordinate {dim!r} must equal the T2 repository's "
                f"({_describe(expected)}), found {_describe(found)}"
            )


def _lat_lon(ds: xr.Dataset, store: object) -> dict[str, xr.Variable]:
    """The (y, x) ``lat`` and ``lon`` of a CONUS404 repository."""
    out = {}
    for name in ("lat", "lon"):
        if name not in ds.variables or ds[name].dims != ("y", "x"):
            found = ds[name].dims if name in ds.variables else "no such variable"
            raise ValueError(f"{store}: expected {name!r} on ('y', 'x'), found {found}")
        out[name] = ds[name].variable
    return out


def _check_bbox(bbox: Bounds | None) -> Bounds | None:
    """``bbox`` as four floats, or a ValueError unless it is (west, south, east, north)."""
    if bbox is None:
        return None
    if len(bbox) != 4 or not (bbox[0] <= bbox[2] and bbox[1] <= bbox[3]):
        raise ValueError(f"bbox must be (west, south, east, north), got {bbox!r}")
    west, south, east, north = (float(v) for v in bbox)
    return west, south, east, north


def _bbox_column(geo: Mapping[str, Any], geometry: str) -> str:
    """The bounding-box struct column: the GeoParquet 1.1 covering, else ``bbox``."""
    covering = geo.get("columns", {}).get(geometry, {}).get("covering", {}).get("bbox", {})
    return covering.get("xmin", ["bbox"])[0]


def _bbox_filter(file: object, schema: pa.Schema, column: str, bbox: Bounds) -> pc.Expression:
    """Rows whose ``column`` box intersects ``bbox`` grown by :data:`BBOX_QUERY_MARGIN_DEG`."""
    fields = ("xmin", "ymin", "xmax", "ymax")
    kind = schema.field(column).type if column in schema.names else None
    if not isinstance(kind, pa.StructType) or any(kind.get_field_index(f) < 0 for f in fields):
        found = "no such column" if kind is None else str(kind)
        raise ValueError(
            f"{file}: a bbox query needs a column {column!r} of struct<xmin, ymin, xmax, ymax> "
            f"(GeoParquet covering), found {found}"
        )
    margin = BBOX_QUERY_MARGIN_DEG
    west, south, east, north = bbox
    return (
        (pc.field(column, "xmin") <= east + margin)
        & (pc.field(column, "xmax") >= west - margin)
        & (pc.field(column, "ymin") <= north + margin)
        & (pc.field(column, "ymax") >= south - margin)
    )


def _parse_crs(crs: object) -> CRS | None:
    """A GeoParquet ``crs`` value (PROJJSON, a string, or null for unknown).

    Longitude/latitude on WGS 84 (GeoParquet's default ``OGC:CRS84``) becomes EPSG:4326.
    """
    if crs is None:
        return None
    parsed = CRS.from_json_dict(crs) if isinstance(crs, dict) else CRS.from_user_input(crs)
    wgs84 = CRS.from_epsg(4326)
    return wgs84 if parsed.equals(wgs84, ignore_axis_order=True) else parsed


def file_identity(fs: Any, path: str) -> str:
    """A file's identity: its ETag where the store gives one, else a hash of its size, time of
    last change and last :data:`FOOTER_BYTES` bytes."""
    info = fs.info(path)
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return "etag:" + str(etag).strip('"')
    size = int(info["size"])
    stamp = info.get("mtime", info.get("LastModified", ""))
    with fs.open(path, "rb") as handle:
        handle.seek(max(0, size - FOOTER_BYTES))
        footer = handle.read()
    digest = hashlib.sha256(f"{size}:{stamp}:".encode() + footer).hexdigest()
    return f"sha256:{digest}"


def folder_identity(fs: Any, path: str) -> str:
    """A plain folder's (Zarr store's) identity: a hash of every file's name, size and ETag or
    time of last change."""
    listing = fs.find(path, detail=True)
    entries = sorted(
        f"{name}:{info.get('size')}:{info.get('ETag') or info.get('mtime', '')}"
        for name, info in listing.items()
    )
    return "sha256:" + hashlib.sha256("\n".join(entries).encode()).hexdigest()


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

    def _open_zarr(self, name: str) -> xr.Dataset:
        """The dataset at prefix ``name``: an Icechunk repository (branch ``main``) or Zarr.

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
                {} if self._is_local else {"storage_options": dict(self.path(name).storage_options)}
            )
        try:
            ds = xr.open_dataset(store, engine="zarr", chunks={}, decode_coords="all", **options)
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
        try:
            dataset = pads.dataset(path, filesystem=fs, format="parquet")
        except (pa.ArrowInvalid, OSError) as error:
            raise ValueError(
                f"{self.path(name)}: expected a GeoParquet file, found something else ({error})"
            ) from error
        schema = dataset.schema
        geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
        geometry = geo.get("primary_column", "geometry")
        bbox_column = _bbox_column(geo, geometry)
        if columns is None:
            wanted = [c for c in schema.names if c != bbox_column]
        else:
            wanted = list(dict.fromkeys([geometry, *columns]))
        for column in dict.fromkeys([geometry, *required, *wanted]):
            if column not in schema.names:
                raise ValueError(
                    f"{self.path(name)}: expected a column {column!r}, found {schema.names}"
                )
        encoding = geo.get("columns", {}).get(geometry, {}).get("encoding", "WKB")
        if encoding != "WKB":
            raise ValueError(
                f"{self.path(name)}: column {geometry!r} must be WKB-encoded, found {encoding!r}"
            )
        row_filter = None
        if bbox is not None:
            row_filter = _bbox_filter(self.path(name), schema, bbox_column, bbox)
        table = dataset.to_table(columns=wanted, filter=row_filter)
        crs = _parse_crs(geo.get("columns", {}).get(geometry, {}).get("crs", "OGC:CRS84"))
        frame = gpd.GeoDataFrame(
            table.drop_columns([geometry]).to_pandas(),
            geometry=shapely.from_wkb(table[geometry].to_numpy(zero_copy_only=False)),
            crs=crs,
        )
        return frame.rename_geometry(geometry)[wanted] if geometry != "geometry" else frame[wanted]

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

        Validated: dims (y, x), EPSG:5070, 270 m pixels, x ascending. The published store has
        y ascending; either order is accepted and the array is returned north-up (y
        descending, a lazy reversal).
        """
        name = riley_store(year, "270m-5070")
        store = str(self.path(name))
        ds = self._open_zarr(name)
        da = _data_var(ds, "BP", store)
        if da.dims != ("y", "x"):
            raise ValueError(f"{store}: BP dims must be ('y', 'x'), found {da.dims}")
        _check_crs(store, _crs_of(ds, "BP"), 5070)
        res = RILEY_RESOLUTION_M
        y = np.asarray(da["y"].values)
        _check_spacing(store, "x", np.asarray(da["x"].values), res, 1e-6)
        ascending = y.size > 1 and y[1] > y[0]
        _check_spacing(store, "y", y, res if ascending else -res, 1e-6)
        if ascending:
            da = da.isel(y=slice(None, None, -1))
        return assign_crs(da, "EPSG:5070")

    def conus404(self) -> xr.Dataset:
        """The hourly CONUS404 variables merged with their spatial constants (lazy).

        Like the published ``load_conus404(add_spatial_constants=True)``: ``PSFC, Q2, T2, TD2,
        U10, V10`` (time, y, x) float32 with their WRF units, ``SINALPHA``, ``COSALPHA`` (y, x)
        float32; coordinates ``x``, ``y``, ``time``, ``lat``/``lon`` (y, x) from the ``T2``
        repository and the scalar ``crs`` (its ``crs_wkt`` attribute is the grid's CRS).

        Raises:
            FileNotFoundError: a repository is missing (named).
            ValueError: naming the repository, for a missing variable, wrong dims, dtype or
                units, a grid differing from ``T2``'s, or a ``crs`` without a usable WKT.
        """
        reference = self._conus404_variable("T2")
        lat_lon = _lat_lon(self._open_zarr(conus404_store("T2")), self.path(conus404_store("T2")))
        parts = [self._conus404_variable(name) for name in CONUS404_VARIABLES]
        constants = self._conus404_constants(reference)
        merged = xr.merge([*parts, constants], join="exact")
        return merged.assign_coords(lat_lon)

    def _conus404_variable(self, name: str) -> xr.Dataset:
        """One hourly variable (lat/lon dropped), validated against the published layout."""
        prefix = conus404_store(name)
        store = self.path(prefix)
        ds = self._open_zarr(prefix)
        da = _data_var(ds, name, store)
        if da.dims != ("time", "y", "x"):
            raise ValueError(f"{store}: {name} dims must be ('time', 'y', 'x'), found {da.dims}")
        if da.dtype != np.float32:
            raise ValueError(f"{store}: {name} must be float32, found {da.dtype}")
        units = da.attrs.get("units")
        if _normal_units(units) != _normal_units(CONUS404_UNITS[name]):
            raise ValueError(
                f"{store}: {name} units must be {CONUS404_UNITS[name]!r}, found {units!r}"
            )
        if name != "T2":
            _check_same_grid(store, ds, self._conus404_variable("T2"), ("time", "y", "x"))
        return ds[[name]].drop_vars(["lat", "lon"], errors="ignore").reset_coords(drop=True)

    def _conus404_constants(self, reference: xr.Dataset) -> xr.Dataset:
        """``SINALPHA``, ``COSALPHA`` and the scalar coordinate ``crs``, validated."""
        prefix = conus404_store(CONUS404_CONSTANTS)
        store = self.path(prefix)
        ds = self._open_zarr(prefix)
        for name in CONUS404_CONSTANT_VARIABLES:
            da = _data_var(ds, name, store)
            if da.dims != ("y", "x") or da.dtype != np.float32:
                raise ValueError(
                    f"{store}: {name} must be float32 on ('y', 'x'), found {da.dtype} on {da.dims}"
                )
        _check_same_grid(store, ds, reference, ("y", "x"))
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
            BUILDINGS_FILE, required=("geometry",), bbox=_check_bbox(bbox), columns=columns
        )

    def census(self, level: str, bbox: Bounds | None = None) -> gpd.GeoDataFrame:
        """Census polygons of one level (``nation``, ``states``, ``counties``, ``tracts``,
        ``blocks``) with all their columns, ``GEOID`` among them; with ``bbox`` (west, south,
        east, north), only the polygons whose covering bbox intersects it.

        Raises:
            ValueError: naming the file and the column, when ``GEOID`` (or the ``bbox``
                column a ``bbox`` query needs) is missing.
        """
        return self._read_geoparquet(
            census_file(level), required=("GEOID",), bbox=_check_bbox(bbox)
        )

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
        path = self.path(VALID_REGION_IDS_FILE)
        if path.exists():
            return tuple(_read_valid_region_ids(path, grid))
        region_ids = self._compute_valid_region_ids()
        if self._is_local:
            _write_json_atomically(path.path, valid_region_ids_document(region_ids, grid))
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
