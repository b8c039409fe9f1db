"""Reading roll-up inputs from a local path or an fsspec URL (``s3://...``).

Outputs are written through :mod:`ocr_assets.storage.atomic`; this module only reads. A file
that is not readable Parquet (truncated by a killed writer, another format) raises a
``ValueError`` naming the file, before anything is computed: it is bad input, which another
attempt will not fix, so it is not retried. Network errors stay ``OSError`` (retried).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import fsspec
import geopandas as gpd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from ocr_assets.storage.geoparquet import geoparquet_bytes


class ParquetInputError(ValueError):
    """A roll-up input is not readable Parquet; the message names the file."""


#: A region building table: its GeoParquet file's location, or the table itself (a
#: ``region_buildings`` value kept in memory, e.g. by ``dagster.InMemoryIOManager``).
TableSource = str | gpd.GeoDataFrame


#: ``attrs`` key of a table read from a file: where it was read from (messages name it).
SOURCE_ATTR = "source"


def source_name(source: TableSource) -> str:
    """How messages name ``source``: its location, the file a table was read from, or
    ``in-memory table``."""
    if isinstance(source, gpd.GeoDataFrame):
        return str(source.attrs.get(SOURCE_ATTR) or "in-memory table")
    return str(source)


def parquet_file(location: TableSource) -> pq.ParquetFile:
    """Open one Parquet file for streaming (schema, metadata, batches).

    An in-memory table is read as the GeoParquet file it would be written as.

    Raises:
        ParquetInputError: naming ``location`` when it is not readable Parquet.
        FileNotFoundError: naming ``location`` when it does not exist.
    """
    if isinstance(location, gpd.GeoDataFrame):
        return pq.ParquetFile(pa.BufferReader(geoparquet_bytes(location)))
    fs, path = fsspec.core.url_to_fs(str(location))
    handle = fs.open(path, "rb")
    try:
        return pq.ParquetFile(handle)
    except pa.ArrowInvalid as error:
        handle.close()
        raise ParquetInputError(f"{location}: not a readable Parquet file: {error}") from error


def parquet_dataset(locations: Sequence[str]) -> pads.Dataset:
    """A lazily scanned dataset over Parquet files on one filesystem.

    DuckDB scans it with projection and filter push-down, so nothing is loaded up front; only
    each file's footer is read here, so that a damaged file is named now rather than failing the
    scan anonymously.

    Raises:
        ValueError: when ``locations`` is empty.
        ParquetInputError: naming the first file that is not readable Parquet.
    """
    if not locations:
        raise ValueError("no Parquet files given")
    fs, _ = fsspec.core.url_to_fs(str(locations[0]))
    paths = [fsspec.core.url_to_fs(str(location))[1] for location in locations]
    for location in locations:
        parquet_file(location).close(force=True)
    return pads.dataset(paths, format="parquet", filesystem=fs)


def local_file(location: str, download_to: Path) -> Path:
    """``location`` as a local file: itself when local, else downloaded to ``download_to``."""
    fs, path = fsspec.core.url_to_fs(str(location))
    if isinstance(fs, LocalFileSystem):
        return Path(path)
    download_to.parent.mkdir(parents=True, exist_ok=True)
    with fs.open(path, "rb") as source, download_to.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return download_to
