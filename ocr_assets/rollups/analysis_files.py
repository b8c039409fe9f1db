"""Per-level analysis files (``region_analysis_files``): CSV, GeoJSON and GeoParquet.

From one level's statistics GeoParquet (:func:`~ocr_assets.rollups.stats.write_summary_statistics`)
this writes, into one folder per level (published names: ``block``, ``tracts``, ``counties``,
``states``, ``nation``; :data:`~ocr_assets.rollups.schema.ANALYSIS_FOLDERS`):

- ``stats.csv``: one ``# key: value`` line per item of the vector metadata dict, in order,
  then a header row and one row per polygon: the statistics columns without geometry
  (:func:`~ocr_assets.rollups.schema.analysis_columns`); histograms are JSON arrays of
  doubles (``[1.0,0.0,...]``, quoted), float32 medians their shortest decimal.
- ``stats.geojson``: ``{"type":"FeatureCollection","metadata":{...},"features":[...]}`` with
  the same properties (histograms as arrays) and the polygon geometry (EPSG:4326), streamed
  feature by feature.
- ``stats.parquet``: the statistics GeoParquet with the vector metadata dict added (not
  published; the same table as the statistics, beside the other two files).

The statistics are read batch by batch, so memory does not grow with the number of polygons.
The folder is written to a temporary sibling and moved into place when complete.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ocr_assets.rollups._features import (
    feature_query,
    number,
    quoted,
    short_float,
    wkb_geometry,
    write_features,
)
from ocr_assets.rollups._sources import parquet_file
from ocr_assets.rollups.schema import LEVELS, DatasetMetadata, analysis_columns
from ocr_assets.storage.atomic import atomic_output

CSV_FILE = "stats.csv"
GEOJSON_FILE = "stats.geojson"
PARQUET_FILE = "stats.parquet"

_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class AnalysisFiles:
    """What :func:`write_analysis_files` wrote for one level.

    Attributes:
        folder: The level's folder.
        level: The census level.
        rows: Polygons written to each file.
        bytes: Size of each file, by file name.
    """

    folder: str
    level: str
    rows: int
    bytes: dict[str, int]


def _columns(file: pq.ParquetFile, level: str, source: str) -> tuple[str, ...]:
    """The analysis columns of ``level``, after checking the statistics file has them."""
    columns = analysis_columns(level)
    missing = [c for c in columns if c not in file.schema_arrow.names]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing} of the {level} statistics")
    return columns


def _csv_column(column: pa.ChunkedArray | pa.Array) -> list[object]:
    """CSV cells of one column: JSON arrays for histograms, shortest decimals for float32."""
    if pa.types.is_list(column.type):
        return [
            None if h is None else json.dumps(h, separators=(",", ":")) for h in column.to_pylist()
        ]
    if pa.types.is_float32(column.type):
        return [None if v is None else str(v) for v in column.to_numpy(zero_copy_only=False)]
    return column.to_pylist()


def _write_csv(
    file: pq.ParquetFile, columns: tuple[str, ...], metadata: DatasetMetadata, path: Path
) -> None:
    with path.open("w", newline="", encoding="utf-8") as sink:
        for key, value in metadata.vector().items():
            sink.write(f"# {key}: {value}\n")
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(columns)
        for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=list(columns)):
            cells = [_csv_column(batch.column(name)) for name in columns]
            writer.writerows(zip(*cells, strict=True))


def _write_geojson(
    file: pq.ParquetFile, columns: tuple[str, ...], metadata: DatasetMetadata, path: Path
) -> int:
    schema = file.schema_arrow
    properties = {}
    for name in columns:
        kind = schema.field(name).type
        if pa.types.is_float32(kind):
            properties[name] = short_float(name)
        elif pa.types.is_floating(kind):
            properties[name] = number(name)
        else:
            properties[name] = quoted(name)
    query = feature_query(properties, wkb_geometry())
    with path.open("w", encoding="utf-8") as sink:
        sink.write('{"type":"FeatureCollection","metadata":')
        sink.write(json.dumps(metadata.vector()))
        sink.write(',"features":[')
        written = write_features(
            file.iter_batches(batch_size=_BATCH_ROWS, columns=[*columns, "geometry"]),
            query,
            sink,
            separator=",",
        )
        sink.write("]}")
    return written


def _write_parquet(file: pq.ParquetFile, metadata: DatasetMetadata, path: Path) -> None:
    schema = file.schema_arrow
    pairs = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    # Without the stored Arrow schema, readers see these key-value pairs as schema metadata.
    with pq.ParquetWriter(
        path, schema.remove_metadata(), compression="zstd", store_schema=False
    ) as writer:
        for batch in file.iter_batches(batch_size=_BATCH_ROWS):
            writer.write_batch(batch)
        writer.add_key_value_metadata({**pairs, **metadata.vector()})


def write_analysis_files(
    stats: str, output: str, level: str, metadata: DatasetMetadata
) -> AnalysisFiles:
    """Write ``stats.csv``, ``stats.geojson`` and ``stats.parquet`` for one level.

    Args:
        stats: The level's statistics GeoParquet.
        output: The level's folder (replaced atomically).
        level: The census level (decides the name columns).
        metadata: Dataset metadata: its vector dict heads the CSV and the GeoJSON.

    Raises:
        ValueError: unknown level, or the statistics lack a column of the level.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown census level {level!r}; expected one of {LEVELS}")
    file = parquet_file(str(stats))
    rows = file.metadata.num_rows
    columns = _columns(file, level, str(stats))
    with atomic_output(output) as folder:
        folder.mkdir(parents=True)
        _write_csv(file, columns, metadata, folder / CSV_FILE)
        _write_geojson(file, columns, metadata, folder / GEOJSON_FILE)
        _write_parquet(file, metadata, folder / PARQUET_FILE)
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    return AnalysisFiles(folder=str(output), level=level, rows=rows, bytes=sizes)
