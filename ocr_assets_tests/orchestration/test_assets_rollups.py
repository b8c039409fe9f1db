"""The phase 02 / 03 assets materialized with ``dagster.materialize`` on the tiny synthetic inputs.

Phase 01 runs once for three regions; ``y1_x0``'s building table is then emptied, so one
region contributes nothing. Every roll-up output is read back: hive layout and
``_common_metadata``, statistics rows, CSV header and GeoJSON, the three PMTiles archives
(``pmtiles`` reader + ``mapbox-vector-tile``), the pyramid. Further tests corrupt copies of the
outputs: a corrupted statistics file fails the blocking checks and no tile is built; a bad
region file fails naming file and column and writes nothing.
"""

import gzip
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
from pmtiles.reader import MmapSource, Reader

from ocr_assets.catalog import InputCatalog, census_file
from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets import ASSETS, CHECKS
from ocr_assets.orchestration.assets.geoparquet import buildings_geoparquet
from ocr_assets.orchestration.assets.pyramid import PYRAMID_PIXELS_PER_TILE, risk_pyramid
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.rollups import census_levels
from ocr_assets.orchestration.assets.statistics import (
    region_analysis_files,
    region_statistics_partials,
    region_summary_stats,
)
from ocr_assets.orchestration.assets.tiles import (
    BUILDING_FEATURES,
    CENTROID_FEATURES,
    building_centroid_pmtiles,
    building_pmtiles,
    region_tile_features,
    regional_pmtiles_archive,
)
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.jobs import PHASE02_JOB, PHASE03_JOB, PHASE03_REGIONS_JOB, ROLLUPS_JOB
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.rollups import LEVELS, DatasetMetadata, summary_statistics
from ocr_assets.rollups.analysis_files import CSV_FILE, GEOJSON_FILE, PARQUET_FILE
from ocr_assets.rollups.buildings import COMMON_METADATA
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS, analysis_columns, statistics_schema
from ocr_assets.rollups.stats import AGGREGATES, ASSIGNMENTS
from ocr_assets.storage import Layout, layout, scratch, write_geoparquet
from ocr_assets.storage.atomic import HOST
from ocr_assets.storage.tables import table_file
from ocr_assets_tests.helpers import materialize as materialize_graph
from ocr_assets_tests.helpers import pipeline_resources

pytestmark = pytest.mark.integration

#: The metadata of an unversioned storage (OCR_VERSION unset).
METADATA = DatasetMetadata()

REGIONS = ["y0_x2", "y1_x0", "y1_x1"]
EMPTY_REGION = "y1_x0"
GRAPH = [*ASSETS, *CHECKS]
PER_REGION = [region_statistics_partials, region_tile_features]
ROLLUPS = [
    buildings_geoparquet,
    region_summary_stats,
    region_analysis_files,
    regional_pmtiles_archive,
    risk_pyramid,
    building_pmtiles,
    building_centroid_pmtiles,
]
#: The optional branches' assets.
BRANCH_ASSETS = (risk_pyramid.key, region_analysis_files.key)


def materialize(
    selection: list, input_root: Path, storage_root: Path, partition_key: str | None = None
) -> dg.ExecuteInProcessResult:
    return materialize_graph(
        GRAPH,
        pipeline_resources(input_root, storage_root),
        partition_key=partition_key,
        selection=selection,
    )


