"""Per-level analysis files (``region_analysis_files``): CSV, GeoJSON and GeoParquet.

From one level's statistics GeoParquet (:func:`~ocr_assets.rollups.stats.write_summary_statistics`)
this writes, into one folder per level:

- ``stats.csv``: ``# key: value`` metadata lines (dataset metadata, level, row count, how to
  read the histograms), then a header row and one row per polygon without geometry;
  histograms are JSON arrays; NaN is an empty cell.
- ``stats.geojson``: a FeatureCollection with a top-level ``metadata`` member (the same pairs),
  streamed feature by feature; NaN is ``null``.
- ``stats.parquet``: the statistics GeoParquet with the dataset metadata added.

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

from ocr_assets.rollups._features import feature_query, number, quoted, wkb_geometry, write_features
from ocr_assets.rollups._sources import parquet_file
from ocr_assets.rollups.schema import LEVELS, DatasetMetadata
from ocr_assets.storage.atomic import atomic_output

CSV_FILE = "stats.csv"
GEOJSON_FILE = "stats.geojson"
PARQUET_FILE = "stats.parquet"

_BATCH_ROWS = 10_000
_HISTOGRAM_NOTE = (
    "counts of buildings by risk score 0..10 (score 0 is RPS == 0, scores 1..10 the RPS bins "
    "of the published method)"
)


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


def header_pairs(metadata: DatasetMetadata, level: str, rows: int) -> dict[str, str]:
    """The ``key: value`` pairs heading the CSV and forming the GeoJSON ``metadata`` member."""
    return {
        **metadata.as_dict(),
        "level": level,
        "rows": str(rows),
        "risk_score_hist": _HISTOGRAM_NOTE,
    }


def _write_csv(file: pq.ParquetFile, pairs: dict[str, str], path: Path) -> None:
    columns = [n for n in file.schema_arrow.names if n not in ("geometry", "bbox")]
    with path.open("w", newline="", encoding="utf-8") as sink:
        for key, value in pairs.items():
            sink.write(f"# {key}: {value}\n")
        writer = csv.writer(sink)
        writer.writerow(columns)
        for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
            writer.writerows([_csv_cell(v) for v in row.values()] for row in batch.to_pylist())


def _csv_cell(value: object) -> object:
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, float) and value != value:
        return ""
    return value


def _write_geojson(file: pq.ParquetFile, pairs: dict[str, str], path: Path) -> int:
    schema = file.schema_arrow
    properties = {}
    for field in schema:
        if field.name in ("geometry", "bbox"):
            continue
        is_float = pa.types.is_floating(field.type)
        properties[field.name] = number(field.name) if is_float else quoted(field.name)
    query = feature_query(properties, wkb_geometry())
    with path.open("w", encoding="utf-8") as sink:
        sink.write('{"type": "FeatureCollection", "metadata": ')
        sink.write(json.dumps(pairs))
        sink.write(', "features": [\n')
        written = write_features(
            file.iter_batches(batch_size=_BATCH_ROWS), query, sink, separator=",\n"
        )
        sink.write("\n]}\n")
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
        writer.add_key_value_metadata({**pairs, **metadata.as_dict()})


def write_analysis_files(
    stats: str, output: str, level: str, metadata: DatasetMetadata
) -> AnalysisFiles:
    """Write ``stats.csv``, ``stats.geojson`` and ``stats.parquet`` for one level.

    Args:
        stats: The level's statistics GeoParquet.
        output: The level's folder (replaced atomically).
        level: The census level (recorded in the metadata).
        metadata: Dataset metadata for the headers.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown census level {level!r}; expected one of {LEVELS}")
    file = parquet_file(str(stats))
    rows = file.metadata.num_rows
    pairs = header_pairs(metadata, level, rows)
    with atomic_output(output) as folder:
        folder.mkdir(parents=True)
        _write_csv(file, pairs, folder / CSV_FILE)
        _write_geojson(file, pairs, folder / GEOJSON_FILE)
        _write_parquet(file, metadata, folder / PARQUET_FILE)
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    return AnalysisFiles(folder=str(output), level=level, rows=rows, bytes=sizes)
