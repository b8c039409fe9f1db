"""GeoParquet 1.1 output: zstd, WKB geometries and (optionally) a covering ``bbox`` column."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
from pyproj import CRS

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.errors import StorageError

#: Fields of the covering ``bbox`` struct column.
BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
#: The key, in a value's ``attrs`` and in its file's Parquet metadata, of what the value was
#: built from (input name -> identity), the record staleness compares with the inputs.
BUILT_FROM = "ocr_built_from"


def write_geoparquet(frame: gpd.GeoDataFrame, location: str) -> int:
    """Write ``frame`` atomically as GeoParquet 1.1 and return the file size in bytes.

    The covering bbox column lets readers filter by extent (``read_parquet(bbox=...)``) without
    decoding geometries.
    """
    with atomic_output(location) as tmp:
        _to_geoparquet(frame, tmp)
    return objects.size(location)


def read_geoparquet(location: str) -> gpd.GeoDataFrame:
    """The GeoParquet file at ``location`` (local or remote); its ``attrs["source"]`` is the
    location, so messages about the table name the file.

    Raises:
        StorageError: naming the file when it is not readable GeoParquet (truncated by a
            killed writer, another format): bad input, which another attempt will not fix.
    """
    fs, path = objects.filesystem(location)
    try:
        with fs.open(path, "rb") as handle:
            frame = gpd.read_parquet(handle)
    except (pa.ArrowInvalid, ValueError) as error:
        raise StorageError(f"{location}: not a readable GeoParquet file: {error}") from error
    frame.attrs["source"] = location
    return frame


def geoparquet_bytes(frame: gpd.GeoDataFrame) -> bytes:
    """``frame`` as the bytes of the file :func:`write_geoparquet` writes (an in-memory file)."""
    buffer = io.BytesIO()
    _to_geoparquet(frame, buffer)
    return buffer.getvalue()


def _to_geoparquet(frame: gpd.GeoDataFrame, sink: Path | io.BytesIO) -> None:
    built_from = frame.attrs.get(BUILT_FROM)
    if frame.attrs:
        # ``attrs`` describe a value in memory (provenance for metadata); pandas would write
        # them into the file's metadata.
        frame = frame.copy(deep=False)
        frame.attrs = {}
    options: dict[str, Any] = {
        "compression": "zstd",
        "geometry_encoding": "WKB",
        "write_covering_bbox": True,
        "schema_version": "1.1.0",
        "index": False,
    }
    if built_from is None:
        frame.to_parquet(sink, **options)
        return
    # What the table was built from goes into the file's metadata, written with it.
    buffer = io.BytesIO()
    frame.to_parquet(buffer, **options)
    table = pq.read_table(pa.BufferReader(buffer.getvalue()))
    pq.write_table(with_built_from(table, built_from), sink, compression="zstd")


def with_built_from(table: pa.Table, built_from: Mapping[str, str]) -> pa.Table:
    """``table`` with ``built_from`` (input name -> identity) in its schema metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[BUILT_FROM.encode()] = json.dumps(dict(built_from), sort_keys=True).encode()
    return table.replace_schema_metadata(metadata)


def read_built_from(location: str) -> dict[str, str] | None:
    """What the Parquet file at ``location`` was built from (:func:`with_built_from`); ``None``
    when it records nothing (or is missing or unreadable: its inputs are unknown)."""
    fs, path = objects.filesystem(location)

    def read() -> dict[str, str] | None:
        try:
            with fs.open(path, "rb") as handle:
                metadata = pq.read_schema(handle).metadata or {}
        except (FileNotFoundError, pa.ArrowInvalid, OSError):
            return None
        record = metadata.get(BUILT_FROM.encode())
        return json.loads(record) if record else None

    return objects.bounded_call("read metadata", location, read)


def geo_metadata(crs: CRS | str | None, geometries: object | None, *, covering: bool) -> str:
    """GeoParquet 1.1 ``geo`` metadata of a WKB column ``geometry``.

    Args:
        crs: The geometries' CRS (None: undefined).
        geometries: The geometries (anything ``GeoSeries`` takes), for ``geometry_types`` and
            ``bbox``; None leaves both open
            (any type, extent unknown).
        covering: Whether the file has a ``bbox`` covering struct column.
    """
    column: dict[str, object] = {
        "encoding": "WKB",
        "crs": None if crs is None else CRS.from_user_input(crs).to_json_dict(),
        "geometry_types": [],
    }
    if geometries is not None and len(geometries):
        shapes = gpd.GeoSeries(geometries)
        column["geometry_types"] = sorted(str(t) for t in shapes.geom_type.dropna().unique())
        column["bbox"] = [float(v) for v in shapes.total_bounds]
    if covering:
        column["covering"] = {"bbox": {name: ["bbox", name] for name in BBOX_FIELDS}}
    return json.dumps(
        {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    )


def write_table(table: pa.Table, location: str) -> int:
    """Write an Arrow table atomically as zstd Parquet and return the file size in bytes."""
    with atomic_output(location) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return objects.size(location)
