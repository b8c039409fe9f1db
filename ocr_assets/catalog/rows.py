"""Per-region identities of the rows of the vector inputs: which regions a change of rows touches.

A region's rows of an input are the rows the region's assets read:

- the buildings file: the footprints whose centroid lies in the region (what ``region_buildings``
  keeps, :meth:`~ocr_assets.regions.RegionGrid.region_indices`);
- a census level: the polygons whose bounding box (the file's covering ``bbox`` column) touches
  the region's box grown by :data:`CENSUS_ROW_MARGIN_DEG` (what the region's statistics partial
  reads, by a hair more).

The identity of a region's rows is ``rows:{count}:{digest}``: their number and the sum modulo
2**64 of each row's 64-bit hash (DuckDB's ``hash`` of the columns the assets read; MD5 of the
same was 20 times slower). A sum does not depend on the rows' order, so rewriting a file in
another order changes nothing; adding, removing, moving (between regions) or changing a row
changes the identity of the regions it belongs to, and only theirs. A region without rows is
:data:`NO_ROWS`.

All regions' identities come from one pass over the file (record batches, the bounding boxes
from the covering column; a centroid is computed only for footprints whose box crosses a region
edge) and are cached in the process by the file's identity.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import shapely

from ocr_assets.catalog.identity import file_identity
from ocr_assets.catalog.layout import (
    BBOX_QUERY_MARGIN_DEG,
    BUILDING_TAGS,
    BUILDINGS_FILE,
    census_file,
)
from ocr_assets.catalog.vectors import bbox_column
from ocr_assets.data import CENSUS_LEVELS
from ocr_assets.regions import RegionGrid

#: The identity of a region without rows.
NO_ROWS = "rows:0"
#: Census polygons belong to every region their box touches grown by this much (degrees): the
#: query margin twice, more than the partial's reading margin (the query margin plus a
#: millionth of a degree), so a polygon the partial reads is always one of the region's rows.
CENSUS_ROW_MARGIN_DEG = 2 * BBOX_QUERY_MARGIN_DEG
_BATCH_ROWS = 1 << 16


@dataclass(frozen=True)
class RowSelection:
    """Which rows of a vector input belong to a region, and what of them is hashed.

    Attributes:
        columns: The columns hashed (the ones the region's assets read); ``None``: every column
            but the bounding box.
        by_centroid: A row belongs to the region holding its geometry's centroid; else to every
            region its bounding box, grown by ``margin``, touches.
        margin: Degrees the bounding box is grown by (``by_centroid`` False).
    """

    columns: tuple[str, ...] | None
    by_centroid: bool
    margin: float = 0.0


#: The vector inputs read per region, and how their rows belong to regions.
ROW_SELECTIONS: dict[str, RowSelection] = {
    BUILDINGS_FILE: RowSelection(("geometry", *BUILDING_TAGS), by_centroid=True),
    **{
        census_file(level): RowSelection(None, by_centroid=False, margin=CENSUS_ROW_MARGIN_DEG)
        for level in CENSUS_LEVELS
    },
}

_cache: dict[tuple[str, str, RowSelection, RegionGrid], dict[str, str]] = {}
_cache_lock = threading.Lock()


def region_row_identities(
    fs: Any, path: str, name: str, grid: RegionGrid, selection: RowSelection
) -> dict[str, str]:
    """The identity of each region's rows of the GeoParquet file ``path`` on ``fs`` (regions
    with rows only; ``name`` names the file in errors), cached by the file's identity.

    Raises:
        ValueError: naming the file and the column, when a hashed column or the bounding-box
            column is missing.
    """
    key = (path, file_identity(fs, path), selection, grid)
    with _cache_lock:
        if key in _cache:
            return dict(_cache[key])
    identities = _identities(fs, path, name, grid, selection)
    with _cache_lock:
        _cache[key] = identities
    return dict(identities)


def _identities(
    fs: Any, path: str, name: str, grid: RegionGrid, selection: RowSelection
) -> dict[str, str]:
    dataset = pads.dataset(path, filesystem=fs, format="parquet")
    schema = dataset.schema
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    geometry = geo.get("primary_column", "geometry")
    box = bbox_column(geo, geometry)
    columns = list(selection.columns or [c for c in schema.names if c != box])
    for column in dict.fromkeys([*columns, box, geometry]):
        if column not in schema.names:
            raise ValueError(f"{name}: expected a column {column!r}, found {schema.names}")
    read = list(dict.fromkeys([*columns, box, geometry]))
    totals: dict[tuple[int, int], list[int]] = {}
    with duckdb.connect() as connection:
        for batch in dataset.to_batches(columns=read, batch_size=_BATCH_ROWS):
            if not batch.num_rows:
                continue
            hashes = _row_hashes(connection, batch, columns)
            if selection.by_centroid:
                index, rows, cols = _by_centroid(batch, box, geometry, grid)
            else:
                index, rows, cols = _by_box(batch, box, grid, selection.margin)
            _accumulate(totals, rows, cols, hashes[index])
    return {
        grid.region_id(row, col): f"rows:{count}:{digest:016x}"
        for (row, col), (count, digest) in sorted(totals.items())
    }


def _row_hashes(
    connection: duckdb.DuckDBPyConnection, batch: pa.RecordBatch, columns: Sequence[str]
) -> np.ndarray:
    """Each row's 64-bit hash over ``columns`` (DuckDB's ``hash``), in batch order."""
    rows = pa.table({column: _plain(batch.column(column)) for column in columns})
    query = f"SELECT hash({', '.join(_quoted(c) for c in columns)}) AS h FROM rows"
    connection.register("rows", rows)
    try:
        hashes = connection.sql(query).to_arrow_table()
    finally:
        connection.unregister("rows")
    return hashes["h"].to_numpy().astype(np.uint64)


def _plain(array: pa.Array) -> pa.Array:
    """``array`` as the plain type writers differ in least: an extension type's storage (a
    ``geoarrow.wkb`` column is WKB bytes), large strings and binaries as their small kind."""
    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    if pa.types.is_large_binary(array.type):
        return array.cast(pa.binary())
    return array


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _bounds(batch: pa.RecordBatch, box: str) -> tuple[np.ndarray, ...]:
    column = batch.column(box)
    return tuple(
        np.asarray(column.field(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        for name in ("xmin", "ymin", "xmax", "ymax")
    )


def _by_centroid(
    batch: pa.RecordBatch, box: str, geometry: str, grid: RegionGrid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's region (the one holding its centroid): ``(row index, region row, region
    column)`` of the rows inside the grid. A centroid lies in its footprint's box, so a box
    within one region gives the region without computing the centroid."""
    xmin, ymin, xmax, ymax = _bounds(batch, box)
    rows, cols = grid.region_indices(xmin, ymin)
    rows_hi, cols_hi = grid.region_indices(xmax, ymax)
    crossing = np.flatnonzero((rows != rows_hi) | (cols != cols_hi) | (rows < 0))
    if crossing.size:
        wkb = batch.column(geometry).take(pa.array(crossing)).to_numpy(zero_copy_only=False)
        centroids = shapely.centroid(shapely.from_wkb(wkb))
        rows[crossing], cols[crossing] = grid.region_indices(
            shapely.get_x(centroids), shapely.get_y(centroids)
        )
    index = np.flatnonzero(rows >= 0)
    return index, rows[index], cols[index]


