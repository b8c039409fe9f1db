"""Sharded building tiles against one tippecanoe run over every feature.

The published archive is one ``tippecanoe -zg`` run; the sharded one (tiles under each tile of
the shard zoom built apart, zooms above them in one pass, then merged by copying tiles) must
give a client the same archive: the same tiles, zoom range, bounds and centre.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader, all_tiles

from ocr_assets.rollups import BUILDING_TILES, CENTROID_TILES, DatasetMetadata
from ocr_assets.rollups import shards as sharding
from ocr_assets.rollups.shards import ShardError, plan_shards, sharded_archive, table_extent
from ocr_assets.rollups.tiles import (
    BUILDING_LAYER,
    _tippecanoe,
    tile_features,
    write_feature_lines,
)
from ocr_assets.rollups.zoom_guess import (
    ZoomStats,
    combined,
    feature_stats,
    guess_max_zoom,
    point_stats,
    polygon_stats,
)
from ocr_assets.synthetic.region_tables import region_buildings_table, write_feature_table

pytestmark = pytest.mark.integration

#: Four regions side by side; dense towns, sparse land, and long footprints across the borders.
REGIONS = {
    "y3_x7": (-121.30, 38.00),
    "y3_x8": (-121.05, 38.00),
    "y4_x7": (-121.30, 38.20),
    "y4_x8": (-121.05, 38.20),
}
SIZE = (0.25, 0.20)


def region_frame(west: float, south: float, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    towns = rng.uniform((west, south), (west + SIZE[0], south + SIZE[1]), (4, 2))
    dense = towns[rng.integers(0, 4, 5000)] + rng.normal(0, 0.01, (5000, 2))
    sparse = rng.uniform((west, south), (west + SIZE[0], south + SIZE[1]), (1500, 2))
    centres = np.clip(
        np.vstack([dense, sparse]), (west, south), (west + SIZE[0] - 1e-6, south + SIZE[1] - 1e-6)
    )
    half = rng.uniform(0.00004, 0.0001, (len(centres), 2))
    boxes = shapely.box(*(centres - half).T, *(centres + half).T)
    # Long sheds straddling the region's west and south borders.
    ys = rng.uniform(south, south + SIZE[1], 40)
    xs = rng.uniform(west, west + SIZE[0], 40)
    long = [shapely.box(west - 0.004, y, west + 0.004, y + 0.0002) for y in ys]
    long += [shapely.box(x, south - 0.004, x + 0.0002, south + 0.004) for x in xs]
    return region_buildings_table(np.concatenate([boxes, long]), seed)


@pytest.fixture(scope="module")
def feature_tables(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("features")
    return [
        write_feature_table(region_frame(west, south, seed), region_id, folder)
        for seed, (region_id, (west, south)) in enumerate(REGIONS.items())
    ]


@pytest.fixture(scope="module")
def lines(feature_tables: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lines") / "features.ndjson"
    write_feature_lines(feature_tables, str(path))
    return path


def archive_tiles(path: Path) -> tuple[dict, dict[tuple[int, int, int], bytes]]:
    with path.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        return reader.header(), {tuple(k): v for k, v in all_tiles(reader.get_bytes)}


def test_the_compiled_statistics_are_the_reference_ones(lines: Path) -> None:
    texts = lines.read_text().splitlines()
    # A polygon with a hole and a multipolygon too.
    texts += [
        '{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":'
        "[[[-121.0,38.0],[-120.99,38.0],[-120.99,38.01],[-121.0,38.01],[-121.0,38.0]],"
        "[[-120.996,38.004],[-120.994,38.004],[-120.994,38.006],[-120.996,38.004]]]}}",
        '{"type":"Feature","properties":{},"geometry":{"type":"MultiPolygon","coordinates":'
        "[[[[-121.0,38.0],[-120.999,38.0],[-120.999,38.001],[-121.0,38.0]]],"
        "[[[-120.9,38.1],[-120.9,38.101],[-120.899,38.1],[-120.9,38.1]]]]}}",
    ]
    sample = texts[::40] + texts[-2:]
    fast = polygon_stats(sample)
    reference = [feature_stats(text) for text in sample]
    assert fast.index.tolist() == [r.index for r in reference]
    assert fast.detail_count.tolist() == [r.detail_count for r in reference]
    assert fast.detail_log_sum == pytest.approx([r.detail_log_sum for r in reference], abs=1e-9)
    assert fast.area.tolist() == [r.area for r in reference]


def tippecanoe_choice(lines: Path, folder: Path, options: list[str]) -> int:
    output = folder / "guess.pmtiles"
    subprocess.run(
        [_tippecanoe(), "-o", str(output), "-f", "-q", "-l", "risk", *options, str(lines)],
        check=True,
    )
    with output.open("rb") as handle:
        return int(Reader(MmapSource(handle)).header()["max_zoom"])


@pytest.mark.parametrize("share", [1, 7, 50])
def test_the_zoom_guess_is_tippecanoes_and_adds_up_over_tiles(
    lines: Path, tmp_path: Path, share: int
) -> None:
    texts = lines.read_text().splitlines()[::share]
    subset = tmp_path / "subset.ndjson"
    subset.write_text("\n".join(texts) + "\n")
    stats = polygon_stats(texts)
    whole = ZoomStats.of(stats)
    assert guess_max_zoom(whole, 6) == tippecanoe_choice(subset, tmp_path, ["-zg", "-Z6"])
    for zoom in (8, 11):
        tiles = stats.tiles(zoom)
        parts = [ZoomStats.of(stats.select(tiles == key)) for key in np.unique(tiles)]
        assert guess_max_zoom(combined(parts), 6) == guess_max_zoom(whole, 6)
        assert combined(parts).gap_log_sum == pytest.approx(whole.gap_log_sum, rel=1e-12)


def test_sharded_archive_is_the_single_run_tile_for_tile(
    feature_tables: list[str], lines: Path, tmp_path: Path
) -> None:
    single = tmp_path / "single.pmtiles"
    tile_features({BUILDING_LAYER: [str(lines)]}, str(single), BUILDING_TILES, DatasetMetadata())
    merged = tmp_path / "sharded.pmtiles"
    built = sharded_archive(
        feature_tables, str(merged), BUILDING_TILES, DatasetMetadata(), str(tmp_path / "shards"), 9
    )
    assert built.shards >= 4 and built.shard_zoom > 6  # a low-zoom pass and several shards
    assert_same_tiles_but_where_one_run_drops(single, merged)
    with single.open("rb") as handle:
        strategies = Reader(MmapSource(handle)).metadata()["strategies"]
    assert any("dropped_as_needed" in strategy for strategy in strategies)  # the case drops
    header_b, tiles_b = archive_tiles(merged)
    # The footprints across borders: whole in the tiles on both sides.
    zoom = header_b["max_zoom"]
    ids_at_max = set()
    for (z, _, _), data in tiles_b.items():
        if z == zoom:
            layer = mapbox_vector_tile.decode(gzip.decompress(data))["risk"]
            ids_at_max.update(f["id"] for f in layer["features"])
    total = sum(pq.ParquetFile(t).metadata.num_rows for t in feature_tables)
    assert len(ids_at_max) == total == built.summary.features


def assert_same_tiles_but_where_one_run_drops(single: Path, merged: Path) -> None:
    """The archives hold the same tiles, byte for byte, except at zooms where the one run
    dropped features as needed; there the sharded tile keeps as many features or more."""
    header_a, tiles_a = archive_tiles(single)
    header_b, tiles_b = archive_tiles(merged)
    for field in ("min_zoom", "max_zoom", "center_zoom", "center_lon_e7", "center_lat_e7"):
        assert header_a[field] == header_b[field], field
    for field in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"):
        assert header_a[field] == header_b[field], field
    assert set(tiles_a) == set(tiles_b)
    # Where the one run dropped features as needed, it raised one threshold for the whole zoom
    # (set by its densest tile); each shard raises its own. Elsewhere: the same bytes.
    with single.open("rb") as handle:
        strategies = Reader(MmapSource(handle)).metadata()["strategies"]
    dropping = {z for z, strategy in enumerate(strategies) if "dropped_as_needed" in strategy}
    different = {key for key in tiles_a if tiles_a[key] != tiles_b[key]}
    assert {z for z, _, _ in different} <= dropping
    for key in different:
        assert len(tiles_b[key]) <= 500_000  # tippecanoe's tile size limit, kept per shard
        kept_a = mapbox_vector_tile.decode(gzip.decompress(tiles_a[key]))["risk"]["features"]
        kept_b = mapbox_vector_tile.decode(gzip.decompress(tiles_b[key]))["risk"]["features"]
        assert len(kept_b) >= len(kept_a), key


def test_shards_that_stop_shallower_are_tiled_again_to_the_deepest_zoom(
    feature_tables: list[str], lines: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A low guess: the dense shards extend their zooms while tiles still drop, sparse ones not.
    monkeypatch.setattr(sharding, "guess_max_zoom", lambda stats, min_zoom: 10)
    merged = tmp_path / "sharded.pmtiles"
    built = sharded_archive(
        feature_tables, str(merged), BUILDING_TILES, DatasetMetadata(), str(tmp_path / "shards"), 9
    )
    header, tiles = archive_tiles(merged)
    assert header["max_zoom"] > 10 and built.retiled > 0
    shards = plan_shards({t: table_extent(t) for t in feature_tables}, 9)
    for shard in shards:
        zooms = {z for (z, x, y) in tiles if shard.holds(z, x, y)}
        if zooms:
            assert max(zooms) == header["max_zoom"], shard.name
    # ... as one run that starts from the same guess and extends its zooms.
    single = tmp_path / "single.pmtiles"
    from_ten = sharding.zoom_band(BUILDING_TILES, 6, 10, extend=True)
    tile_features({BUILDING_LAYER: [str(lines)]}, str(single), from_ten, DatasetMetadata())
    assert_same_tiles_but_where_one_run_drops(single, merged)


def test_a_failing_shard_names_its_tile_and_tables_and_nothing_is_published(
    feature_tables: list[str], tmp_path: Path
) -> None:
    broken = tmp_path / "y9_x9.parquet"
    table = pq.read_table(feature_tables[0])
    bad = table.set_column(4, "feature", pq.read_table(feature_tables[0])["feature"].cast("string"))
    bad = bad.set_column(4, "feature", [["not json"] * len(table)])
    pq.write_table(bad, broken)
    merged = tmp_path / "sharded.pmtiles"
    with pytest.raises(ShardError) as raised:
        sharded_archive(
            [*feature_tables[1:], str(broken)],
            str(merged),
            BUILDING_TILES,
            DatasetMetadata(),
            str(tmp_path / "shards"),
            9,
        )
    message = str(raised.value)
    assert message.startswith("shard ") and str(broken) in message
    assert not merged.exists()


def test_a_changed_region_rebuilds_only_the_shards_it_touches(
    feature_tables: list[str], tmp_path: Path
) -> None:
    tables = []
    for table in feature_tables:
        tables.append(str(tmp_path / Path(table).name))
        Path(tables[-1]).write_bytes(Path(table).read_bytes())
    folder = str(tmp_path / "shards")
    first = tmp_path / "first.pmtiles"
    built = sharded_archive(tables, str(first), BUILDING_TILES, DatasetMetadata(), folder, 9)
    assert built.reused == 0

    unchanged = tmp_path / "unchanged.pmtiles"
    again = sharded_archive(tables, str(unchanged), BUILDING_TILES, DatasetMetadata(), folder, 9)
    assert again.reused == again.shards == built.shards
    assert unchanged.read_bytes() == first.read_bytes()

    # One region written again: the shards reading it are rebuilt, the others kept.
    changed = Path(tables[0])
    changed.write_bytes(changed.read_bytes())
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    shards = plan_shards({t: table_extent(t) for t in tables}, 9)
    touching = [shard for shard in shards if str(changed) in shard.sources]
    assert 0 < len(touching) < len(shards)
    third = tmp_path / "third.pmtiles"
    rebuilt = sharded_archive(tables, str(third), BUILDING_TILES, DatasetMetadata(), folder, 9)
    assert rebuilt.shards - rebuilt.reused == len(touching)
    assert third.read_bytes() == first.read_bytes()


def test_sharded_centroids_keep_each_zooms_points_of_the_single_run(tmp_path: Path) -> None:
    """Centroids are points, thinned by tippecanoe's drop rate below the maximum zoom. Which
    points a zoom keeps depends on the maximum zoom of the run, so the zooms above the shards
    (a run stopping at the shard zoom) and inside them pick other points than the one run,
    about as many: within 1 % (or one point) at every zoom. The deepest zoom keeps every
    point, byte for byte."""
    tables = [
        write_feature_table(region_frame(west, south, seed), region_id, tmp_path, centroids=True)
        for seed, (region_id, (west, south)) in enumerate(REGIONS.items())
    ]
    lines = tmp_path / "centroids.ndjson"
    points = write_feature_lines(tables, str(lines))
    single = tmp_path / "single.pmtiles"
    tile_features({BUILDING_LAYER: [str(lines)]}, str(single), CENTROID_TILES, DatasetMetadata())
    merged = tmp_path / "sharded.pmtiles"
    built = sharded_archive(
        tables, str(merged), CENTROID_TILES, DatasetMetadata(), str(tmp_path / "shards"), 8
    )
    assert built.shards >= 2 and built.summary.features == points
    header_a, tiles_a = archive_tiles(single)
    header_b, tiles_b = archive_tiles(merged)
    for field in ("min_zoom", "max_zoom", "center_zoom", "center_lon_e7", "center_lat_e7"):
        assert header_a[field] == header_b[field], field
    for field in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"):
        assert header_a[field] == header_b[field], field
    assert set(tiles_a) == set(tiles_b)

    def points_per_zoom(tiles: dict[tuple[int, int, int], bytes]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for (z, _, _), data in tiles.items():
            layer = mapbox_vector_tile.decode(gzip.decompress(data))["risk"]
            counts[z] = counts.get(z, 0) + len(layer["features"])
        return counts

    single_counts, sharded_counts = points_per_zoom(tiles_a), points_per_zoom(tiles_b)
    deepest = header_a["max_zoom"]
    for zoom, count in single_counts.items():
        assert abs(sharded_counts[zoom] - count) <= max(1, 0.01 * count), zoom
    assert single_counts[deepest] >= points  # every point (some in two tiles' buffers)
    assert all(tiles_a[k] == tiles_b[k] for k in tiles_a if k[0] == deepest)


def test_the_vectorised_point_statistics_are_the_reference_ones() -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-125, -66, 500), rng.uniform(24, 50, 500)
    lon[:4], lat[:4] = [0.0, 179.99999, -180.0, 12.5], [0.0, -10.0, -85.0, 89.99]
    texts = [
        json.dumps({"type": "Feature", "properties": {}, "geometry": point})
        for point in (
            {"type": "Point", "coordinates": [float(x), float(y)]}
            for x, y in zip(lon, lat, strict=True)
        )
    ]
    fast = point_stats(texts)
    reference = [feature_stats(text) for text in texts]
    assert fast.index.tolist() == [r.index for r in reference]
    assert not fast.detail_count.any() and not fast.area.any()
    line = {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}
    with pytest.raises(ValueError, match="Point features only"):
        point_stats(
            [*texts[:1], json.dumps({"type": "Feature", "properties": {}, "geometry": line})]
        )
