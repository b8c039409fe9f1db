"""Multiscale Web-Mercator Zarr of the risk rasters (``risk_pyramid``, optional branch).

The layout follows the published pyramid (and what ``@carbonplan/maps`` reads): a Zarr v2
group with one child group per zoom level ``"0" .. "{max_level}"``; level ``z`` holds
full-world ``(y, x)`` arrays of ``pixels_per_tile * 2**z`` pixels a side in EPSG:3857, chunked
one tile per chunk, so only the chunks covering data are ever written. Root and level
attributes carry ``multiscales`` (path, level, crs, pixels_per_tile) plus the dataset metadata.

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

import math
from collections.abc import Sequence
from dataclasses import dataclass

import dask.array
import numpy as np
import xarray as xr
import zarr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import assign_crs, xr_reproject

from ocr_assets.rollups.schema import DatasetMetadata
from ocr_assets.storage.atomic import atomic_output

#: Half the side of the Web-Mercator square, metres.
MERCATOR_HALF_WIDTH = 20037508.342789244
#: Fill value on disk (the netCDF default the published pyramid uses); NaN in memory.
FILL_VALUE = 9.969209968386869e36
PROJECTION = "EPSG:3857"
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


def _world_template(
    level_ds: xr.Dataset, level: int, pixels_per_tile: int, attrs: dict
) -> xr.Dataset:
    """An empty full-world dataset of one level (lazy: writing it stores only metadata)."""
    dim = pixels_per_tile * 2**level
    size = _pixel_size(level, pixels_per_tile)
    centres = -MERCATOR_HALF_WIDTH + (np.arange(dim) + 0.5) * size
    # One dask chunk keeps the graph tiny; the Zarr chunks come from the encoding.
    empty = dask.array.full((dim, dim), np.nan, dtype=np.float32, chunks=-1)
    return xr.Dataset(
        {name: (("y", "x"), empty, level_ds[name].attrs) for name in level_ds.data_vars},
        coords={"y": centres[::-1].copy(), "x": centres},
        attrs=attrs,
    )


def write_risk_pyramid(
    ds: xr.Dataset,
    output: str,
    metadata: DatasetMetadata,
    *,
    max_level: int,
    pixels_per_tile: int = 128,
    variables: Sequence[str] = ("rps_2011", "rps_2047"),
) -> PyramidSummary:
    """Write the Web-Mercator pyramid of ``variables`` of ``ds`` to ``output`` (Zarr v2).

    Args:
        ds: Rasters on ``(latitude, longitude)`` in EPSG:4326 (numpy or dask backed).
        output: Destination Zarr group (replaced atomically).
        metadata: Dataset metadata for the root attributes.
        max_level: Finest zoom level (see :func:`level_for_resolution`).
        pixels_per_tile: Pixels per tile side (even), the chunk size of every level.
        variables: Variables to include.

    Raises:
        ValueError: a missing variable or a bad level / tile size.
    """
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"variables {missing} not in the dataset ({list(ds.data_vars)})")
    if not 0 <= max_level <= 20 or pixels_per_tile < 2 or pixels_per_tile % 2:
        raise ValueError(f"bad pyramid shape: max_level={max_level}, tiles={pixels_per_tile}")
    source = assign_crs(ds[list(variables)], "EPSG:4326")
    window = _finest_window(source, max_level, pixels_per_tile)
    finest = xr.Dataset(
        {
            name: xr_reproject(source[name], window, resampling="average", dst_nodata=np.nan)
            .astype(np.float32)
            .drop_vars("spatial_ref")
            for name in variables
        }
    )
    levels = list(range(max_level + 1))
    multiscales = [
        {
            "datasets": [
                {"path": str(z), "level": z, "crs": PROJECTION, "pixels_per_tile": pixels_per_tile}
                for z in levels
            ]
        }
    ]
    windows: dict[int, tuple[int, int, int, int]] = {}
    encoding = {
        name: {"_FillValue": FILL_VALUE, "dtype": "float32", "chunks": (pixels_per_tile,) * 2}
        for name in variables
    }
    with atomic_output(output) as store:
        root = zarr.open_group(str(store), mode="w", zarr_format=2)
        root.attrs.update(
            {"multiscales": multiscales, "title": "multiscale data pyramid", **metadata.raster()}
        )
        level_ds = finest
        for level in reversed(levels):
            if level != max_level:
                coarser = level_ds.coarsen(y=2, x=2).mean().astype(np.float32)
                level_ds = _tile_aligned(coarser, level, pixels_per_tile)
            attrs = {
                "multiscales": [{"datasets": [{"path": ".", "level": level, "crs": PROJECTION}]}]
            }
            template = _world_template(level_ds, level, pixels_per_tile, attrs)
            template.to_zarr(
                str(store), group=str(level), compute=False, encoding=encoding, zarr_format=2
            )
            rows0, rows1, cols0, cols1 = _window(level_ds, level, pixels_per_tile)
            windows[level] = (rows0, rows1, cols0, cols1)
            level_ds.drop_vars(["x", "y"]).to_zarr(
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
