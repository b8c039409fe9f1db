"""Building tiles in shards aligned to the tile pyramid, tiled in parallel, merged by copying.

One tippecanoe run over every footprint of CONUS takes hours on one machine. Every tile at
zoom ``S`` or deeper lies under exactly one tile of zoom ``S`` (its *shard*), and tippecanoe
builds a tile only from the features that touch it and its buffer. So:

1. **Plan** (:func:`plan_shards`): the shard zoom is a setting (``OCR_TILE_SHARD_ZOOM``: 6,
   the archive's first zoom, for CONUS; 10 for the demo). A shard's inputs are the feature
   tables of the regions whose extent touches its tile with a margin.
2. **Maximum zoom** (:func:`shard_zoom_stats`, in parallel): each shard computes
   :class:`~ocr_assets.rollups.zoom_guess.ZoomStats` of the features it owns (index point in its
   tile); combined in tile order they give the zoom one tippecanoe ``-zg`` run would choose.
3. **Tiles** (:func:`tile_shard`, in parallel): tippecanoe runs on the features whose box
   touches the shard's tile plus :data:`SHARD_MARGIN` (more than tippecanoe's 5/256 buffer)
   with the published options, ``-zg`` replaced by that zoom and ``-Z`` by the shard zoom.
   A shard that extends its zooms because tiles still drop raises the archive's maximum zoom;
   the shards that stopped shallower are tiled again to it, so MapLibre finds a tile at every
   zoom the header announces. Zooms below the shard zoom get one pass over every feature
   (:func:`tile_low_zooms`), without ``--extend-zooms-if-still-dropping`` and with the detail
   its last zoom has in a run that goes on.
   Each shard's archive is kept with a record of its inputs; an unchanged shard is reused.
4. **Merge** (:func:`merge_shards`): each shard's tiles under its own tile (the neighbours it
   also built from its margin are left out) and the low pass's tiles are copied, compressed
   bytes as they are, into one PMTiles archive; nothing is decoded.

Feature IDs come with the features (:func:`ocr_assets.regions.feature_id_base`), so they do not
depend on the split. The merged archive has the tiles of one run with the published options,
byte for byte, except at zooms where one run drops features as needed: there tippecanoe sets
one size threshold for the whole zoom, and a shard sets its own, so a sharded tile keeps as
many features or more (``ocr_assets_tests/rollups/test_shards.py``; ``docs/performance.md``
has the numbers).
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from ocr_assets.rollups._sources import local_file, parquet_file
from ocr_assets.rollups.schema import DatasetMetadata
from ocr_assets.rollups.tiles import (
    BUILDING_LAYER,
    FEATURE_COLUMNS,
    PMTilesSummary,
    Tileset,
    features_scratch,
    summarize_pmtiles,
    tile_features,
)
from ocr_assets.rollups.zoom_guess import (
    FULL_DETAIL,
    FeatureArrays,
    ZoomStats,
    combined,
    feature_stats,
    guess_max_zoom,
    point_stats,
    polygon_stats,
    tile_key,
)
from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.layout import is_remote, join
from ocr_assets.storage.scratch import scratch_dir

#: Margin around a shard's tile, as a share of the tile: tippecanoe's default buffer is 5/256
#: of a tile at every zoom, widest in degrees at the shard zoom.
SHARD_MARGIN = 6 / 256
#: Web Mercator's latitude limit.
_MAX_LATITUDE = 85.0511287798066
_BATCH_ROWS = 65_536


class ShardError(RuntimeError):
    """A shard failed; the message names its tile and the feature tables it read."""


@dataclass(frozen=True, order=True)
class Shard:
    """One tile of the shard zoom and the feature tables that touch it.

    Attributes:
        zoom: The shard zoom.
        x: Tile column.
        y: Tile row (north first, as in tile URLs).
        sources: The feature table files (one per region) whose extent touches the tile.
    """

    zoom: int
    x: int
    y: int
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        """``zoom/x/y``."""
        return f"{self.zoom}/{self.x}/{self.y}"

    @property
    def key(self) -> int:
        """The tile's quadkey: shards in this order have their features' quadkeys in order."""
        return tile_key(self.zoom, self.x, self.y)

    def holds(self, zoom: int, x: int, y: int) -> bool:
        """Whether tile ``zoom/x/y`` lies under this shard's tile."""
        shift = zoom - self.zoom
        return shift >= 0 and x >> shift == self.x and y >> shift == self.y

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """West, south, east, north of the tile grown by ``margin`` of its size, in degrees."""
        n = 1 << self.zoom
        west, east = _longitude((self.x - margin) / n), _longitude((self.x + 1 + margin) / n)
        north, south = _latitude((self.y - margin) / n), _latitude((self.y + 1 + margin) / n)
        return west, south, east, north


