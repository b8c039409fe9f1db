"""Named Parquet tables in one folder: ``{name}.parquet`` per table, written atomically.

The stored form of values made of several tables (a region's statistics partial, its tile
features): the folder appears whole or not at all, and readers open one table by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.layout import join

#: File name of each table of a tables folder: ``{name}.parquet``.
TABLE_FILE = "{}.parquet"


def write_tables(tables: Mapping[str, pa.Table], location: str) -> int:
    """Write each table as ``{name}.parquet`` (zstd) into the folder ``location``, atomically.

    Returns the folder's size in bytes.
    """
    with atomic_output(location) as tmp:
        tmp.mkdir(parents=True)
        for name, table in tables.items():
            pq.write_table(table, Path(tmp) / TABLE_FILE.format(name), compression="zstd")
    return objects.size(location)


def read_tables(location: str) -> dict[str, pa.Table]:
    """The tables written by :func:`write_tables` into ``location``, by name."""
    fs, path = objects.filesystem(location)
    tables = {}
    for item in sorted(fs.ls(path, detail=False)):
        name = Path(item).name
        if name.endswith(".parquet"):
            with fs.open(item, "rb") as handle:
                tables[name.removesuffix(".parquet")] = pq.read_table(handle)
    return tables


def table_file(location: str, name: str) -> str:
    """The file of table ``name`` in a folder written by :func:`write_tables`."""
    return join(location, TABLE_FILE.format(name))
