"""Published outputs from the hand-built case: analysis files (CSV header, GeoJSON form,
GeoParquet) and the three PMTiles archives read back with ``pmtiles`` + ``mapbox-vector-tile``:
published property keys and tippecanoe options, reproducible archives without machine paths."""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, TileType, tileid_to_zxy, zxy_to_tileid
from pmtiles.writer import Writer

from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    LEVELS,
    REGION_TILES,
    DatasetMetadata,
    Tileset,
    building_centroid_pmtiles,
    building_pmtiles,
    regional_pmtiles,
    tile_features,
    write_analysis_files,
    write_building_features,
    write_centroid_features,
)
from ocr_assets.rollups.analysis_files import CSV_FILE, GEOJSON_FILE, PARQUET_FILE
from ocr_assets.rollups.schema import RISK_VARIABLES, STATISTICS_VARIABLES, analysis_columns
from ocr_assets.rollups.tiles import (
    FEATURE_COLUMNS,
    building_features,
    centroid_features,
    rewrite_pmtiles_metadata,
    write_feature_lines,
)
from ocr_assets.science import BUILDING_VARIABLES, VARIABLES
from ocr_assets_tests.rollups import rollups_cases as cases

pytestmark = pytest.mark.integration


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _read(archive: Path, lon: float, lat: float) -> tuple[dict, dict, dict]:
    """Header, metadata and the decoded tile holding (lon, lat) at the maximum zoom."""
    with archive.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        zoom = reader.header()["max_zoom"]
        data = reader.get(zoom, *_tile(lon, lat, zoom))
        assert data is not None, f"no tile at z{zoom} for {lon}, {lat}"
        return reader.header(), reader.metadata(), mapbox_vector_tile.decode(gzip.decompress(data))


def _by_geoid(layer: dict) -> dict[str, dict]:
    return {f["properties"]["7"]: f["properties"] for f in layer["features"]}