def _longitude(fraction: float) -> float:
    return fraction * 360.0 - 180.0


def _latitude(fraction: float) -> float:
    fraction = min(max(fraction, 0.0), 1.0)
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * fraction))))


def tile_fractions(lon: np.ndarray, lat: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Fractional Web Mercator tile coordinates of lon/lat degrees at ``zoom`` (y down)."""
    n = float(1 << zoom)
    lat = np.radians(np.clip(np.asarray(lat, dtype=np.float64), -_MAX_LATITUDE, _MAX_LATITUDE))
    x = (np.asarray(lon, dtype=np.float64) + 180.0) / 360.0 * n
    y = (1.0 - np.arcsinh(np.tan(lat)) / math.pi) / 2.0 * n
    return x, y


def covered_tiles(
    extent: Sequence[float], zoom: int, margin: float = 0.0
) -> Iterator[tuple[int, int]]:
    """The tiles ``(x, y)`` at ``zoom`` that a lon/lat box touches, grown by ``margin`` tiles."""
    (x0, x1), (y1, y0) = tile_fractions(
        np.array([extent[0], extent[2]]), np.array([extent[1], extent[3]]), zoom
    )
    last = (1 << zoom) - 1
    for x in range(max(math.floor(x0 - margin), 0), min(int(x1 + margin), last) + 1):
        for y in range(max(math.floor(y0 - margin), 0), min(int(y1 + margin), last) + 1):
            yield x, y


def table_extent(source: str) -> tuple[float, float, float, float] | None:
    """West, south, east, north of a feature table's boxes (its four box columns read), ``None``
    for an empty table."""
    file = parquet_file(source)
    if not file.metadata.num_rows:
        return None
    columns = file.read(list(FEATURE_COLUMNS[:4]))
    return (
        float(pc.min(columns["xmin"]).as_py()),
        float(pc.min(columns["ymin"]).as_py()),
        float(pc.max(columns["xmax"]).as_py()),
        float(pc.max(columns["ymax"]).as_py()),
    )


def plan_shards(extents: Mapping[str, Sequence[float]], zoom: int) -> list[Shard]:
    """The shards at ``zoom`` of feature tables with these extents, in quadkey order: one per
    tile a table's extent touches (with the margin), with the tables that touch it.

    Args:
        extents: Feature table file -> its extent (empty tables left out).
        zoom: The shard zoom.
    """
    sources: dict[tuple[int, int], list[str]] = {}
    for source, extent in sorted(extents.items()):
        for tile in covered_tiles(extent, zoom, SHARD_MARGIN):
            sources.setdefault(tile, []).append(source)
    shards = [Shard(zoom, x, y, tuple(files)) for (x, y), files in sources.items()]
    return sorted(shards, key=lambda shard: shard.key)


def shard_features(shard: Shard, margin: float = SHARD_MARGIN) -> Iterator[pa.Array]:
    """Batches of the feature texts whose box touches the shard's tile grown by ``margin``."""
    west, south, east, north = shard.bounds(margin)
    for source in shard.sources:
        file = parquet_file(source)
        for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=list(FEATURE_COLUMNS)):
            touches = pc.and_(
                pc.and_(pc.less_equal(batch["xmin"], east), pc.greater_equal(batch["xmax"], west)),
                pc.and_(
                    pc.less_equal(batch["ymin"], north), pc.greater_equal(batch["ymax"], south)
                ),
            )
            selected = batch.filter(touches)["feature"]
            if len(selected):
                yield selected