def _by_box(
    batch: pa.RecordBatch, box: str, grid: RegionGrid, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``(row index, region row, region column)`` whose region the row's box, grown by
    ``margin``, touches."""
    xmin, ymin, xmax, ymax = _bounds(batch, box)
    west, south, east, north = grid.total_bounds
    inside = np.flatnonzero(
        (xmax + margin >= west)
        & (xmin - margin <= east)
        & (ymax + margin >= south)
        & (ymin - margin <= north)
    )
    lon = [np.clip(v[inside] + d, west, east) for v, d in ((xmin, -margin), (xmax, margin))]
    lat = [np.clip(v[inside] + d, south, north) for v, d in ((ymin, -margin), (ymax, margin))]
    _, col_lo = grid.region_indices(lon[0], np.full(inside.size, south))
    _, col_hi = grid.region_indices(lon[1], np.full(inside.size, south))
    row_lo, _ = grid.region_indices(np.full(inside.size, west), lat[0])
    row_hi, _ = grid.region_indices(np.full(inside.size, west), lat[1])
    width = col_hi - col_lo + 1
    count = (row_hi - row_lo + 1) * width
    index = np.repeat(inside, count)
    step = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    width = np.repeat(width, count)
    return (
        index,
        np.repeat(row_lo, count) + step // width,
        np.repeat(col_lo, count) + step % width,
    )


def _accumulate(
    totals: dict[tuple[int, int], list[int]],
    rows: np.ndarray,
    cols: np.ndarray,
    hashes: np.ndarray,
) -> None:
    """Add each region's row count and hash sum (modulo 2**64) to ``totals``."""
    if not rows.size:
        return
    # One integer per region (columns < 2**31): a 1-D unique is far faster than by rows.
    keys, inverse = np.unique((rows.astype(np.int64) << 31) | cols, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(keys))
    sums = np.zeros(len(keys), dtype=np.uint64)
    np.add.at(sums, inverse, hashes)  # uint64: wraps modulo 2**64
    for key, n, digest in zip(keys.tolist(), counts.tolist(), sums.tolist(), strict=True):
        total = totals.setdefault((key >> 31, key & (2**31 - 1)), [0, 0])
        total[0] += n
        total[1] = (total[1] + digest) % 2**64
