"""Consolidated building GeoParquet and its hive-partitioned copy (``buildings_geoparquet``).

All region building files are streamed, batch by batch, into

- one GeoParquet 1.1 file (zstd, WKB, covering ``bbox`` column), and
- a copy hive-partitioned by ``state_fips`` / ``county_fips`` (the first 2 and next 3 digits of
  the block ``GEOID``) with a ``_common_metadata`` sidecar holding the schema, the GeoParquet
  metadata and the vector metadata dict (version, provider, terms, sources, ODbL licence and
  Overture notice).

Both have the published columns in the published order (the region building table plus
``bbox``; :data:`~ocr_assets.rollups.schema.REGION_BUILDING_TYPES`); columns a region file has
beyond those are not carried. Unlike the published DuckDB copy, rows keep the order of the
region files and their rows.

Memory stays bounded by one batch (plus Arrow's per-partition write buffers): the region
files are never loaded whole. Every schema is validated before anything is written, and both
outputs are written to temporary siblings and moved into place only when complete.

FIPS codes as strings
    The partition columns exist only in the folder names, and readers infer their type from
    the values: pyarrow and pandas read ``06`` as the integer 6 unless told otherwise, DuckDB
    reads them as integers when no value has a leading zero. Unlike the published sidecar
    (which leaves them out), ``_common_metadata`` therefore lists ``state_fips`` and
    ``county_fips`` as strings, so a reader that takes its schema reads strings:
    ``pd.read_parquet(hive, schema=pq.read_schema(hive + "/_common_metadata"))``,
    ``pyarrow.dataset.dataset(hive, schema=..., partitioning="hive")``; DuckDB needs
    ``read_parquet(..., hive_partitioning=true, hive_types={'state_fips': VARCHAR,
    'county_fips': VARCHAR})``. ``GEOID`` is a string column in every file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import shapely

from ocr_assets.rollups._sources import parquet_file
from ocr_assets.rollups.schema import REGION_BUILDING_TYPES, DatasetMetadata
from ocr_assets.rollups.validation import validate_block_geoids, validate_region_schema
from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.geoparquet import BBOX_FIELDS

#: Hive partition columns and the GEOID character ranges they come from.
PARTITIONS: dict[str, tuple[int, int]] = {"state_fips": (0, 2), "county_fips": (2, 5)}
#: Type of the partition columns (folder names): strings, for the leading zeros.
PARTITION_TYPE = pa.string()
#: Name of the schema sidecar of the hive copy.
COMMON_METADATA = "_common_metadata"

_BBOX_TYPE = pa.struct([(name, pa.float64()) for name in BBOX_FIELDS])
_COVERING = {"bbox": {name: ["bbox", name] for name in BBOX_FIELDS}}
_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ConsolidatedBuildings:
    """What :func:`consolidate_buildings` wrote.

    Attributes:
        consolidated: Location of the single GeoParquet file.
        hive: Location of the hive-partitioned folder.
        rows: Buildings written (each to both outputs).
        consolidated_bytes: Size of the single file.
        hive_bytes: Total size of the hive folder, sidecar included.
        hive_files: Data files in the hive folder.
        counties: County partitions (``state_fips=../county_fips=..`` folders).
        sources: The region files read, in order.
    """

    consolidated: str
    hive: str
    rows: int
    consolidated_bytes: int
    hive_bytes: int
    hive_files: int
    counties: int
    sources: tuple[str, ...]


def consolidated_schema() -> pa.Schema:
    """Arrow schema of the consolidated file and of each hive file (published column order):
    the region building table, ``geometry`` (WKB) and the ``bbox`` covering column."""
    fields = [pa.field(name, t) for name, t in REGION_BUILDING_TYPES.items()]
    return pa.schema([*fields, pa.field("geometry", pa.binary()), pa.field("bbox", _BBOX_TYPE)])


def _region_batches(
    file: pq.ParquetFile, source: str, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Batches of one region file cast to ``schema``; the bbox is computed if absent."""
    has_bbox = "bbox" in file.schema_arrow.names
    columns = [name for name in schema.names if name != "bbox" or has_bbox]
    for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        validate_block_geoids(batch.column("GEOID"), source)
        arrays = []
        for field in schema:
            if field.name == "bbox" and not has_bbox:
                bounds = shapely.bounds(shapely.from_wkb(batch.column("geometry")))
                arrays.append(pa.StructArray.from_arrays(list(bounds.T), names=BBOX_FIELDS))
            else:
                arrays.append(batch.column(field.name).cast(field.type))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _with_partitions(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        geoid = batch.column("GEOID")
        for name, (start, stop) in PARTITIONS.items():
            batch = batch.append_column(name, pc.utf8_slice_codeunits(geoid, start, stop))
        yield batch


def _geo_metadata(
    template: dict[str, Any], geometry_types: list[str], bbox: list[float] | None
) -> str:
    """GeoParquet 1.1 metadata for the outputs, from a source file's (CRS, encoding)."""
    column = {
        key: value
        for key, value in template["columns"]["geometry"].items()
        if key in ("encoding", "crs", "edges", "orientation", "epoch")
    }
    column |= {"geometry_types": geometry_types, "covering": _COVERING}
    if bbox is not None:
        column["bbox"] = bbox
    return json.dumps(
        {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    )


def _union_types(metas: Sequence[dict[str, Any]], files: Sequence[pq.ParquetFile]) -> list[str]:
    """Union of the non-empty sources' geometry types; empty (= unknown) if one left them open."""
    per_source = [
        meta["columns"]["geometry"].get("geometry_types", [])
        for meta, file in zip(metas, files, strict=True)
        if file.metadata.num_rows
    ]
    if any(not types for types in per_source):
        return []
    return sorted({t for types in per_source for t in types})


def _folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    data = sum(1 for p in files if p.name != COMMON_METADATA)
    return sum(p.stat().st_size for p in files), data


def consolidate_buildings(
    region_files: Sequence[str],
    consolidated: str,
    hive: str,
    metadata: DatasetMetadata,
) -> ConsolidatedBuildings:
    """Stream every region building file into the consolidated file and the hive copy.

    Args:
        region_files: Region building GeoParquet files (the region building table); rows keep
            this order in the consolidated file. An empty file contributes nothing.
        consolidated: Destination of the single GeoParquet file.
        hive: Destination folder of the hive-partitioned copy (replaced if it exists).
        metadata: Dataset metadata: its vector dict goes into both outputs' key-value
            metadata, after the GeoParquet ``geo`` key.

    Raises:
        ValueError: no files, or a file breaking the region building table contract (named with
            the column), checked for every file before anything is written.
    """
    if not region_files:
        raise ValueError("consolidate_buildings: no region building files given")
    sources = tuple(str(location) for location in region_files)
    files = [parquet_file(location) for location in sources]
    metas = [validate_region_schema(f.schema_arrow, s) for f, s in zip(files, sources, strict=True)]
    schema = consolidated_schema()
    dataset_pairs = metadata.vector()
    geometry_types = _union_types(metas, files)
    partition_fields = [pa.field(name, PARTITION_TYPE) for name in PARTITIONS]
    # Each hive file is GeoParquet on its own: no bbox there (only known at the end).
    stream_schema = pa.schema(
        [*schema, *partition_fields],
        metadata={"geo": _geo_metadata(metas[0], geometry_types, None), **dataset_pairs},
    )
    partitioning = pads.partitioning(pa.schema(partition_fields), flavor="hive")
    write_options = pads.ParquetFileFormat().make_write_options(compression="zstd")
    extent = _Extent()
    with atomic_output(consolidated) as single_tmp, atomic_output(hive) as hive_tmp:
        hive_tmp.mkdir(parents=True)
        with pq.ParquetWriter(single_tmp, schema, compression="zstd", store_schema=False) as out:
            for index, (file, source) in enumerate(zip(files, sources, strict=True)):
                batches = _region_batches(file, source, schema)
                pads.write_dataset(
                    _with_partitions(extent.written(batches, out)),
                    hive_tmp,
                    schema=stream_schema,
                    format="parquet",
                    partitioning=partitioning,
                    basename_template=f"part-{index:05d}-{{i}}.parquet",
                    existing_data_behavior="overwrite_or_ignore",
                    file_options=write_options,
                )
            final_geo = _geo_metadata(metas[0], geometry_types, extent.bbox())
            out.add_key_value_metadata({"geo": final_geo, **dataset_pairs})
        sidecar = pa.schema([*schema, *partition_fields])
        pq.write_metadata(
            sidecar.with_metadata({"geo": final_geo, **dataset_pairs}), hive_tmp / COMMON_METADATA
        )
        hive_bytes, hive_files = _folder_size(hive_tmp)
        counties = sum(1 for p in hive_tmp.glob("state_fips=*/county_fips=*") if p.is_dir())
    return ConsolidatedBuildings(
        consolidated=str(consolidated),
        hive=str(hive),
        rows=extent.rows,
        consolidated_bytes=objects.size(str(consolidated)),
        hive_bytes=hive_bytes,
        hive_files=hive_files,
        counties=counties,
        sources=sources,
    )


class _Extent:
    """Row count and overall bbox of the batches passed through :meth:`written`."""

    def __init__(self) -> None:
        self.rows = 0
        self._low = np.full(2, np.inf)
        self._high = np.full(2, -np.inf)

    def written(
        self, batches: Iterator[pa.RecordBatch], writer: pq.ParquetWriter
    ) -> Iterator[pa.RecordBatch]:
        """Write each batch to ``writer``, track rows and bbox, and pass the batch on."""
        for batch in batches:
            if not batch.num_rows:
                continue
            writer.write_batch(batch)
            self.rows += batch.num_rows
            bbox = batch.column("bbox")
            self._low = np.minimum(
                self._low, [pc.min(bbox.field(n)).as_py() for n in BBOX_FIELDS[:2]]
            )
            self._high = np.maximum(
                self._high, [pc.max(bbox.field(n)).as_py() for n in BBOX_FIELDS[2:]]
            )
            yield batch

    def bbox(self) -> list[float] | None:
        """``[xmin, ymin, xmax, ymax]`` over every row, or None when there were none."""
        return [*map(float, self._low), *map(float, self._high)] if self.rows else None