def source_identity(source: str) -> str:
    """What changes when a feature table is written again: its size and modification time."""
    return f"{objects.size(source)}:{objects.modified(source)}"


def shard_identity(shard: Shard, *parts: Any) -> str:
    """A digest of the shard's tile, its tables' identities and ``parts`` (the settings of the
    step): equal digests mean the stored result of the step can be reused."""
    document = {
        "shard": shard.name,
        "margin": SHARD_MARGIN,
        "sources": [[source, source_identity(source)] for source in shard.sources],
        "parts": parts,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def _stored(location: str, identity: str) -> dict[str, Any] | None:
    record = objects.read_json(location)
    return record if isinstance(record, dict) and record.get("identity") == identity else None


def _store(location: str, record: dict[str, Any]) -> None:
    with atomic_output(location) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True))


def _failing(shard: Shard, step: str, exc: Exception) -> ShardError:
    return ShardError(
        f"shard {shard.name} ({step}) failed: {type(exc).__name__}: {exc}; "
        f"it read {list(shard.sources)}"
    )


def shard_zoom_stats(shard: Shard, folder: str) -> ZoomStats:
    """:class:`ZoomStats` of the features the shard owns (index point in its tile), reused from
    ``folder`` when the shard's tables have not changed.

    Raises:
        ShardError: naming the shard's tile and the tables it read.
    """
    try:
        record = join(folder, f"{shard.zoom}-{shard.x}-{shard.y}.stats.json")
        identity = shard_identity(shard, "zoom statistics")
        stored = _stored(record, identity)
        if stored is not None:
            return ZoomStats(**stored["stats"])
        owned = []
        for batch in shard_features(shard, margin=0.0):
            stats = _batch_stats(batch.to_pylist())
            owned.append(stats.select(stats.tiles(shard.zoom) == np.uint64(shard.key)))
        result = ZoomStats()
        if owned:
            result = ZoomStats.of(
                FeatureArrays(*(np.concatenate([getattr(o, f) for o in owned]) for f in _ARRAYS))
            )
        _store(record, {"identity": identity, "stats": asdict(result)})
        return result
    except Exception as exc:
        raise _failing(shard, "zoom statistics", exc) from exc


_ARRAYS = ("index", "detail_count", "detail_log_sum", "area")


def _batch_stats(texts: Sequence[str]) -> FeatureArrays:
    """Statistics of a batch of features: all polygons or all points at once (compiled or
    vectorised), anything else one by one."""
    for of_kind in (polygon_stats, point_stats):
        try:
            return of_kind(texts)
        except ValueError:
            continue
    return FeatureArrays.of([feature_stats(text) for text in texts])


def _write_lines(batches: Iterator[pa.Array], path: Path) -> int:
    written = 0
    with path.open("w", encoding="utf-8") as sink:
        for batch in batches:
            sink.write("\n".join(batch.to_pylist()))
            sink.write("\n")
            written += len(batch)
    return written


def zoom_band(
    tileset: Tileset, min_zoom: int, max_zoom: int, extend: bool, base_zoom: int | None = None
) -> Tileset:
    """``tileset`` for zooms ``min_zoom`` .. ``max_zoom`` (no guess), extending its zooms while
    tiles still drop only when ``extend``.

    ``base_zoom`` (default ``max_zoom``) is the zoom below which tippecanoe thins points by its
    drop rate (``-B``). One run's base zoom is the maximum zoom it guessed, so every band of a
    sharded archive passes that zoom: a band that stops shallower (the low zooms) otherwise
    keeps 2.5 times the points at each of its zooms.
    """
    options = []
    for option in tileset.options:
        if option == "-zg" or option.startswith(("-Z", "-B")):
            continue
        if option == "--extend-zooms-if-still-dropping" and not extend:
            continue
        options.append(option)
    base = max_zoom if base_zoom is None else base_zoom
    return replace(tileset, options=(*options, f"-Z{min_zoom}", f"-z{max_zoom}", f"-B{base}"))


