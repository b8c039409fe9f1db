"""Multiscale Web-Mercator Zarr of the risk rasters (``risk_pyramid``, optional branch).

The layout is the one CarbonPlan's ``ndpyramid`` writes and ``@carbonplan/maps`` (through
``zarr-js``) reads, as the superseded published pyramid had it: a Zarr v2 group with
consolidated metadata (``.zmetadata``) and one child group per zoom level ``"0" ..
"{max_level}"``; level ``z`` holds full-world ``(y, x)`` float32 arrays of ``pixels_per_tile *
2**z`` pixels a side in EPSG:3857, chunked one tile per chunk (only chunks covering data are
written), zlib-compressed (zarr-js reads zlib and gzip only, not Blosc), with the netCDF default
fill value where there is no data (zarr-js hands out the raw fill value). The root attributes
carry ``multiscales`` (``datasets`` with path, level, crs and pixels_per_tile; ``type``;
``metadata`` with the method, version and kwargs ``levels`` / ``pixels_per_tile``, which older
``@carbonplan/maps`` releases read), ``title`` and the dataset metadata; each level carries its
own ``multiscales`` entry and a ``spatial_ref`` CRS coordinate (CF ``grid_mapping``), so a level
opened alone with xarray / rioxarray knows its projection. docs/rasters.md shows how to read it.

We write the layout ourselves rather than with ``ndpyramid.pyramid_reproject`` (0.4.0): with
our zarr 3 its zlib encoding is dropped and the chunks come out Blosc-compressed, which zarr-js
cannot read (checked: it sets the zarr-2-only ``compressor`` encoding key, which xarray ignores
when writing a DataTree); it reprojects every level of the whole world from the source in memory
(level 11 at 128 pixels a tile is 262144 x 262144 pixels); and it requires ``xarray[complete]``
(about 30 packages, matplotlib and cartopy among them).

As published, the finest level is reprojected once from the 30 m EPSG:4326 rasters with
``average`` resampling (odc-geo, i.e. GDAL warping), and each coarser level is the 2 x 2 mean
of the level above (NaN skipped). Every level's window is grown with NaN to whole tiles of its
own grid, so each 2 x 2 block of a coarser pixel lies inside the window above and every write
covers whole chunks; the windows (and memory) stay within a tile of the data's extent at every
level. (Aligning the finest window to ``2**max_level`` pixels instead would make it at least
``2**max_level`` pixels a side: 16384 x 16384 at level 14 for a few kilometres of data.)

Each level is written, then read back lazily from the store to compute the next coarser one, so
with dask-backed input every level is computed once and memory stays bounded by the chunks.

Not incremental: a region's pixels reach every level, and averaging crosses region borders.
"""

from __future__ import annotations

import importlib.metadata
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array
import numcodecs
import numpy as np
import xarray as xr
import zarr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import assign_crs, xr_reproject
from rasterio.errors import NotGeoreferencedWarning

from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.raster_store import (
    GRID_MAPPING,
    crs_attrs,
    require_flat_attrs,
    variable_attrs,
)

#: Half the side of the Web-Mercator square, metres.
MERCATOR_HALF_WIDTH = 20037508.342789244
#: Fill value on disk (the netCDF default the published pyramid uses); NaN in memory.
FILL_VALUE = 9.969209968386869e36
PROJECTION = "EPSG:3857"
#: The chunk compressor: zlib, which zarr-js (and so @carbonplan/maps) decodes; level 1 as
#: ndpyramid writes it.
COMPRESSOR = numcodecs.Zlib(level=1)
TITLE = "multiscale data pyramid"
#: Finest level zarr-js can open: it lists the key of every chunk of every array when
#: ``@carbonplan/maps`` opens the pyramid. Measured in node 20 for one array: 2048 x 2048 tiles
#: 7 s and 1.2 GB, 4096 x 4096 tiles 80 s and 4.6 GB. 11 (2048 tiles a side) is also the
#: published pyramid's finest level; finer pixels need larger tiles, not more levels.
ZARR_JS_MAX_LEVEL = 11
#: ``multiscales[0].metadata.method``: what wrote the pyramid.
METHOD = f"{__name__}.write_risk_pyramid"
#: Tiles per side of the dask chunks a level is read back in to compute the next one.
READ_BACK_TILES = 16