_HIST_06001_2011 = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_csv_has_metadata_lines_then_published_columns(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    written = write_analysis_files(
        stats["counties"], str(tmp_path / "counties"), "counties", cases.METADATA
    )
    assert written.rows == 2 and set(written.bytes) == {CSV_FILE, GEOJSON_FILE, PARQUET_FILE}
    lines = (tmp_path / "counties" / CSV_FILE).read_text().splitlines()
    vector = cases.METADATA.vector()
    assert lines[: len(vector)] == [f"# {key}: {value}" for key, value in vector.items()]
    assert lines[len(vector)] == ",".join(analysis_columns("counties"))
    assert lines[len(vector)].startswith("GEOID,NAME,building_count,rps_2011_mean,")
    rows = {r["GEOID"]: r for r in csv.DictReader(lines[len(vector) :])}
    assert list(rows) == ["06001", "06003"]
    assert rows["06003"]["rps_2011_mean"] == "1.75" and rows["06003"]["rps_2011_median"] == "1.75"
    assert rows["06001"]["bp_2011_median"] == "0.2"  # float32 0.2, shortest decimal
    hist = '"[1.0,0.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,0.0,1.0]"'
    assert hist in lines[len(vector) + 1]
    assert json.loads(rows["06001"]["risk_score_2011_hist"]) == _HIST_06001_2011
    # pandas infers integers from CSV cells: GEOID needs dtype=str (documented).
    frame = pd.read_csv(tmp_path / "counties" / CSV_FILE, comment="#", dtype={"GEOID": str})
    assert frame["GEOID"].tolist() == ["06001", "06003"]


def test_geojson_is_the_published_string_form(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    write_analysis_files(stats["states"], str(tmp_path / "states"), "states", cases.METADATA)
    text = (tmp_path / "states" / GEOJSON_FILE).read_text()
    prefix = '{"type":"FeatureCollection","metadata":' + json.dumps(cases.METADATA.vector())
    assert text.startswith(prefix + ',"features":[{"type":"Feature","properties":{"GEOID":"06",')
    document = json.loads(text)
    (feature,) = document["features"]
    properties = feature["properties"]
    assert list(properties) == list(analysis_columns("states"))
    assert (properties["STUSPS"], properties["NAME"]) == ("CA", "California")
    assert properties["rps_2011_median"] == 0.5 and properties["building_count"] == 5
    assert properties["risk_score_2047_hist"] == [0.0, 1.0] + [0.0] * 5 + [1.0, 0.0, 1.0, 2.0]
    assert "longitude" not in properties and "geometry" not in properties
    assert shapely.geometry.shape(feature["geometry"]).equals(shapely.box(0, 0, 2, 1))


def test_analysis_geoparquet_carries_dataset_metadata(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    write_analysis_files(stats["blocks"], str(tmp_path / "blocks"), "blocks", cases.METADATA)
    path = tmp_path / "blocks" / PARQUET_FILE
    metadata = pq.read_schema(path).metadata
    assert metadata[b"provider"] == b"CarbonPlan" and metadata[b"license_name"] == b"ODBL"
    assert gpd.read_parquet(path)["building_count"].tolist() == [1, 2, 2]


def test_analysis_files_reject_unknown_level(tmp_path: Path, inputs) -> None:
    with pytest.raises(ValueError, match="unknown census level 'zip'"):
        write_analysis_files(inputs[1]["blocks"], str(tmp_path / "x"), "zip", cases.METADATA)
    with pytest.raises(ValueError, match=r"blocks\.parquet: missing column\(s\) \['STUSPS'"):
        write_analysis_files(inputs[1]["blocks"], str(tmp_path / "x"), "states", cases.METADATA)
    assert not (tmp_path / "x").exists()


def test_published_tippecanoe_commands() -> None:
    assert REGION_TILES.arguments({"counties": ["c.json"], "nation": ["n.json"]}, "r.pmtiles") == [
        "-o", "r.pmtiles", "-L", "counties:c.json", "-L", "nation:n.json", "-n", "regions",
        "-f", "-P", "--drop-smallest-as-needed", "-q", "--extend-zooms-if-still-dropping", "-zg",
    ]  # fmt: skip
    assert BUILDING_TILES.arguments({"risk": ["a", "b"]}, "b.pmtiles") == [
        "-o", "b.pmtiles", "-l", "risk", "-n", "building", "-f", "-P",
        "--drop-smallest-as-needed", "-q", "--extend-zooms-if-still-dropping", "-zg", "-Z 6",
        "--generate-ids", "a", "b",
    ]  # fmt: skip
    assert CENTROID_TILES.arguments({"risk": ["a"]}, "c.pmtiles") == [
        "-o", "c.pmtiles", "-l", "risk", "-n", "centroid", "-f", "-P",
        "--drop-fraction-as-needed", "--no-feature-limit", "--extend-zooms-if-still-dropping",
        "-zg", "-q", "a",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="one layer 'risk'"):
        BUILDING_TILES.arguments({"other": ["a"]}, "b.pmtiles")


def _assert_portable(metadata: dict, folder: Path) -> None:
    """No machine path in the archive metadata; the dataset metadata is there."""
    text = json.dumps(metadata)
    assert str(folder) not in text and "/tmp" not in text and ".venv" not in text
    assert metadata["generator_options"].startswith("tippecanoe -o tiles.pmtiles ")
    assert metadata["dataset_metadata"] == cases.METADATA.vector()
    assert metadata["attribution"] == cases.METADATA.vector()["notice"]


def test_regional_pmtiles_layers_and_published_properties(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    archive = tmp_path / "regions.pmtiles"
    summary = regional_pmtiles(stats, str(archive), cases.METADATA, scratch=str(tmp_path))
    assert summary.layers == {"nation": 1, "states": 1, "counties": 2, "tracts": 2, "blocks": 3}
    header, metadata, tile = _read(archive, 1.5, 0.5)
    assert header["min_zoom"] == 0 and metadata["name"] == "regions"
    assert {layer["id"] for layer in metadata["vector_layers"]} == set(LEVELS)
    assert " -L counties:inputs/000000.ndjson -L tracts:" in metadata["generator_options"]
    _assert_portable(metadata, tmp_path)
    beta = _by_geoid(tile["counties"])["06003"]
    assert set(beta) == {str(key) for key in range(10)}
    assert (beta["0"], beta["9"]) == (2, "Beta")
    assert beta["1"] == 1.75 and beta["3"] == 1.75  # rps_2011 mean and median
    assert beta["2"] == 50.25 and beta["4"] == 50.25  # rps_2047
    assert json.loads(beta["5"]) == [0.0] * 7 + [1.0, 0.0, 1.0, 0.0]
    assert json.loads(beta["8"]) == [1.0, 0.0, 2.0, 1.0]
    tract = _by_geoid(tile["tracts"])["06003000100"]
    assert set(tract) == {str(key) for key in range(9)}  # no names
    state = _by_geoid(tile["states"])["06"]
    assert (state["9"], state["10"]) == ("California", "CA")


def test_building_pmtiles_footprints_with_seven_properties(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    archive = tmp_path / "buildings.pmtiles"
    summary = building_pmtiles(list(regions.values()), str(archive), cases.METADATA)
    assert summary.layers == {"risk": 5} and summary.min_zoom == 6
    header, metadata, tile = _read(archive, 1.5, 0.5)
    assert header["min_zoom"] == 6 and metadata["name"] == "building"
    _assert_portable(metadata, tmp_path)
    features = tile["risk"]["features"]
    assert features and all(f["geometry"]["type"] == "Polygon" for f in features)
    assert all(set(f["properties"]) == {str(k) for k in range(7)} for f in features)
    assert all("id" in f for f in features)  # --generate-ids
    values = {f["properties"]["1"]: f["properties"] for f in features}  # rps_2047
    b2 = cases.variables_of("b2")
    for key, variable in enumerate(STATISTICS_VARIABLES):
        # The float32 value itself, not a decimal near it.
        assert values[100.0][str(key)] == float(b2[variable])
    # ... stored as 4-byte floats (a shortest decimal such as 0.27417395 would be a double).
    with archive.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        zoom = reader.header()["max_zoom"]
        raw = gzip.decompress(reader.get(zoom, *_tile(1.5, 0.5, zoom)))
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(raw)
    kinds = {
        field.name
        for layer in tile.layers
        for value in layer.values
        for field, _ in value.ListFields()
    }
    assert "float_value" in kinds and "double_value" not in kinds, kinds


def test_centroid_pmtiles_keeps_positive_rps_rounded(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    archive = tmp_path / "centroids.pmtiles"
    summary = building_centroid_pmtiles(list(regions.values()), str(archive), cases.METADATA)
    assert summary.layers == {"risk": 4}  # a1 has rps_2011 == 0
    _, metadata, tile = _read(archive, 1.5, 0.5)
    assert metadata["name"] == "centroid"
    features = tile["risk"]["features"]
    assert len(features) == 4 and all(f["geometry"]["type"] == "Point" for f in features)
    assert all(set(f["properties"]) == {"0", "1"} for f in features)
    expected = sorted(
        (rps_2011, rps_2047)
        for _, _, _, rps_2011, rps_2047 in cases.BUILDINGS.values()
        if rps_2011 > 0
    )
    got = sorted((f["properties"]["0"], f["properties"]["1"]) for f in features)
    for pair, want in zip(got, expected, strict=True):
        for value, target in zip(pair, want, strict=True):
            assert value == round(value, 3) and abs(value - target) <= 0.0005 + 1e-9


def test_archives_are_byte_identical_wherever_they_are_built(tmp_path: Path, inputs) -> None:
    regions, stats = inputs
    built = []
    for run in ("first", "second"):
        folder = tmp_path / run / "deeper"
        folder.mkdir(parents=True)
        buildings = folder / "buildings.pmtiles"
        building_pmtiles(
            list(regions.values()), str(buildings), cases.METADATA, scratch=str(folder)
        )
        region = folder / "regions.pmtiles"
        regional_pmtiles(stats, str(region), cases.METADATA, scratch=str(folder))
        built.append((buildings.read_bytes(), region.read_bytes()))
    assert built[0] == built[1]


def test_feature_tables_hold_each_feature_beside_its_bounds(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    footprints = building_features(regions["A"], 0)
    assert footprints.column_names == list(FEATURE_COLUMNS)
    assert footprints.num_rows == 3
    for row in footprints.to_pylist():
        feature = json.loads(row["feature"])
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
        assert set(feature["properties"]) == {str(k) for k in range(7)}
        xs, ys = zip(*feature["geometry"]["coordinates"][0], strict=True)
        bounds = (row["xmin"], row["ymin"], row["xmax"], row["ymax"])
        assert bounds == (min(xs), min(ys), max(xs), max(ys))
    centroids = centroid_features(regions["A"])
    assert centroids.column_names == list(FEATURE_COLUMNS)
    assert centroids.num_rows == 2  # a1 has rps_2011 == 0
    for row in centroids.to_pylist():
        point = json.loads(row["feature"])["geometry"]
        assert point["type"] == "Point"
        assert [row["xmin"], row["ymin"]] == [row["xmax"], row["ymax"]] == point["coordinates"]
    # NDJSON of stored and in-memory feature tables alike, one feature per line, in order.
    stored = tmp_path / "A.parquet"
    pq.write_table(footprints, stored)
    others = building_features(regions["B"], 1 << 32)
    lines = tmp_path / "features.ndjson"
    assert write_feature_lines([str(stored), others], str(lines)) == 5
    text = lines.read_text()
    assert text.endswith("}\n")
    assert text.splitlines() == [*footprints["feature"].to_pylist(), *others["feature"].to_pylist()]
    # The one-region NDJSON writers write the same lines.
    single = tmp_path / "single.ndjson"
    assert write_building_features(regions["A"], str(single)) == 3
    assert single.read_text() == "\n".join(footprints["feature"].to_pylist()) + "\n"
    assert write_centroid_features(regions["A"], str(single)) == 2
    assert single.read_text() == "\n".join(centroids["feature"].to_pylist()) + "\n"
    empty = tmp_path / "empty.ndjson"
    assert write_feature_lines([footprints.slice(0, 0)], str(empty)) == 0
    assert empty.read_text() == ""


def test_tiling_failure_leaves_previous_archive(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    features = tmp_path / "a.ndjson"
    assert write_building_features(regions["A"], str(features)) == 3
    archive = tmp_path / "tiles.pmtiles"
    archive.write_bytes(b"previous")
    broken = Tileset("x", ("--no-such-flag",), layer="risk")
    with pytest.raises(RuntimeError, match="tippecanoe failed"):
        tile_features({"risk": [str(features)]}, str(archive), broken, cases.METADATA)
    assert archive.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ndjson", "tiles.pmtiles"]
    with pytest.raises(ValueError, match="at least one layer"):
        tile_features({"risk": []}, str(archive), broken, cases.METADATA)


def test_metadata_rewrite_keeps_every_tile_with_leaf_directories(tmp_path: Path) -> None:
    rng = random.Random(7)
    tiles = {
        zxy_to_tileid(8, x, y): bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        for x in range(128)
        for y in range(0, 256, 2)
    }
    original = tmp_path / "original.pmtiles"
    with original.open("wb") as handle:
        writer = Writer(handle)
        for tile_id, data in tiles.items():
            writer.write_tile(tile_id, data)
        bounds = {"min_lon_e7": 0, "min_lat_e7": 0, "max_lon_e7": 10, "max_lat_e7": 10}
        header = {"tile_type": TileType.MVT, "tile_compression": Compression.NONE, **bounds}
        writer.finalize(header | {"center_zoom": 8, "center_lon_e7": 0, "center_lat_e7": 0}, {})
    rewritten = tmp_path / "rewritten.pmtiles"
    rewrite_pmtiles_metadata(original, rewritten, lambda meta: {**meta, "note": "x" * 5000})
    with rewritten.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        assert reader.header()["leaf_directory_length"] > 0  # the case with leaves
        assert reader.metadata() == {"note": "x" * 5000}
        for tile_id in rng.sample(sorted(tiles), 100):  # reading each tile decodes its leaf
            assert reader.get(*tileid_to_zxy(tile_id)) == tiles[tile_id]


def test_metadata_dicts_are_the_published_ones() -> None:
    common = ["version", "provider", "terms_of_access", "data_sources"]
    vector, raster = cases.METADATA.vector(), cases.METADATA.raster()
    assert list(vector) == [*common, "license_name", "license_url", "notice"]
    assert list(raster) == [*common, "license_name", "license_url"]
    assert {k: vector[k] for k in common} == {k: raster[k] for k in common}
    assert (vector["license_name"], raster["license_name"]) == ("ODBL", "CC-BY-4.0")
    assert vector["notice"].startswith("Contains information from the Overture Maps Foundation")
    assert DatasetMetadata.for_version(None).version == "unversioned"
    assert DatasetMetadata.for_version("1.2.3").vector()["version"] == "1.2.3"
    with pytest.raises(ValueError, match="one non-empty line"):
        DatasetMetadata("1.2\n3")


def test_published_variable_order_covers_the_science_variables() -> None:
    assert sorted(RISK_VARIABLES) == sorted(VARIABLES)
    assert sorted(STATISTICS_VARIABLES) == sorted(BUILDING_VARIABLES)