@dataclass(frozen=True)
class ShardTiles:
    """A shard's archive.

    Attributes:
        shard: The shard.
        archive: Where its archive was written.
        max_zoom: The archive's maximum zoom (deeper than asked when tiles still dropped).
        features: Features it tiled (its margin's included).
        reused: Whether the archive of an earlier build was kept (nothing changed).
        deeper: The archive of its zooms from ``deeper_from`` on, when it was tiled again
            deeper than it first stopped (``None``: ``archive`` holds every zoom).
        deeper_from: The first zoom taken from ``deeper``.
    """

    shard: Shard
    archive: str
    max_zoom: int
    features: int
    reused: bool = False
    deeper: str | None = None
    deeper_from: int = 0

    def parts(self) -> list[tuple[str, Callable[[int, int, int], bool]]]:
        """Its archives, each with the tiles the merge takes from it."""
        if self.deeper is None:
            return [(self.archive, self.shard.holds)]
        split = self.deeper_from
        return [
            (self.archive, lambda z, x, y: z < split and self.shard.holds(z, x, y)),
            (self.deeper, lambda z, x, y: z >= split and self.shard.holds(z, x, y)),
        ]


def tile_shard(
    shard: Shard,
    max_zoom: int,
    tileset: Tileset,
    metadata: DatasetMetadata,
    folder: str,
    extend: bool = True,
    from_zoom: int | None = None,
    base_zoom: int | None = None,
) -> ShardTiles | None:
    """Tile one shard from ``from_zoom`` (default: its zoom) to ``max_zoom`` into ``folder``;
    ``None`` if it has no feature. The archive of an earlier build with the same inputs and
    settings is reused. ``base_zoom``: see :func:`zoom_band`.

    Raises:
        ShardError: naming the shard's tile and the tables it read.
    """
    try:
        # A shard tiled again deeper keeps both archives: each is reused by its own step.
        first = shard.zoom if from_zoom is None else from_zoom
        name = f"{shard.zoom}-{shard.x}-{shard.y}"
        if first != shard.zoom or not extend:
            name += f"-z{first}to{max_zoom}"
        archive, record = join(folder, f"{name}.pmtiles"), join(folder, f"{name}.json")
        band = zoom_band(tileset, first, max_zoom, extend, base_zoom)
        if not extend:  # its last zoom as in a run that could go on
            band = replace(band, options=(*band.options, f"--extra-detail={FULL_DETAIL}"))
        identity = shard_identity(shard, band.name, band.options, metadata.vector())
        stored = _stored(record, identity)
        if stored is not None and objects.exists(archive):
            return ShardTiles(shard, archive, stored["max_zoom"], stored["features"], True)
        with features_scratch("ocr-shard-", shard.sources, f"the features of {archive}") as work:
            lines = work / "features.ndjson"
            count = _write_lines(shard_features(shard), lines)
            if not count:
                return None
            summary = tile_features({BUILDING_LAYER: [str(lines)]}, archive, band, metadata)
        built = {"identity": identity, "max_zoom": summary.max_zoom, "features": count}
        _store(record, built)
        return ShardTiles(shard, archive, summary.max_zoom, count)
    except Exception as exc:
        raise _failing(shard, "tiles", exc) from exc


def _deeper(
    tiles: ShardTiles,
    max_zoom: int,
    tileset: Tileset,
    metadata: DatasetMetadata,
    folder: str,
    base_zoom: int,
) -> ShardTiles:
    """``tiles`` with the zooms after its last one down to ``max_zoom`` (a task).

    The first run went on while tiles still dropped, so its last zoom is what one run that
    goes deeper has: only the zooms after it are tiled, with the full detail a run that could
    go on gives its last zoom.
    """
    deeper = tile_shard(
        tiles.shard, max_zoom, tileset, metadata, folder, False, tiles.max_zoom + 1, base_zoom
    )
    assert deeper is not None  # the same features as the first time
    return replace(
        tiles,
        deeper=deeper.archive,
        deeper_from=tiles.max_zoom + 1,
        max_zoom=max_zoom,
        reused=tiles.reused and deeper.reused,
    )


