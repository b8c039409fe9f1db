"""PMTiles archives made by tippecanoe (``regional_pmtiles``, ``building_pmtiles``,
``building_centroid_pmtiles``).

Tiles are built in two steps, so the expensive per-region part can be reused:

1. *features*: GeoJSON features encoded by DuckDB with the published numeric property keys
   (:mod:`ocr_assets.rollups.schema`). For the building archives, per region: a table of the
   region's footprint (:func:`building_features`) or centroid (:func:`centroid_features`)
   features, one JSON text per row beside its bounding box, so a re-materialized region
   re-encodes only its own features, and tiling can select features by extent; for the
   regional archive, from a statistics file (:func:`write_region_features`).
2. *tiling*: the features are written as newline-delimited GeoJSON
   (:func:`write_feature_lines`) and :func:`tile_features` runs tippecanoe over them with the
   published options (:class:`Tileset`), then reads the archive back for a summary.
   Tiling is not incremental: tippecanoe's ``tile-join`` is broken in the wheel we use, and
   merging archives by hand would mean decoding and re-encoding tiles.

Reproducible archives
    tippecanoe records its command line in the archive metadata (``generator_options``).
    It runs in a scratch folder with relative input and output names, and the absolute path of
    the executable it records is replaced by ``tippecanoe``; the metadata gets the vector
    metadata dict (``dataset_metadata``) and the Overture notice as ``attribution``, and is
    written back gzip-compressed without a timestamp. Identical inputs therefore give
    byte-identical archives, wherever they are built.

:func:`regional_pmtiles`, :func:`building_pmtiles` and :func:`building_centroid_pmtiles` chain
both steps in a scratch folder. Archives are written to a temporary sibling and moved into
place only when tippecanoe succeeded.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, deserialize_header, serialize_header

from ocr_assets.regions import FEATURE_ROW_BITS, feature_id_base
from ocr_assets.rollups._features import (
    feature_query,
    feature_strings,
    float32_exact,
    number,
    quoted,
    wkb_geometry,
    write_features,
)
from ocr_assets.rollups._sources import TableSource, local_file, parquet_file, source_name
from ocr_assets.rollups.schema import (
    BUILDING_TILE_PROPERTIES,
    CENTROID_TILE_PROPERTIES,
    LEVELS,
    REGION_TILE_BBOX,
    REGION_TILE_NAMES,
    REGION_TILE_PROPERTIES,
    DatasetMetadata,
)
from ocr_assets.rollups.validation import validate_region_schema
from ocr_assets.storage import is_remote, objects
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.scratch import (
    ScratchSpaceError,
    reporting_full_disk,
    require_space,
    scratch_dir,
)

#: Layer name of the building and centroid archives.
BUILDING_LAYER = "risk"
#: Decimal places of the centroid archive's properties.
CENTROID_DECIMALS = 3
#: Layers of the regional archive, in the published ``-L`` order.
REGION_LAYERS: tuple[str, ...] = ("counties", "tracts", "blocks", "states", "nation")

_BATCH_ROWS = 65_536
_FEATURE_ID = "feature_id"
_HEADER_BYTES = 127
_COPY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Tileset:
    """The tippecanoe settings of one archive (the published commands).

    Attributes:
        name: Tileset name (``-n``).
        options: Further tippecanoe arguments, exactly as published.
        layer: The one layer every input goes to (``-l``); None for one named layer per input
            (``-L layer:file``).
    """

    name: str
    options: tuple[str, ...]
    layer: str | None = None

    def arguments(
        self, layers: Mapping[str, Sequence[str]], output: str, temporary: str | None = None
    ) -> list[str]:
        """tippecanoe's arguments writing ``output`` from ``layers`` (layer -> files), its
        temporary files in the folder ``temporary`` (default: tippecanoe's, ``/tmp``)."""
        written = ["-o", output, *(("-t", temporary) if temporary else ())]
        if self.layer is None:
            inputs = [
                arg
                for layer, files in layers.items()
                for f in files
                for arg in ("-L", f"{layer}:{f}")
            ]
            return [*written, *inputs, "-n", self.name, *self.options]
        if set(layers) != {self.layer}:
            raise ValueError(
                f"tileset {self.name!r} has one layer {self.layer!r}, got {list(layers)}"
            )
        files = [str(file) for file in layers[self.layer]]
        return [*written, "-l", self.layer, "-n", self.name, *self.options, *files]


#: Regional statistics: polygons thinned by size, zooms extended while still dropping.
REGION_TILES = Tileset(
    "regions",
    ("-f", "-P", "--drop-smallest-as-needed", "-q", "--extend-zooms-if-still-dropping", "-zg"),
)
#: Building footprints from zoom 6 (``-Z 6`` is one argument, as published).
BUILDING_TILES = Tileset(
    "building",
    (
        "-f",
        "-P",
        "--drop-smallest-as-needed",
        "-q",
        "--extend-zooms-if-still-dropping",
        "-zg",
        "-Z 6",
        "--generate-ids",
    ),
    layer=BUILDING_LAYER,
)
#: Building centroids, thinned by fraction, no feature limit per tile.
CENTROID_TILES = Tileset(
    "centroid",
    (
        "-f",
        "-P",
        "--drop-fraction-as-needed",
        "--no-feature-limit",
        "--extend-zooms-if-still-dropping",
        "-zg",
        "-q",
    ),
    layer=BUILDING_LAYER,
)


@dataclass(frozen=True)
class PMTilesSummary:
    """An archive as read back from its header and metadata.

    Attributes:
        location: Where the archive was written.
        bytes: Archive size.
        min_zoom: Header minimum zoom.
        max_zoom: Header maximum zoom.
        layers: Layer name -> features tiled (tippecanoe's tilestats).
    """

    location: str
    bytes: int
    min_zoom: int
    max_zoom: int
    layers: dict[str, int]

    @property
    def features(self) -> int:
        """Features over all layers."""
        return sum(self.layers.values())


#: Scratch space a tippecanoe run takes (its temporary files, the archive and our rewritten
#: copy of it) per byte of NDJSON input, with a margin: measured at most 1.09 on the demo's
#: building and centroid features (0.74 on 64 MB of footprints), peak use of a tmpfs
#: holding the scratch folder.
SCRATCH_BYTES_PER_INPUT_BYTE = 1.5
#: What tippecanoe (and the C library) say when a write finds the disk full.
NO_SPACE = "No space left on device"


def scratch_needed(files: Sequence[str]) -> int:
    """Estimated scratch bytes tiling ``files`` (NDJSON, local or fsspec URLs) needs: the
    :data:`SCRATCH_BYTES_PER_INPUT_BYTE` share of their size, plus a copy of each remote one."""
    sizes = {file: objects.size(file) for file in files}
    remote = sum(size for file, size in sizes.items() if is_remote(file))
    return int(SCRATCH_BYTES_PER_INPUT_BYTE * sum(sizes.values())) + remote


def _tippecanoe() -> str:
    """The tippecanoe executable: beside this interpreter (the virtual env) or on PATH."""
    found = shutil.which("tippecanoe", path=str(Path(sys.executable).parent)) or shutil.which(
        "tippecanoe"
    )
    if found is None:
        raise RuntimeError("tippecanoe not found on PATH or beside the Python interpreter")
    return found


def _write_ndjson(batches: Iterator[pa.RecordBatch], query: str, output: str) -> int:
    with atomic_output(output) as tmp, tmp.open("w", encoding="utf-8") as sink:
        written = write_features(batches, query, sink)
        if written:
            sink.write("\n")
    return written


#: Columns of a feature table: each feature's bounding box and its GeoJSON text.
FEATURE_COLUMNS: tuple[str, ...] = ("xmin", "ymin", "xmax", "ymax", "feature")
FEATURE_SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.float64()) for name in FEATURE_COLUMNS[:4]),
        ("feature", pa.large_string()),
    ]
)


