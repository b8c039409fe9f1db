"""Published outputs from the hand-built case: analysis files (CSV header, GeoJSON validity,
GeoParquet) and the three PMTiles archives read back with ``pmtiles`` + ``mapbox-vector-tile``."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import pyarrow.parquet as pq
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader

from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    LEVELS,
    REGION_TILES,
    TileOptions,
    building_centroid_pmtiles,
    building_pmtiles,
    regional_pmtiles,
    tile_features,
    write_analysis_files,
    write_building_features,
    write_region_partial,
    write_summary_statistics,
)
from ocr_assets.rollups.analysis_files import CSV_FILE, GEOJSON_FILE, PARQUET_FILE, header_pairs
from ocr_assets.science import BUILDING_VARIABLES
from ocr_assets_tests import rollups_cases as cases


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    """Region files (A, B) and the statistics GeoParquet of every level."""
    folder = tmp_path_factory.mktemp("outputs")
    census = cases.census()
    regions = cases.region_files(folder)
    partials = [
        write_region_partial(path, census, str(folder / f"partial-{name}")).location
        for name, path in regions.items()
    ]
    stats = {}
    for level in LEVELS:
        stats[level] = str(folder / "stats" / f"{level}.parquet")
        write_summary_statistics(partials, census[level], stats[level])
    return regions, stats


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _read(archive: Path, zoom: int, lon: float, lat: float) -> tuple[dict, dict, dict]:
    """Header, metadata and the decoded tile holding (lon, lat) at ``zoom``."""
    with archive.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        data = reader.get(zoom, *_tile(lon, lat, zoom))
        assert data is not None, f"no tile at z{zoom} for {lon}, {lat}"
        return reader.header(), reader.metadata(), mapbox_vector_tile.decode(gzip.decompress(data))


def _by_geoid(layer: dict) -> dict[str, dict]:
    return {f["properties"]["GEOID"]: f["properties"] for f in layer["features"]}


def test_csv_has_key_value_header_then_rows(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    written = write_analysis_files(
        stats["counties"], str(tmp_path / "counties"), "counties", cases.METADATA
    )
    assert written.rows == 3 and set(written.bytes) == {CSV_FILE, GEOJSON_FILE, PARQUET_FILE}
    lines = (tmp_path / "counties" / CSV_FILE).read_text().splitlines()
    comments = [line for line in lines if line.startswith("# ")]
    assert lines[: len(comments)] == comments
    pairs = dict(line[2:].split(": ", 1) for line in comments)
    assert pairs == header_pairs(cases.METADATA, "counties", 3)
    assert pairs["version"] == "1.2.3" and pairs["license"] == "CC-BY-4.0"
    rows = {r["GEOID"]: r for r in csv.DictReader(lines[len(comments) :])}
    assert list(rows) == ["06001", "06003", "41001"]
    assert rows["06003"]["mean_rps_2011"] == "1.75"
    assert json.loads(rows["06001"]["risk_score_2011_hist"]) == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert rows["41001"]["mean_rps_2011"] == "" and rows["41001"]["building_count"] == "0"
    assert "geometry" not in rows["06001"] and "bbox" not in rows["06001"]


def test_geojson_is_a_valid_feature_collection_with_metadata(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    write_analysis_files(stats["states"], str(tmp_path / "states"), "states", cases.METADATA)
    with (tmp_path / "states" / GEOJSON_FILE).open() as handle:
        document = json.load(handle)
    assert document["type"] == "FeatureCollection"
    assert document["metadata"] == header_pairs(cases.METADATA, "states", 2)
    features = {f["properties"]["GEOID"]: f for f in document["features"]}
    assert set(features) == {"06", "41"}
    assert all(f["type"] == "Feature" for f in features.values())
    assert shapely.geometry.shape(features["06"]["geometry"]).equals(shapely.box(0, 0, 2, 1))
    assert features["06"]["properties"]["STUSPS"] == "CA"
    assert features["06"]["properties"]["median_rps_2011"] == 0.5
    assert features["41"]["properties"]["mean_rps_2011"] is None
    assert features["41"]["properties"]["risk_score_2047_hist"] == [0] * 11


def test_analysis_geoparquet_carries_dataset_metadata(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    write_analysis_files(stats["blocks"], str(tmp_path / "blocks"), "blocks", cases.METADATA)
    path = tmp_path / "blocks" / PARQUET_FILE
    assert pq.read_schema(path).metadata[b"provider"] == b"CarbonPlan"
    assert gpd.read_parquet(path)["building_count"].tolist() == [1, 2, 2, 0]


def test_analysis_files_reject_unknown_level(tmp_path: Path, inputs) -> None:
    with pytest.raises(ValueError, match="unknown census level 'zip'"):
        write_analysis_files(inputs[1]["blocks"], str(tmp_path / "x"), "zip", cases.METADATA)
    assert not (tmp_path / "x").exists()


def test_regional_pmtiles_layers_zooms_and_properties(tmp_path: Path, inputs) -> None:
    _, stats = inputs
    archive = tmp_path / "regions.pmtiles"
    options = TileOptions(0, 4, REGION_TILES.flags)
    summary = regional_pmtiles(stats, str(archive), cases.METADATA, options)
    assert summary.layers == {"nation": 1, "states": 2, "counties": 3, "tracts": 3, "blocks": 4}
    assert (summary.min_zoom, summary.max_zoom, summary.features) == (0, 4, 13)
    header, metadata, tile = _read(archive, 4, 1.5, 0.5)
    assert (header["min_zoom"], header["max_zoom"]) == (0, 4)
    assert {layer["id"] for layer in metadata["vector_layers"]} == set(LEVELS)
    assert "Overture" in metadata["attribution"] and "CC-BY-4.0" in metadata["attribution"]
    assert set(tile) == set(LEVELS)
    counties = _by_geoid(tile["counties"])
    beta = counties["06003"]
    assert beta["building_count"] == 2 and beta["NAME"] == "Beta"
    assert beta["mean_rps_2011"] == 1.75 and beta["median_rps_2011"] == 1.75
    assert json.loads(beta["risk_score_2011_hist"]) == [0] * 8 + [1, 0, 1]
    assert json.loads(beta["bbox"]) == [1.0, 0.0, 2.0, 1.0]
    assert set(beta) == {
        "GEOID", "NAME", "building_count", "mean_rps_2011", "median_rps_2011", "mean_rps_2047",
        "median_rps_2047", "risk_score_2011_hist", "risk_score_2047_hist", "bbox",
    }  # fmt: skip
    assert counties["41001"]["building_count"] == 0 and "mean_rps_2011" not in counties["41001"]
    assert _by_geoid(tile["states"])["06"]["STUSPS"] == "CA"


def test_building_pmtiles_footprints_with_seven_variables(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    archive = tmp_path / "buildings.pmtiles"
    options = TileOptions(6, 8, BUILDING_TILES.flags)
    summary = building_pmtiles(list(regions.values()), str(archive), cases.METADATA, options)
    assert summary.layers == {"risk": 5} and (summary.min_zoom, summary.max_zoom) == (6, 8)
    header, _, tile = _read(archive, 8, 1.5, 0.5)
    assert (header["min_zoom"], header["max_zoom"]) == (6, 8)
    features = tile["risk"]["features"]
    assert features and all(f["geometry"]["type"] == "Polygon" for f in features)
    assert all(set(f["properties"]) == set(BUILDING_VARIABLES) for f in features)
    values = {round(f["properties"]["rps_2047"], 6): f["properties"] for f in features}
    b2 = cases.variables_of("b2")
    assert values[100.0]["crps_scott"] == pytest.approx(float(b2["crps_scott"]), rel=1e-6)


def test_centroid_pmtiles_keeps_positive_rps_rounded(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    archive = tmp_path / "centroids.pmtiles"
    options = TileOptions(0, 6, CENTROID_TILES.flags)
    summary = building_centroid_pmtiles(
        list(regions.values()), str(archive), cases.METADATA, options
    )
    assert summary.layers == {"risk": 4}  # a1 has rps_2011 == 0
    header, _, tile = _read(archive, 6, 1.5, 0.5)
    assert (header["min_zoom"], header["max_zoom"]) == (0, 6)
    features = tile["risk"]["features"]
    assert len(features) == 4 and all(f["geometry"]["type"] == "Point" for f in features)
    expected = sorted(
        (rps_2011, rps_2047)
        for _, _, _, rps_2011, rps_2047 in cases.BUILDINGS.values()
        if rps_2011 > 0
    )
    got = sorted((f["properties"]["rps_2011"], f["properties"]["rps_2047"]) for f in features)
    for pair, want in zip(got, expected, strict=True):
        for value, target in zip(pair, want, strict=True):
            assert value == round(value, 3) and abs(value - target) <= 0.0005 + 1e-9


def test_tiling_failure_leaves_previous_archive(tmp_path: Path, inputs) -> None:
    regions, _ = inputs
    features = tmp_path / "a.ndjson"
    assert write_building_features(regions["A"], str(features)) == 3
    archive = tmp_path / "tiles.pmtiles"
    archive.write_bytes(b"previous")
    broken = TileOptions(0, 2, ("--no-such-flag",))
    with pytest.raises(RuntimeError, match="tippecanoe failed"):
        tile_features({"risk": [str(features)]}, str(archive), broken, cases.METADATA, name="x")
    assert archive.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ndjson", "tiles.pmtiles"]
    with pytest.raises(ValueError, match="at least one layer"):
        tile_features({"risk": []}, str(archive), broken, cases.METADATA, name="x")


def test_tile_options_are_validated() -> None:
    with pytest.raises(ValueError, match="max_zoom"):
        TileOptions(5, 3)
    assert TileOptions(0, None).arguments()[:2] == ["--minimum-zoom=0", "--maximum-zoom=g"]