def tile_low_zooms(
    sources: Sequence[str],
    min_zoom: int,
    below: int,
    tileset: Tileset,
    metadata: DatasetMetadata,
    output: str,
    base_zoom: int | None = None,
) -> PMTilesSummary:
    """Every feature tiled at zooms ``min_zoom`` .. ``below - 1`` (the zooms above the shards);
    ``base_zoom``: see :func:`zoom_band`."""
    with features_scratch("ocr-low-zooms-", sources, f"the features of {output}") as work:
        lines = work / "features.ndjson"
        whole = Shard(0, 0, 0, tuple(sources))
        if not _write_lines(shard_features(whole), lines):
            raise ValueError("no features to tile")
        # A run's last zoom gets other detail than the zooms it goes on from: the band's last
        # zoom is not the archive's, so it keeps the full detail the one run gives it.
        band = zoom_band(tileset, min_zoom, below - 1, extend=False, base_zoom=base_zoom)
        band = replace(band, options=(*band.options, f"--extra-detail={FULL_DETAIL}"))
        return tile_features({BUILDING_LAYER: [str(lines)]}, output, band, metadata)


def _most_features_centre(shards: Sequence[ShardTiles]) -> tuple[int, int, int]:
    """The centre (lon e7, lat e7, zoom) tippecanoe would record: the deepest tile holding
    the most features, taken among the shards' own centres."""
    best: tuple[int, int, int, int] | None = None
    for shard in shards:
        with open(shard.deeper or shard.archive, "rb") as handle:
            reader = Reader(MmapSource(handle))
            header = reader.header()
            zoom = header["center_zoom"]
            fx, fy = tile_fractions(
                np.array([header["center_lon_e7"] / 1e7]),
                np.array([header["center_lat_e7"] / 1e7]),
                zoom,
            )
            x, y = math.floor(fx[0]), math.floor(fy[0])
            data = reader.get(zoom, x, y)
            count = 0
            if data is not None and shard.shard.holds(zoom, x, y):
                count = _feature_count(gzip.decompress(data))
            candidate = (zoom, count, header["center_lon_e7"], header["center_lat_e7"])
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    assert best is not None
    return best[2], best[3], best[0]


def _feature_count(tile: bytes) -> int:
    """Features of a decoded vector tile's layers (protobuf, without decoding geometries)."""
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    message = vector_tile_pb2.tile()
    message.ParseFromString(tile)
    return sum(len(layer.features) for layer in message.layers)


def merge_shards(
    shards: Sequence[ShardTiles],
    low: str | None,
    output: str,
    features: int,
    generator_options: str,
) -> PMTilesSummary:
    """One archive of the low pass's tiles and each shard's tiles under its own tile.

    Tiles are copied as the compressed bytes tippecanoe wrote. The header's zoom range and
    bounds cover every part; the metadata is the first part's with the zoom range, bounds,
    centre, feature count and options of the whole (tippecanoe's per-zoom ``strategies`` are
    left out: they counted the shards' margins too).
    """
    if not shards:
        raise ValueError("no shard to merge")
    copies = [path for t in shards for path in (t.archive, t.deeper) if path and is_remote(path)]
    with features_scratch("ocr-merge-", copies, f"the shard archives of {output}") as work:
        shards = [
            replace(
                t,
                archive=str(local_file(t.archive, Path(work) / f"{i}.pmtiles")),
                deeper=t.deeper and str(local_file(t.deeper, Path(work) / f"{i}-deeper.pmtiles")),
            )
            for i, t in enumerate(shards)
        ]
        zoom = shards[0].shard.zoom
        kept = [part for shard in shards for part in shard.parts()]
        parts = [path for path, _ in kept] + ([low] if low else [])
        headers, metas = [], []
        for path in parts:
            with open(path, "rb") as handle:
                reader = Reader(MmapSource(handle))
                headers.append(reader.header())
                metas.append(reader.metadata())
        west = min(h["min_lon_e7"] for h in headers)
        south = min(h["min_lat_e7"] for h in headers)
        east = max(h["max_lon_e7"] for h in headers)
        north = max(h["max_lat_e7"] for h in headers)
        min_zoom = min(h["min_zoom"] for h in headers)
        max_zoom = max(h["max_zoom"] for h in headers)
        centre_lon, centre_lat, centre_zoom = _most_features_centre(shards)
        meta = _merged_metadata(
            metas,
            min_zoom,
            max_zoom,
            (west, south, east, north),
            (centre_lon, centre_lat, centre_zoom),
            features,
            generator_options,
        )
        header = {
            "tile_type": TileType.MVT,
            "tile_compression": Compression.GZIP,
            "min_zoom": min_zoom,
            "max_zoom": max_zoom,
            "min_lon_e7": west,
            "min_lat_e7": south,
            "max_lon_e7": east,
            "max_lat_e7": north,
            "center_zoom": centre_zoom,
            "center_lon_e7": centre_lon,
            "center_lat_e7": centre_lat,
        }
        # One pass over every part at once, in tile ID order: the shards' subtrees are disjoint,
        # and the low pass gives the zooms above them.
        streams = [_kept_tiles(path, keep) for path, keep in kept]
        if low is not None:
            streams.append(_kept_tiles(low, lambda z, x, y: z < zoom))
        with atomic_output(output) as tmp:
            with tmp.open("wb") as sink:
                writer = Writer(sink)
                for tileid, data in heapq.merge(*streams, key=itemgetter(0)):
                    writer.write_tile(tileid, data)
                writer.finalize(header, meta)
            return summarize_pmtiles(tmp, output)