@dataclass(frozen=True)
class PyramidSummary:
    """What :func:`write_risk_pyramid` wrote.

    Attributes:
        location: The Zarr group.
        levels: Zoom levels written, coarsest first.
        variables: Variables in every level.
        pixels_per_tile: Chunk side (one web-map tile).
        windows: Per level, ``(row_start, row_stop, col_start, col_stop)`` of the written data in
            the level's full-world array.
    """

    location: str
    levels: tuple[int, ...]
    variables: tuple[str, ...]
    pixels_per_tile: int
    windows: dict[int, tuple[int, int, int, int]]


def level_for_resolution(resolution_m: float, pixels_per_tile: int) -> int:
    """Lowest zoom level whose pixels (at the equator) are no larger than ``resolution_m``."""
    if resolution_m <= 0:
        raise ValueError(f"resolution must be positive, got {resolution_m}")
    pixels_at_zero = 2 * MERCATOR_HALF_WIDTH / pixels_per_tile
    return max(0, math.ceil(math.log2(pixels_at_zero / resolution_m)))


def _pixel_size(level: int, pixels_per_tile: int) -> float:
    return 2 * MERCATOR_HALF_WIDTH / (pixels_per_tile * 2**level)


def _finest_window(ds: xr.Dataset, max_level: int, pixels_per_tile: int) -> GeoBox:
    """The data's extent on the finest level's grid, grown to whole tiles."""
    extent = ds.odc.geobox.extent.to_crs(PROJECTION).boundingbox
    size = _pixel_size(max_level, pixels_per_tile)
    align = pixels_per_tile
    col0 = math.floor((extent.left + MERCATOR_HALF_WIDTH) / size) // align * align
    col1 = -(-math.ceil((extent.right + MERCATOR_HALF_WIDTH) / size) // align) * align
    row0 = math.floor((MERCATOR_HALF_WIDTH - extent.top) / size) // align * align
    row1 = -(-math.ceil((MERCATOR_HALF_WIDTH - extent.bottom) / size) // align) * align
    affine = Affine(
        size, 0, -MERCATOR_HALF_WIDTH + col0 * size, 0, -size, MERCATOR_HALF_WIDTH - row0 * size
    )
    return GeoBox((row1 - row0, col1 - col0), affine, PROJECTION)


def _window(level_ds: xr.Dataset, level: int, pixels_per_tile: int) -> tuple[int, int, int, int]:
    """Row and column ranges of ``level_ds`` in its level's full-world array."""
    size = _pixel_size(level, pixels_per_tile)
    col0 = round((float(level_ds.x[0]) - size / 2 + MERCATOR_HALF_WIDTH) / size)
    row0 = round((MERCATOR_HALF_WIDTH - float(level_ds.y[0]) - size / 2) / size)
    return row0, row0 + level_ds.sizes["y"], col0, col0 + level_ds.sizes["x"]


def _tile_aligned(level_ds: xr.Dataset, level: int, pixels_per_tile: int) -> xr.Dataset:
    """``level_ds`` grown with NaN to whole tiles of its level's grid."""
    row0, row1, col0, col1 = _window(level_ds, level, pixels_per_tile)
    pad_y = (row0 % pixels_per_tile, -row1 % pixels_per_tile)
    pad_x = (col0 % pixels_per_tile, -col1 % pixels_per_tile)
    if not any(pad_y + pad_x):
        return level_ds
    size = _pixel_size(level, pixels_per_tile)
    rows = np.arange(row0 - pad_y[0], row1 + pad_y[1])
    cols = np.arange(col0 - pad_x[0], col1 + pad_x[1])
    padded = level_ds.drop_vars(["x", "y"]).pad(y=pad_y, x=pad_x, constant_values=np.nan)
    return padded.assign_coords(
        y=MERCATOR_HALF_WIDTH - (rows + 0.5) * size, x=-MERCATOR_HALF_WIDTH + (cols + 0.5) * size
    )


def multiscales(datasets: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    """The ``multiscales`` attribute as ndpyramid writes it (``@carbonplan/maps`` reads it).

    ``kwargs`` are the pyramid's parameters (older ``@carbonplan/maps`` releases read ``levels``
    and ``pixels_per_tile`` from them at the root).
    """
    return [
        {
            "datasets": datasets,
            "type": "reduce",
            "metadata": {
                "method": METHOD,
                "version": importlib.metadata.version("ocr-assets"),
                "args": [],
                "kwargs": {**kwargs, "projection": "web-mercator", "resampling": "average"},
            },
        }
    ]


def _world_template(
    level_ds: xr.Dataset, level: int, pixels_per_tile: int, attrs: dict[str, Any]
) -> xr.Dataset:
    """An empty full-world dataset of one level (lazy: writing it stores only metadata)."""
    dim = pixels_per_tile * 2**level
    size = _pixel_size(level, pixels_per_tile)
    centres = -MERCATOR_HALF_WIDTH + (np.arange(dim) + 0.5) * size
    # One dask chunk keeps the graph tiny; the Zarr chunks come from the encoding.
    empty = dask.array.full((dim, dim), np.nan, dtype=np.float32, chunks=-1)
    return xr.Dataset(
        {
            name: (("y", "x"), empty, variable_attrs(str(name), level_ds[name].attrs))
            for name in level_ds.data_vars
        },
        coords={
            "y": ("y", centres[::-1].copy(), {"standard_name": "projection_y_coordinate"}),
            "x": ("x", centres, {"standard_name": "projection_x_coordinate"}),
            GRID_MAPPING: ((), np.int32(0), crs_attrs(PROJECTION)),
        },
        attrs=attrs,
    )


def _encoding(variables: Sequence[str], pixels_per_tile: int) -> dict[str, dict[str, Any]]:
    """Zarr v2 encoding of a level: zlib everywhere, float32 tile chunks, the fill value."""
    encoding: dict[str, dict[str, Any]] = {
        name: {
            "compressors": (COMPRESSOR,),
            "_FillValue": FILL_VALUE,
            "dtype": "float32",
            "chunks": (pixels_per_tile,) * 2,
        }
        for name in variables
    }
    for name in ("x", "y"):
        encoding[name] = {"compressors": (COMPRESSOR,), "_FillValue": None}
    # int32: zarr-js reads no 64-bit integers.
    encoding[GRID_MAPPING] = {"compressors": (COMPRESSOR,), "dtype": "int32"}
    return encoding


def write_risk_pyramid(
    ds: xr.Dataset,
    output: str,
    attrs: Mapping[str, Any],
    *,
    max_level: int,
    pixels_per_tile: int = 128,
    variables: Sequence[str] = ("rps_2011", "rps_2047"),
) -> PyramidSummary:
    """Write the Web-Mercator pyramid of ``variables`` of ``ds`` to ``output`` (Zarr v2).

    Args:
        ds: Rasters on ``(latitude, longitude)`` in EPSG:4326 (numpy or dask backed).
        output: Destination Zarr group (replaced atomically).
        attrs: Dataset metadata (flat) for the root and level attributes.
        max_level: Finest zoom level (see :func:`level_for_resolution`), at most
            :data:`ZARR_JS_MAX_LEVEL`.
        pixels_per_tile: Pixels per tile side (even), the chunk size of every level.
        variables: Variables to include.

    Raises:
        ValueError: a missing variable or a bad level / tile size (or more levels than zarr-js
            can open).
        StorageError: an attribute that is not flat (strings, numbers, lists of numbers).
    """
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"variables {missing} not in the dataset ({list(ds.data_vars)})")
    if max_level < 0 or pixels_per_tile < 2 or pixels_per_tile % 2:
        raise ValueError(f"bad pyramid shape: max_level={max_level}, tiles={pixels_per_tile}")
    if max_level > ZARR_JS_MAX_LEVEL:
        raise ValueError(
            f"max_level {max_level} has {2**max_level} tiles a side: more than zarr-js (the reader "
            f"of @carbonplan/maps) can open; at most {ZARR_JS_MAX_LEVEL}, with larger tiles "
            "(pixels_per_tile) for finer pixels"
        )
    metadata = require_flat_attrs(attrs, f"pyramid {output}")
    source = assign_crs(ds[list(variables)], "EPSG:4326")
    window = _finest_window(source, max_level, pixels_per_tile)
    finest = xr.Dataset(
        {
            name: xr_reproject(source[name], window, resampling="average", dst_nodata=np.nan)
            .astype(np.float32)
            .drop_vars(GRID_MAPPING)
            .assign_attrs(ds[name].attrs)
            for name in variables
        }
    )
    levels = list(range(max_level + 1))
    datasets = [
        {"path": str(z), "level": z, "crs": PROJECTION, "pixels_per_tile": pixels_per_tile}
        for z in levels
    ]
    windows: dict[int, tuple[int, int, int, int]] = {}
    encoding = _encoding(variables, pixels_per_tile)
    with atomic_output(output) as store:
        root = zarr.open_group(str(store), mode="w", zarr_format=2)
        root.attrs.update(
            {
                "multiscales": multiscales(
                    datasets, levels=max_level + 1, pixels_per_tile=pixels_per_tile
                ),
                "title": TITLE,
                **metadata,
            }
        )
        level_ds = finest
        for level in reversed(levels):
            if level != max_level:
                coarser = level_ds.coarsen(y=2, x=2).mean().astype(np.float32)
                level_ds = _tile_aligned(coarser, level, pixels_per_tile)
            level_attrs = {
                "multiscales": multiscales(
                    [{"path": ".", "level": level, "crs": PROJECTION}],
                    level=level,
                    pixels_per_tile=pixels_per_tile,
                ),
                **metadata,
            }
            template = _world_template(level_ds, level, pixels_per_tile, level_attrs)
            template.to_zarr(
                str(store), group=str(level), compute=False, encoding=encoding, zarr_format=2
            )
            rows0, rows1, cols0, cols1 = _window(level_ds, level, pixels_per_tile)
            windows[level] = (rows0, rows1, cols0, cols1)
            with warnings.catch_warnings():
                # odc-geo warps block by block and passes each block's geobox to rasterio
                # itself; rasterio still warns "no geotransform" for some blocks it is handed.
                # The values are odc-geo's (the pyramid tests compare them with the stores).
                warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
                level_ds.drop_vars(["x", "y", GRID_MAPPING], errors="ignore").to_zarr(
                    str(store),
                    group=str(level),
                    region={"y": slice(rows0, rows1), "x": slice(cols0, cols1)},
                    mode="r+",
                    align_chunks=True,
                )
            # The next level is computed from this one as stored (NaN where nothing was), in
            # dask chunks of the window only (chunking the full-world array would not scale).
            level_ds = (
                xr.open_zarr(str(store), group=str(level), consolidated=False, chunks=None)[
                    list(variables)
                ]
                .isel(y=slice(rows0, rows1), x=slice(cols0, cols1))
                .chunk(
                    {"y": READ_BACK_TILES * pixels_per_tile, "x": READ_BACK_TILES * pixels_per_tile}
                )
            )
        zarr.consolidate_metadata(str(store), zarr_format=2)
    return PyramidSummary(
        location=str(output),
        levels=tuple(levels),
        variables=tuple(variables),
        pixels_per_tile=pixels_per_tile,
        windows=dict(sorted(windows.items())),
    )
