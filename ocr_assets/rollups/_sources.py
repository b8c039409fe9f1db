"""Reading roll-up inputs from a local path or an fsspec URL (``s3://...``).

Outputs are written through :mod:`ocr_assets.storage.atomic`; this module only reads.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import fsspec
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem


def parquet_file(location: str) -> pq.ParquetFile:
    """Open one Parquet file for streaming (schema, metadata, batches)."""
    fs, path = fsspec.core.url_to_fs(str(location))
    return pq.ParquetFile(fs.open(path, "rb"))


def parquet_dataset(locations: Sequence[str]) -> pads.Dataset:
    """A lazily scanned dataset over Parquet files on one filesystem.

    DuckDB scans it with projection and filter push-down, so nothing is loaded up front.
    """
    if not locations:
        raise ValueError("no Parquet files given")
    fs, _ = fsspec.core.url_to_fs(str(locations[0]))
    paths = [fsspec.core.url_to_fs(str(location))[1] for location in locations]
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