def _kept_tiles(path: str, keep: Callable[[int, int, int], bool]) -> Iterator[tuple[int, bytes]]:
    """``(tile ID, bytes)`` of an archive's tiles that ``keep`` keeps, in tile ID order (the
    order tippecanoe's clustered archives hold them in)."""
    with open(path, "rb") as handle:
        for (z, x, y), data in all_tiles(MmapSource(handle)):
            if keep(z, x, y):
                yield zxy_to_tileid(z, x, y), data


def _merged_metadata(
    metas: Sequence[dict[str, Any]],
    min_zoom: int,
    max_zoom: int,
    bounds_e7: tuple[int, int, int, int],
    centre_e7: tuple[int, int, int],
    features: int,
    generator_options: str,
) -> dict[str, Any]:
    meta = json.loads(json.dumps(metas[0]))
    meta.pop("strategies", None)
    bounds = ",".join(f"{v / 1e7:.6f}" for v in bounds_e7)
    meta.update(
        minzoom=str(min_zoom),
        maxzoom=str(max_zoom),
        bounds=bounds,
        antimeridian_adjusted_bounds=bounds,
        center=f"{centre_e7[0] / 1e7:.6f},{centre_e7[1] / 1e7:.6f},{centre_e7[2]}",
        generator_options=generator_options,
    )
    for layer in meta.get("vector_layers", []):
        layer.update(minzoom=min_zoom, maxzoom=max_zoom)
    stats = meta.get("tilestats", {})
    for layer in stats.get("layers", []):
        layer["count"] = features
        for other in metas[1:]:
            for other_layer in other.get("tilestats", {}).get("layers", []):
                if other_layer["layer"] != layer["layer"]:
                    continue
                ranges = {a["attribute"]: a for a in other_layer.get("attributes", [])}
                for attribute in layer.get("attributes", []):
                    found = ranges.get(attribute["attribute"], {})
                    if "min" in attribute and "min" in found:
                        attribute["min"] = min(attribute["min"], found["min"])
                        attribute["max"] = max(attribute["max"], found["max"])
    return meta


def minimum_zoom(tileset: Tileset) -> int:
    """The ``-Z`` of a tileset's options (0 without one)."""
    for option in tileset.options:
        if option.startswith("-Z"):
            return int(option[2:].strip())
    return 0


#: Runs ``fn(item, *args)`` for each item and returns the results in order (in parallel on a
#: cluster in the assets: ``ComputeResource.map``).
TaskMap = Callable[..., list[Any]]