def metadata_of(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == asset.key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def failure_description(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> str:
    return step_failures(result)[asset.op.name]


@pytest.fixture(scope="module")
def phase01_root(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """Storage root with phase 01 done for REGIONS; EMPTY_REGION's table emptied (read-only)."""
    root = tmp_path_factory.mktemp("phase01")
    assert materialize([wind_direction_distribution], synthetic_root, root).success
    for region_id in REGIONS:
        result = materialize(
            [region_risk_rasters, region_buildings], synthetic_root, root, region_id
        )
        assert result.success
    path = OutputStorage(root=str(root)).layout.region_buildings(EMPTY_REGION)
    write_geoparquet(gpd.read_parquet(path).iloc[:0], path)
    return root


@pytest.fixture(scope="module")
def rollups(
    tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path, phase01_root: Path
) -> tuple[Path, dict[str, dg.ExecuteInProcessResult], dg.ExecuteInProcessResult]:
    """Storage root with every roll-up materialized (read-only), per-region and roll-up results."""
    root = tmp_path_factory.mktemp("rollups") / "data"
    shutil.copytree(phase01_root, root)
    per_region = {
        region_id: materialize(PER_REGION, synthetic_root, root, region_id) for region_id in REGIONS
    }
    assert all(result.success for result in per_region.values())
    result = materialize(ROLLUPS, synthetic_root, root)
    assert result.success
    return root, per_region, result


def paths_of(root: Path) -> Layout:
    return OutputStorage(root=str(root)).layout


def region_rows(root: Path) -> dict[str, int]:
    paths = paths_of(root)
    return {r: pq.ParquetFile(paths.region_buildings(r)).metadata.num_rows for r in REGIONS}


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def read_archive(archive: str, zoom: int, lon: float, lat: float) -> tuple[dict, dict, dict]:
    """Header, metadata and the decoded tile holding (lon, lat) at ``zoom``."""
    with open(archive, "rb") as handle:
        reader = Reader(MmapSource(handle))
        data = reader.get(zoom, *tile_of(lon, lat, zoom))
        assert data is not None, f"no tile at z{zoom} for {lon}, {lat}"
        return reader.header(), reader.metadata(), mapbox_vector_tile.decode(gzip.decompress(data))


# ----------------------------------------------------------------------------- per region
def test_region_statistics_partials(rollups) -> None:
    root, per_region, _ = rollups
    rows = region_rows(root)
    assert rows[EMPTY_REGION] == 0 and all(rows[r] > 0 for r in REGIONS if r != EMPTY_REGION)
    for region_id, result in per_region.items():
        metadata = metadata_of(result, region_statistics_partials)
        assert metadata["dagster/row_count"] == rows[region_id]
        assert set(metadata["unassigned_per_level"].values()) == {0}
        folder = paths_of(root).region_statistics_partial(region_id)
        assert sorted(p.name for p in Path(folder).iterdir()) == [
            f"{AGGREGATES}.parquet",
            f"{ASSIGNMENTS}.parquet",
        ]
        assert pq.ParquetFile(table_file(folder, ASSIGNMENTS)).metadata.num_rows == rows[region_id]


def test_region_tile_features(rollups) -> None:
    root, per_region, _ = rollups
    rows = region_rows(root)
    for region_id, result in per_region.items():
        metadata = metadata_of(result, region_tile_features)
        folder = paths_of(root).tile_features(region_id)
        lines = pq.read_table(table_file(folder, BUILDING_FEATURES))["feature"].to_pylist()
        assert len(lines) == metadata["building_features"] == rows[region_id]
        centroids = pq.read_table(table_file(folder, CENTROID_FEATURES))
        assert centroids.num_rows == metadata["centroid_features"] <= rows[region_id]
        if lines:
            feature = json.loads(lines[0])
            assert feature["type"] == "Feature"
            assert set(feature["properties"]) == {str(key) for key in range(7)}
    empty = paths_of(root).tile_features(EMPTY_REGION)
    assert {
        pq.read_table(table_file(empty, name)).num_rows for name in ("buildings", "centroids")
    } == {0}


# ------------------------------------------------------------------------------- phase 02
def test_buildings_geoparquet(rollups) -> None:
    root, _, result = rollups
    paths = paths_of(root)
    metadata = metadata_of(result, buildings_geoparquet)
    total = sum(region_rows(root).values())
    assert metadata["dagster/row_count"] == total and metadata["built_from_regions"] == REGIONS
    consolidated = gpd.read_parquet(paths.consolidated_buildings)
    assert len(consolidated) == total and consolidated.crs.to_epsg() == 4326
    assert (
        json.loads(pq.read_schema(paths.consolidated_buildings).metadata[b"geo"])["version"]
        == "1.1.0"
    )

    hive = Path(paths.partitioned_buildings)
    expected = {f"state_fips={g[:2]}/county_fips={g[2:5]}" for g in consolidated["GEOID"]}
    folders = {str(p.relative_to(hive)) for p in hive.glob("state_fips=*/county_fips=*")}
    assert folders == expected and metadata["counties"] == len(expected)
    sidecar = pq.read_schema(hive / COMMON_METADATA)
    common = {k.decode(): v.decode() for k, v in sidecar.metadata.items()}
    assert {k: common[k] for k in METADATA.vector()} == METADATA.vector()
    assert common["version"] == "unversioned" and common["license_name"] == "ODBL"
    assert "id" not in sidecar.names and "region_id" not in sidecar.names
    assert sidecar.field("state_fips").type == pa.string()
    table = pads.dataset(hive, format="parquet", schema=sidecar, partitioning="hive").to_table(
        columns=["GEOID", "state_fips", "county_fips"]
    )
    assert table.num_rows == total
    frame = table.to_pandas()
    assert (frame["GEOID"].str[:2] == frame["state_fips"]).all()
    assert (frame["GEOID"].str[2:5] == frame["county_fips"]).all()


def test_region_summary_stats_and_checks(rollups, synthetic_catalog: InputCatalog) -> None:
    root, _, result = rollups
    paths = paths_of(root)
    metadata = metadata_of(result, region_summary_stats)
    assert metadata["built_from_regions"] == REGIONS
    census = census_levels(synthetic_catalog)
    total = sum(region_rows(root).values())
    # The empty region contributes nothing: the same as merging the other regions only.
    others = [paths.region_statistics_partial(r) for r in REGIONS if r != EMPTY_REGION]
    for level in LEVELS:
        stats = gpd.read_parquet(paths.region_summary_stats(level))
        assert pq.read_schema(paths.region_summary_stats(level)).names == (
            statistics_schema(level).names
        )
        assert 0 < len(stats) <= len(census[level].frame)
        assert (stats["building_count"] > 0).all()
        assert stats["building_count"].sum() == total
        expected = summary_statistics(others, census[level])
        pd.testing.assert_frame_equal(
            pd.DataFrame(stats.drop(columns="geometry")),
            pd.DataFrame(expected.drop(columns="geometry")),
        )
    assert gpd.read_parquet(paths.region_summary_stats("nation"))["building_count"].tolist() == [
        total
    ]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "histograms_sum_to_building_count",
        "means_within_variable_ranges",
        "every_building_in_one_county",
    }
    assert all(e.passed for e in evaluations.values())
    membership = evaluations["every_building_in_one_county"].metadata
    assert membership["buildings"].value == membership["counted_in_counties"].value == total


def test_region_analysis_files(rollups) -> None:
    root, _, result = rollups
    paths = paths_of(root)
    metadata = metadata_of(result, region_analysis_files)
    assert sorted(p.name for p in Path(paths.region_analysis_dir).iterdir()) == [
        "block", "counties", "nation", "states", "tracts",
    ]  # fmt: skip
    for level in LEVELS:
        folder = Path(paths.region_analysis(ANALYSIS_FOLDERS[level]))
        rows = pq.ParquetFile(paths.region_summary_stats(level)).metadata.num_rows
        assert metadata["rows_per_level"][level] == rows
        lines = (folder / CSV_FILE).read_text().splitlines()
        comments = [f"# {key}: {value}" for key, value in METADATA.vector().items()]
        assert lines[: len(comments)] == comments
        assert lines[len(comments)] == ",".join(analysis_columns(level))
        assert len(lines) == len(comments) + 1 + rows
        with (folder / GEOJSON_FILE).open() as handle:
            document = json.load(handle)
        assert document["type"] == "FeatureCollection"
        assert document["metadata"] == METADATA.vector()
        assert len(document["features"]) == rows
        assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in document["features"])
        assert len(gpd.read_parquet(folder / PARQUET_FILE)) == rows


def test_regional_pmtiles(rollups, synthetic_catalog: InputCatalog) -> None:
    root, _, result = rollups
    archive = paths_of(root).regional_pmtiles
    metadata = metadata_of(result, regional_pmtiles_archive)
    assert metadata["built_from_regions"] == REGIONS
    census = census_levels(synthetic_catalog)
    paths = paths_of(root)
    assert metadata["layers"] == {
        level: pq.ParquetFile(paths.region_summary_stats(level)).metadata.num_rows
        for level in LEVELS
    }
    # Small polygons are dropped at low zooms (the published settings); at the maximum zoom
    # every level is there.
    zoom = metadata["max_zoom"]
    point = census["counties"].frame.geometry.iloc[0].representative_point()
    header, meta, tile = read_archive(archive, zoom, point.x, point.y)
    assert (header["min_zoom"], header["max_zoom"]) == (0, zoom)
    assert {layer["id"] for layer in meta["vector_layers"]} == set(LEVELS)
    assert set(tile) == set(LEVELS)
    county = tile["counties"]["features"][0]["properties"]
    assert set(county) == {str(key) for key in range(10)}  # no STUSPS ("10") for counties
    assert len(json.loads(county["5"])) == 11 and len(json.loads(county["8"])) == 4
    state = tile["states"]["features"][0]["properties"]
    assert set(state) == {str(key) for key in range(11)}


def test_building_pmtiles(rollups) -> None:
    root, _, result = rollups
    metadata = metadata_of(result, building_pmtiles)
    total = sum(region_rows(root).values())
    assert metadata["layers"] == {"risk": total} and metadata["built_from_regions"] == REGIONS
    building = gpd.read_parquet(paths_of(root).consolidated_buildings).geometry.iloc[0]
    zoom = metadata["max_zoom"]
    header, _, tile = read_archive(
        paths_of(root).building_pmtiles, zoom, building.centroid.x, building.centroid.y
    )
    assert (header["min_zoom"], header["max_zoom"]) == (6, zoom)
    features = tile["risk"]["features"]
    assert features and all(f["geometry"]["type"] == "Polygon" for f in features)
    assert all(set(f["properties"]) == {str(key) for key in range(7)} for f in features)


def test_building_centroid_pmtiles(rollups) -> None:
    root, _, result = rollups
    metadata = metadata_of(result, building_centroid_pmtiles)
    buildings = gpd.read_parquet(paths_of(root).consolidated_buildings)
    positive = buildings[(buildings["rps_2011"] > 0) & (buildings["rps_2047"] > 0)]
    assert metadata["layers"] == {"risk": len(positive)} and len(positive) > 0
    centre = positive.geometry.iloc[0].centroid
    zoom = metadata["max_zoom"]
    header, _, tile = read_archive(
        paths_of(root).building_centroid_pmtiles, zoom, centre.x, centre.y
    )
    assert (header["min_zoom"], header["max_zoom"]) == (0, zoom)
    features = tile["risk"]["features"]
    assert features and all(f["geometry"]["type"] == "Point" for f in features)
    for feature in features:
        properties = feature["properties"]
        assert set(properties) == {"0", "1"}
        assert all(v > 0 and v == round(v, 3) for v in properties.values())


def test_tiling_without_scratch_space_fails_the_step_naming_the_folder(
    rollups, synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    shutil.copytree(rollups[0], root)
    archive = Path(paths_of(root).building_centroid_pmtiles)
    # Control: the same materialization with the disk's real free space succeeds.
    assert materialize([building_centroid_pmtiles], synthetic_root, root).success
    previous = archive.read_bytes()
    mine = f"ocr-*-{HOST}-{os.getpid()}-*"
    leftovers = set(Path(tempfile.gettempdir()).glob(mine))

    monkeypatch.setattr(scratch, "free_space", lambda folder: 1000)
    for asset in (building_centroid_pmtiles, building_pmtiles):
        result = materialize([asset], synthetic_root, root)
        assert not result.success
        failure = failure_description(result, asset)
        # (what is being tiled: a shard's archive under tile-shards, the pass over the zooms
        # above the shards in its own scratch, or the archive itself)
        assert "ScratchSpaceError: tiling /" in failure, failure
        assert f"the scratch folder {tempfile.gettempdir()}/ocr-tiles-{HOST}-" in failure
        assert "has not enough space: needs about" in failure
        assert "1.0 kB (1000 bytes) available" in failure
    assert archive.read_bytes() == previous  # nothing published
    assert set(Path(tempfile.gettempdir()).glob(mine)) == leftovers  # scratch removed


def test_risk_pyramid(rollups) -> None:
    root, _, result = rollups
    metadata = metadata_of(result, risk_pyramid)
    assert metadata["built_from_regions"] == REGIONS and metadata["levels"] == "0..11"
    tree = xr.open_datatree(paths_of(root).risk_pyramid, engine="zarr")
    assert sorted(int(name) for name in tree.children) == list(range(12))
    row0, row1, col0, col1 = metadata["finest_level_window"]
    assert (row1 - row0) % PYRAMID_PIXELS_PER_TILE == 0
    finest = tree["11"].ds.isel(y=slice(row0, row1), x=slice(col0, col1))
    for name in ("rps_2011", "rps_2047"):
        values = finest[name].values
        assert np.isfinite(values).any() and np.nanmax(values) <= 100
    datasets = tree.attrs["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == [str(z) for z in range(12)]


# --------------------------------------------------------------------- checks, bad input
def test_corrupted_statistics_fail_the_blocking_checks_before_tiles(
    rollups, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(rollups[0], root)
    paths = paths_of(root)
    counties = gpd.read_parquet(paths.region_summary_stats("counties"))
    counties.loc[0, "building_count"] += 1
    counties.loc[1, "bp_2011_mean"] = 1.5
    write_geoparquet(counties, paths.region_summary_stats("counties"))
    before = Path(paths.regional_pmtiles).stat().st_mtime_ns

    checks = dg.AssetSelection.checks_for_assets(region_summary_stats)
    downstream = dg.AssetSelection.assets(regional_pmtiles_archive, building_pmtiles)
    result = materialize(checks | downstream, synthetic_root, root)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["histograms_sum_to_building_count"].passed
    assert not evaluations["means_within_variable_ranges"].passed
    assert not evaluations["every_building_in_one_county"].passed  # counted twice in a county
    failures = evaluations["histograms_sum_to_building_count"].metadata["failures_per_level"]
    assert failures.value == {"nation": 0, "states": 0, "counties": 1, "tracts": 0, "blocks": 0}
    assert result.get_asset_materialization_events() == []
    assert Path(paths.regional_pmtiles).stat().st_mtime_ns == before


def test_rematerializing_one_region_redoes_only_its_partial(
    rollups, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(rollups[0], root)
    paths = paths_of(root)

    def stamps() -> dict[str, int]:
        return {
            r: os.stat(table_file(paths.region_statistics_partial(r), AGGREGATES)).st_mtime_ns
            for r in REGIONS
        }

    before = stamps()
    stats_before = gpd.read_parquet(paths.region_summary_stats("tracts"))
    result = materialize([region_statistics_partials], synthetic_root, root, "y1_x1")
    assert result.success
    after = stamps()
    assert after["y1_x1"] != before["y1_x1"]
    assert {r: after[r] for r in REGIONS if r != "y1_x1"} == {
        r: before[r] for r in REGIONS if r != "y1_x1"
    }
    assert materialize([region_summary_stats], synthetic_root, root).success
    pd.testing.assert_frame_equal(
        gpd.read_parquet(paths.region_summary_stats("tracts")), stats_before
    )


def test_bad_region_file_fails_naming_file_and_column_and_writes_nothing(
    phase01_root: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(phase01_root, root)
    paths = paths_of(root)
    bad = paths.region_buildings("y0_x2")
    write_geoparquet(gpd.read_parquet(bad).drop(columns="rps_2011"), bad)

    result = materialize([region_statistics_partials], synthetic_root, root, "y0_x2")
    assert not result.success
    message = failure_description(result, region_statistics_partials)
    assert bad in message and "'rps_2011'" in message
    assert not Path(paths.region_statistics_partial("y0_x2")).exists()

    result = materialize([buildings_geoparquet], synthetic_root, root)
    assert not result.success
    message = failure_description(result, buildings_geoparquet)
    assert bad in message and "'rps_2011'" in message
    assert not any(Path(paths.geoparquet_dir).glob("*"))  # not even a temporary file


def test_census_without_geoid_fails_the_statistics_and_writes_nothing(
    rollups, synthetic_root: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(synthetic_root, inputs)
    counties = inputs / census_file("counties")
    write_geoparquet(gpd.read_parquet(counties).rename(columns={"GEOID": "FIPS"}), str(counties))
    root = tmp_path / "data"
    shutil.copytree(rollups[0], root)
    stats_dir = Path(paths_of(root).region_summary_stats_dir)
    before = {p.name: p.stat().st_mtime_ns for p in stats_dir.iterdir()}

    result = materialize([region_summary_stats], inputs, root)
    assert not result.success
    message = failure_description(result, region_summary_stats)
    assert "counties.parquet" in message and "'GEOID'" in message
    assert {p.name: p.stat().st_mtime_ns for p in stats_dir.iterdir()} == before


def test_rollups_name_the_regions_they_miss(phase01_root: Path, synthetic_root: Path, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(phase01_root, root)
    result = materialize([region_summary_stats], synthetic_root, root)
    assert not result.success
    message = failure_description(result, region_summary_stats)
    assert "3 of the 3 region(s) in the raster store lack outputs the roll-up reads" in message
    assert "y0_x2: region_statistics_partials; y1_x0: region_statistics_partials" in message
    assert not Path(paths_of(root).region_summary_stats_dir).exists()


# ---------------------------------------------------------------------- graph and flags
def test_jobs_honour_the_branch_flags(synthetic_root: Path, tmp_path: Path) -> None:
    pyramid, analysis = BRANCH_ASSETS

    def selected(defs: dg.Definitions, job: str) -> set[dg.AssetKey]:
        return set(defs.resolve_job_def(job).asset_layer.selected_asset_keys)

    settings = Settings(storage_root=str(tmp_path), input_root=str(synthetic_root))
    everything = build_definitions(settings)
    assert {pyramid, analysis} <= selected(everything, PHASE02_JOB)
    graph = everything.resolve_asset_graph()
    assert selected(everything, ROLLUPS_JOB) == {
        key
        for key in graph.materializable_asset_keys
        if not graph.get(key).is_partitioned and key.path != ["wind_direction_distribution"]
    }
    assert selected(everything, PHASE03_JOB) == {
        dg.AssetKey(name) for name in ("building_pmtiles", "building_centroid_pmtiles")
    }
    assert selected(everything, PHASE03_REGIONS_JOB) == {dg.AssetKey("region_tile_features")}
    without = build_definitions(settings.with_changes(create_pyramid=False))
    assert pyramid not in selected(without, PHASE02_JOB) | selected(without, ROLLUPS_JOB)
    assert analysis in selected(without, PHASE02_JOB)
    assert pyramid in without.resolve_asset_graph().get_all_asset_keys()  # still in the graph


def test_graph_matches_the_layout(synthetic_root: Path, tmp_path: Path) -> None:
    """The asset graph and the storage layout's table of assets agree."""
    defs = build_definitions(Settings(storage_root=str(tmp_path), input_root=str(synthetic_root)))
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert keys == set(layout.ASSET_KEYS)
    # (the region-partitioned source assets of the input rows are observed, never stored)
    partitioned = {
        k.to_user_string() for k in graph.materializable_asset_keys if graph.get(k).is_partitioned
    }
    assert partitioned == layout.PARTITIONED_ASSETS
    assert {key.to_user_string() for key in BRANCH_ASSETS} == layout.OPTIONAL_ASSETS
    for key in layout.ASSET_KEYS:
        assert Layout("/data", "qa").outputs(key), key