def _building_batches(buildings: TableSource, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    file = parquet_file(buildings)
    validate_region_schema(file.schema_arrow, source_name(buildings))
    yield from file.iter_batches(batch_size=_BATCH_ROWS, columns=list(columns))


def _feature_table(batches: Iterator[pa.RecordBatch], query: str) -> pa.Table:
    """Each batch's features (``query``, one per row) beside the batch's ``xmin`` .. ``ymax``."""
    rows = [batch for batch in batches if batch.num_rows]
    parts = [
        pa.RecordBatch.from_arrays(
            [*(batch[name] for name in FEATURE_COLUMNS[:4]), pa.array(features, pa.large_string())],
            schema=FEATURE_SCHEMA,
        )
        for batch, features in zip(rows, feature_strings(rows, query), strict=True)
    ]
    return pa.Table.from_batches(parts, schema=FEATURE_SCHEMA)


def _with_footprint_bounds(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Building batches with each footprint's ``xmin``, ``ymin``, ``xmax``, ``ymax``."""
    for batch in batches:
        bounds = shapely.bounds(shapely.from_wkb(batch["geometry"]))
        for index, name in enumerate(FEATURE_COLUMNS[:4]):
            batch = batch.append_column(name, pa.array(bounds[:, index]))
        yield batch


def _with_ids(batches: Iterator[pa.RecordBatch], first: int) -> Iterator[pa.RecordBatch]:
    """Batches with a ``feature_id`` column: ``first`` plus the row's position in the file."""
    row = 0
    for batch in batches:
        ids = pa.array(np.arange(first + row, first + row + batch.num_rows, dtype=np.int64))
        row += batch.num_rows
        yield batch.append_column(_FEATURE_ID, ids)
    if row >= 1 << FEATURE_ROW_BITS:
        raise ValueError(
            f"{row} buildings in one region: feature IDs allow {1 << FEATURE_ROW_BITS}"
        )


def building_features(buildings: TableSource, first_id: int) -> pa.Table:
    """One region's footprints as features (:data:`FEATURE_COLUMNS`), properties ``"0"`` ..
    ``"6"``: the seven building variables
    (:data:`~ocr_assets.rollups.schema.BUILDING_TILE_PROPERTIES`), not rounded: each float32
    exactly (:func:`~ocr_assets.rollups._features.float32_exact`), so tiles store 4 bytes.

    Each feature's ``id`` is ``first_id`` plus its row in the region file
    (:func:`ocr_assets.regions.feature_id_base` gives a region's ``first_id``): tippecanoe
    keeps these IDs, so they do not depend on its threads or on how the tiling is split.
    """
    properties = {key: float32_exact(v) for key, v in BUILDING_TILE_PROPERTIES.items()}
    query = feature_query(properties, wkb_geometry(), identifier=_FEATURE_ID)
    batches = _building_batches(buildings, ["geometry", *BUILDING_TILE_PROPERTIES.values()])
    return _feature_table(_with_ids(_with_footprint_bounds(batches), first_id), query)


def _with_centroids(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Buildings with both RPS > 0, with their footprint centroid as ``x``, ``y`` and as a
    point box ``xmin`` .. ``ymax``."""
    first, second = CENTROID_TILE_PROPERTIES.values()
    for batch in batches:
        batch = batch.filter(pc.and_(pc.greater(batch[first], 0), pc.greater(batch[second], 0)))
        xy = shapely.get_coordinates(shapely.centroid(shapely.from_wkb(batch["geometry"])))
        x, y = pa.array(xy[:, 0]), pa.array(xy[:, 1])
        yield pa.RecordBatch.from_arrays(
            [x, y, x, y, x, y, batch[first], batch[second]],
            names=["x", "y", *FEATURE_COLUMNS[:4], first, second],
        )


def centroid_features(buildings: TableSource) -> pa.Table:
    """Centroids of one region's buildings with RPS 2011 and 2047 both > 0, as features
    (:data:`FEATURE_COLUMNS`); properties ``"0"`` (rps_2011) and ``"1"`` (rps_2047), rounded to
    three decimal places as doubles (as published)."""
    properties = {
        key: f"round(CAST({quoted(v)} AS DOUBLE), {CENTROID_DECIMALS})"
        for key, v in CENTROID_TILE_PROPERTIES.items()
    }
    geometry = "json_object('type', 'Point', 'coordinates', [x, y])"
    query = feature_query(properties, geometry)
    batches = _building_batches(buildings, ["geometry", *CENTROID_TILE_PROPERTIES.values()])
    return _feature_table(_with_centroids(batches), query)


def write_feature_lines(tables: Sequence[str | pa.Table], output: str) -> int:
    """The features of feature tables (files or in memory) as one NDJSON file; how many."""
    written = 0
    with atomic_output(output) as tmp, tmp.open("w", encoding="utf-8") as sink:
        for table in tables:
            features = (
                table if isinstance(table, pa.Table) else parquet_file(table).read(["feature"])
            )["feature"]
            for chunk in features.chunks:
                if not len(chunk):
                    continue
                if written:
                    sink.write("\n")
                sink.write("\n".join(chunk.to_pylist()))
                written += len(chunk)
        if written:
            sink.write("\n")
    return written


def write_building_features(buildings: TableSource, output: str, first_id: int = 0) -> int:
    """:func:`building_features` of one region as an NDJSON file; the number of features."""
    return write_feature_lines([building_features(buildings, first_id)], output)


def write_centroid_features(buildings: TableSource, output: str) -> int:
    """:func:`centroid_features` of one region as an NDJSON file; the number of features."""
    return write_feature_lines([centroid_features(buildings)], output)


def _with_bounds(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Statistics batches with the ``xmin``, ``ymin``, ``xmax``, ``ymax`` of each polygon."""
    for batch in batches:
        bounds = shapely.bounds(shapely.from_wkb(batch["geometry"]))
        for index, name in enumerate(("xmin", "ymin", "xmax", "ymax")):
            batch = batch.append_column(name, pa.array(bounds[:, index]))
        yield batch


def write_region_features(stats: str, output: str) -> int:
    """One level's statistics polygons as NDJSON features for the regional archive.

    Properties with the published keys: ``"0"`` building_count, ``"1"``/``"2"`` mean RPS
    2011/2047, ``"3"``/``"4"`` median RPS 2011/2047, ``"5"``/``"6"`` the risk-score histograms
    (arrays; tippecanoe stores them as JSON text), ``"7"`` GEOID, ``"8"`` ``[xmin, ymin, xmax,
    ymax]`` of the polygon, ``"9"`` NAME and ``"10"`` STUSPS where the level has them. Not
    rounded; float32 values exactly (4 bytes in a tile). Returns the number of features
    written.
    """
    file = parquet_file(str(stats))
    names = file.schema_arrow.names
    properties = {}
    for key, column in REGION_TILE_PROPERTIES.items():
        if column not in names:
            raise ValueError(f"{stats}: missing column {column!r} (summary statistics)")
        field = file.schema_arrow.field(column)
        if pa.types.is_float32(field.type):
            properties[key] = float32_exact(column)
        elif pa.types.is_floating(field.type):
            properties[key] = number(column)
        else:
            properties[key] = quoted(column)
    properties[REGION_TILE_BBOX] = "[xmin, ymin, xmax, ymax]"
    properties |= {key: quoted(c) for key, c in REGION_TILE_NAMES.items() if c in names}
    query = feature_query(properties, wkb_geometry())
    batches = _with_bounds(file.iter_batches(batch_size=_BATCH_ROWS))
    return _write_ndjson(batches, query, output)


def summarize_pmtiles(path: str | Path, location: str) -> PMTilesSummary:
    """Read an archive's header and metadata back into a :class:`PMTilesSummary`."""
    with open(path, "rb") as handle:
        reader = Reader(MmapSource(handle))
        header = reader.header()
        meta = reader.metadata()
    stats = meta.get("tilestats", {}).get("layers", [])
    layers = {layer["layer"]: int(layer["count"]) for layer in stats}
    for layer in meta.get("vector_layers", []):
        layers.setdefault(layer["id"], 0)
    return PMTilesSummary(
        location=location,
        bytes=Path(path).stat().st_size,
        min_zoom=int(header["min_zoom"]),
        max_zoom=int(header["max_zoom"]),
        layers=layers,
    )


def _copy_range(source: BinaryIO, sink: BinaryIO, offset: int, length: int) -> None:
    source.seek(offset)
    while length:
        chunk = source.read(min(length, _COPY_BYTES))
        if not chunk:
            raise ValueError(f"PMTiles archive ends {length} bytes early")
        sink.write(chunk)
        length -= len(chunk)


def rewrite_pmtiles_metadata(
    archive: Path, output: Path, update: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Copy a PMTiles v3 archive with its JSON metadata replaced by ``update(metadata)``.

    Directories and tiles are copied as bytes; only the header offsets move. The metadata is
    compressed as before, gzip without a timestamp, so the copy is reproducible.

    Raises:
        ValueError: the archive's sections are not in the order root, metadata, leaves, tiles.
    """
    with archive.open("rb") as source:
        header = deserialize_header(source.read(_HEADER_BYTES))
        order = [
            header["root_offset"],
            header["metadata_offset"],
            header["leaf_directory_offset"],
            header["tile_data_offset"],
        ]
        if order != sorted(order) or header["root_offset"] != _HEADER_BYTES:
            raise ValueError(f"{archive}: unexpected PMTiles section order {order}")
        source.seek(header["metadata_offset"])
        raw = source.read(header["metadata_length"])
        compressed = header["internal_compression"] == Compression.GZIP
        meta = json.loads(gzip.decompress(raw) if compressed else raw)
        text = json.dumps(update(meta), separators=(",", ":")).encode()
        new_meta = gzip.compress(text, mtime=0) if compressed else text
        shift = len(new_meta) - header["metadata_length"]
        header["metadata_length"] = len(new_meta)
        if header["leaf_directory_length"]:
            header["leaf_directory_offset"] += shift
        else:
            header["leaf_directory_offset"] = header["tile_data_offset"] + shift
        header["tile_data_offset"] += shift
        with output.open("wb") as sink:
            sink.write(serialize_header(header))
            _copy_range(source, sink, header["root_offset"], header["root_length"])
            sink.write(new_meta)
            _copy_range(
                source,
                sink,
                header["leaf_directory_offset"] - shift,
                header["leaf_directory_length"],
            )
            _copy_range(
                source, sink, header["tile_data_offset"] - shift, header["tile_data_length"]
            )


def _portable_metadata(
    metadata: DatasetMetadata,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Metadata update: no machine paths, plus the dataset metadata and attribution."""

    def update(meta: dict[str, Any]) -> dict[str, Any]:
        command = meta.get("generator_options", "")
        executable, _, arguments = command.partition(" ")
        if Path(executable).name == "tippecanoe":
            meta["generator_options"] = f"tippecanoe {arguments}"
        vector = metadata.vector()
        return {**meta, "attribution": vector["notice"], "dataset_metadata": vector}

    return update


def tile_features(
    layers: Mapping[str, Sequence[str]],
    output: str,
    tileset: Tileset,
    metadata: DatasetMetadata,
    *,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Run tippecanoe over NDJSON feature files and write one PMTiles archive.

    Args:
        layers: Layer name -> feature files (local or fsspec URLs; every file is linked or
            copied into the scratch folder under a stable relative name first).
        output: Destination ``.pmtiles`` (replaced atomically).
        tileset: The tippecanoe settings.
        metadata: Dataset metadata; its vector dict goes into the archive metadata.
        scratch: Folder for tippecanoe's working files (default: the system temp folder).

    Raises:
        ValueError: no layer or a layer without files.
        ScratchSpaceError: the scratch folder has less free space than the tiling needs
            (:func:`scratch_needed`), checked before tippecanoe starts, or a write there
            failed for want of space; nothing is written.
        RuntimeError: tippecanoe failed (its error output is included); nothing is written.
    """
    if not layers or any(not files for files in layers.values()):
        raise ValueError("tile_features needs at least one layer, each with feature files")
    files = [str(file) for layer_files in layers.values() for file in layer_files]
    needed = scratch_needed(files)
    what = f"tiling {output}"
    with scratch_dir("ocr-tiles-", scratch) as work:
        folder = Path(work)
        available = require_space(folder, needed, what)
        with reporting_full_disk(folder, needed, available, what):
            (folder / "inputs").mkdir()
            (folder / "tmp").mkdir()
            relative: dict[str, list[str]] = {}
            index = 0
            for layer, layer_files in layers.items():
                for file in layer_files:
                    name = f"inputs/{index:06d}.ndjson"
                    local = local_file(str(file), folder / name)
                    if local != folder / name:
                        (folder / name).symlink_to(local.resolve())
                    relative.setdefault(layer, []).append(name)
                    index += 1
            arguments = tileset.arguments(relative, "tiles.pmtiles", temporary="tmp")
            # argv[0] "tippecanoe": the executable is found by path, not recorded with it.
            result = subprocess.run(
                ["tippecanoe", *arguments],
                executable=_tippecanoe(),
                cwd=folder,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                error = result.stderr.strip()
                if NO_SPACE in error:
                    raise ScratchSpaceError(what, folder, needed, available, error[-500:])
                raise RuntimeError(
                    f"tippecanoe failed with exit code {result.returncode} building {output}: "
                    f"{error[-2000:]}"
                )
            archive = folder / "portable.pmtiles"
            rewrite_pmtiles_metadata(
                folder / "tiles.pmtiles", archive, _portable_metadata(metadata)
            )
            summary = summarize_pmtiles(archive, str(output))
        with atomic_output(output) as tmp:
            shutil.move(archive, tmp)
    return summary


def _features_then_tiles(
    inputs: Sequence[tuple[str, str]],
    write: Callable[[str, str], int],
    output: str,
    tileset: Tileset,
    metadata: DatasetMetadata,
    scratch: str | None,
) -> PMTilesSummary:
    """Write each ``(layer, source)``'s features into scratch, then tile them all."""
    sources = [source for _, source in inputs]
    with features_scratch("ocr-features-", sources, f"the features of {output}", scratch) as work:
        layers: dict[str, list[str]] = {}
        for index, (layer, source) in enumerate(inputs):
            path = str(work / f"{index:05d}-{layer}.ndjson")
            if write(source, path):
                layers.setdefault(layer, []).append(path)
        return tile_features(layers, output, tileset, metadata, scratch=scratch)


@contextmanager
def features_scratch(
    prefix: str, sources: Sequence[str], what: str, scratch: str | None = None
) -> Iterator[Path]:
    """A scratch folder (:func:`scratch_dir`) for features written from ``sources`` (tables or
    files), where a write failing for want of space raises
    :class:`~ocr_assets.storage.scratch.ScratchSpaceError` naming the folder, at least the
    sources' size as the space needed, and the space available."""
    with scratch_dir(prefix, scratch) as work:
        needed = sum(objects.size(source) for source in sources)
        with reporting_full_disk(work, needed, None, f"writing {what}", at_least=True):
            yield work


def regional_pmtiles(
    stats: Mapping[str, str],
    output: str,
    metadata: DatasetMetadata,
    tileset: Tileset = REGION_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """One archive with a layer per census level (``counties``, ``tracts``, ``blocks``,
    ``states``, ``nation``, in that order) from the levels' statistics GeoParquet files."""
    unknown = set(stats) - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown census level(s) {sorted(unknown)}; expected {LEVELS}")
    inputs = [(level, str(stats[level])) for level in REGION_LAYERS if level in stats]
    return _features_then_tiles(inputs, write_region_features, output, tileset, metadata, scratch)


def building_pmtiles(
    region_files: Sequence[str],
    output: str,
    metadata: DatasetMetadata,
    tileset: Tileset = BUILDING_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Building footprints of all regions with the seven variables, layer ``risk``.

    Feature IDs start at each region's :func:`~ocr_assets.regions.feature_id_base` when every
    file is named after its region (``y3_x7.parquet``), else at the file's position << 32.
    """
    stems = [Path(str(path)).stem for path in region_files]
    try:
        firsts = {str(p): feature_id_base(s) for p, s in zip(region_files, stems, strict=True)}
    except ValueError:
        firsts = {str(p): i << FEATURE_ROW_BITS for i, p in enumerate(region_files)}

    def write(source: str, path: str) -> int:
        return write_building_features(source, path, firsts[source])

    inputs = [(BUILDING_LAYER, str(path)) for path in region_files]
    return _features_then_tiles(inputs, write, output, tileset, metadata, scratch)


def building_centroid_pmtiles(
    region_files: Sequence[str],
    output: str,
    metadata: DatasetMetadata,
    tileset: Tileset = CENTROID_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Building centroids with RPS 2011/2047 (3 decimals, both > 0), layer ``risk``."""
    inputs = [(BUILDING_LAYER, str(path)) for path in region_files]
    return _features_then_tiles(inputs, write_centroid_features, output, tileset, metadata, scratch)