def one_by_one(fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
    """A :data:`TaskMap` in this process."""
    return [fn(item, *args) for item in items]


@dataclass(frozen=True)
class ShardedArchive:
    """A sharded archive as built.

    Attributes:
        summary: The merged archive read back.
        shard_zoom: The zoom of the shards.
        shards: Shards tiled (those with features).
        guessed_zoom: The maximum zoom ``-zg`` chooses for every feature.
        retiled: Shards tiled a second time to a deeper maximum zoom.
        reused: Shards whose archive of an earlier build was kept (their tables unchanged).
    """

    summary: PMTilesSummary
    shard_zoom: int
    shards: int
    guessed_zoom: int
    retiled: int
    reused: int = 0


def sharded_archive(
    sources: Sequence[str],
    output: str,
    tileset: Tileset,
    metadata: DatasetMetadata,
    folder: str,
    shard_zoom: int,
    map_tasks: TaskMap = one_by_one,
) -> ShardedArchive:
    """Tile feature tables (one per region) in shards and merge them into ``output``.

    Args:
        sources: Feature table files (columns :data:`~ocr_assets.rollups.tiles.FEATURE_COLUMNS`).
        output: The merged archive (written atomically).
        tileset: The published tippecanoe options (``-zg`` and ``-Z`` are replaced per pass).
        metadata: Dataset metadata for the archive's metadata.
        folder: Where the shard archives are kept (a folder or prefix every task can reach).
        shard_zoom: The zoom of the shards (not below the tileset's minimum zoom).
        map_tasks: Runs the per-shard steps (see :data:`TaskMap`).

    Raises:
        ValueError: no table has any feature.
        ShardError: a shard failed (naming its tile and tables).
    """
    extents = dict(zip(sources, map_tasks(table_extent, list(sources)), strict=True))
    extents = {source: extent for source, extent in extents.items() if extent is not None}
    if not extents:
        raise ValueError("no features to tile: every feature table is empty")
    min_zoom = minimum_zoom(tileset)
    if shard_zoom < min_zoom:
        raise ValueError(f"shard zoom {shard_zoom} is below the archive's first zoom {min_zoom}")
    shards = plan_shards(extents, shard_zoom)
    stats = map_tasks(shard_zoom_stats, shards, folder)
    total = combined(stats)
    guessed = guess_max_zoom(total, min_zoom)
    zoom = shards[0].zoom
    if guessed < zoom:
        # Too few zooms to split: one band over every feature.
        low = tile_low_zooms(list(extents), min_zoom, guessed + 1, tileset, metadata, output)
        return ShardedArchive(low, zoom, 0, guessed, 0)
    # The largest shards first (by the features they own), so that no large one starts last.
    order = sorted(range(len(shards)), key=lambda i: -stats[i].features)
    tiled = map_tasks(tile_shard, [shards[i] for i in order], guessed, tileset, metadata, folder)
    built = [t for _, t in sorted(zip(order, tiled, strict=True), key=itemgetter(0)) if t]
    deepest = max(t.max_zoom for t in built)
    shallow = [t for t in built if t.max_zoom < deepest]
    if shallow:
        # Their zooms from the one they stopped at (a run's last zoom differs) to the deepest.
        again = map_tasks(_deeper, shallow, deepest, tileset, metadata, folder, guessed)
        redone = {t.shard: t for t in again}
        built = [redone.get(t.shard, t) for t in built]
    low = None
    with scratch_dir("ocr-low-") as work:
        if zoom > min_zoom:
            low = str(Path(work) / "low.pmtiles")
            tile_low_zooms(list(extents), min_zoom, zoom, tileset, metadata, low, guessed)
        options = (
            f"{len(built)} shards at zoom {zoom}, each: tippecanoe -l {BUILDING_LAYER} "
            f"-n {tileset.name} "
            f"{' '.join(zoom_band(tileset, zoom, deepest, True, guessed).options)}"
        )
        summary = merge_shards(built, low, output, total.features, options)
    reused = sum(t.reused for t in built)
    return ShardedArchive(summary, zoom, len(built), guessed, len(shallow), reused)
