"""The whole graph through ``make demo`` (a ``deploy`` run), the real storage and an instance.

One scenario on the tiny synthetic inputs: the first run materializes every region and every
roll-up; deleting one region's buildings makes the next deployment recompute that region only
(its partitions, no other region's partial or tile features) and rebuild the roll-ups;
switching the optional branches off leaves them out.
"""

from collections import Counter
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.demo import run_demo
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS
from ocr_assets_tests.helpers import partitions_materialized, persistent_instance

pytestmark = pytest.mark.integration

ROLLUPS = [
    "risk_pyramid",
    "buildings_geoparquet",
    "region_summary_stats",
    "region_analysis_files",
    "regional_pmtiles",
    "building_pmtiles",
    "building_centroid_pmtiles",
]
REGION_ASSETS = [
    "region_risk_rasters",
    "region_buildings",
    "region_statistics_partials",
    "region_tile_features",
]
CHECKS = [
    "histograms_sum_to_building_count",
    "means_within_variable_ranges",
    "every_building_in_one_county",
]
RECOMPUTED = "y1_x0"


def materialization_count(instance: dg.DagsterInstance, name: str) -> int:
    return len(instance.fetch_materializations(dg.AssetKey(name), limit=1000).records)


@pytest.mark.usefixtures("clean_env")
def test_demo_materializes_the_whole_graph_incrementally(
    synthetic_root: Path, tmp_path: Path
) -> None:
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(synthetic_root),
        create_pyramid=True,
        write_regional_stats=True,
    )
    paths = settings.layout
    defs = build_definitions(settings)
    with persistent_instance(tmp_path) as instance:
        first = run_demo(defs, instance, paths)
        assert first.failed == {}
        assert first.computed == TINY_VALID_REGION_IDS
        assert sorted(first.rollups) == sorted(ROLLUPS)
        assert set(first.outputs) == set(ROLLUPS)
        for name in REGION_ASSETS:
            assert partitions_materialized(instance, name) == Counter(
                dict.fromkeys(TINY_VALID_REGION_IDS, 1)
            )
        for name in CHECKS:
            record = instance.get_latest_asset_check_evaluation_record(
                dg.AssetCheckKey(dg.AssetKey("region_summary_stats"), name)
            )
            assert record is not None and record.event.asset_check_evaluation.passed
        for asset in ROLLUPS:
            for location in paths.outputs(asset).values():
                assert Path(location).exists(), (asset, location)
        consolidated = pq.ParquetFile(paths.consolidated_buildings).metadata.num_rows
        assert consolidated == first.buildings
        nation = gpd.read_parquet(paths.region_summary_stats("nation"))
        assert nation["building_count"].tolist() == [first.buildings]

        others = [r for r in TINY_VALID_REGION_IDS if r != RECOMPUTED]
        stamps = {r: Path(paths.region_statistics_partial(r)).stat().st_mtime_ns for r in others}
        Path(paths.region_buildings(RECOMPUTED)).unlink()
        second = run_demo(defs, instance, paths)
        assert second.failed == {} and second.computed == [RECOMPUTED]
        assert sorted(second.rollups) == sorted(ROLLUPS)
        for name in REGION_ASSETS:
            counts = partitions_materialized(instance, name)
            assert counts == Counter({**dict.fromkeys(others, 1), RECOMPUTED: 2}), name
        assert {r: Path(paths.region_statistics_partial(r)).stat().st_mtime_ns for r in others} == (
            stamps
        )
        assert gpd.read_parquet(paths.region_summary_stats("nation")).equals(nation)

        # With the optional branches off, the deployment leaves them out.
        without = build_definitions(
            settings.with_changes(create_pyramid=False, write_regional_stats=False)
        )
        third = run_demo(without, instance, paths)
        assert third.failed == {} and third.computed == []
        assert sorted(third.rollups) == sorted(
            set(ROLLUPS) - {"risk_pyramid", "region_analysis_files"}
        )
        assert materialization_count(instance, "risk_pyramid") == 2


@pytest.mark.usefixtures("clean_env")
def test_demo_stops_before_tiles_when_statistics_are_bad(
    synthetic_root: Path, tmp_path: Path
) -> None:
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(synthetic_root),
        create_pyramid=False,
        write_regional_stats=False,
    )
    paths = settings.layout
    defs = build_definitions(settings)
    with persistent_instance(tmp_path) as instance:
        assert run_demo(defs, instance, paths).failed == {}
        archives = [paths.regional_pmtiles, paths.building_pmtiles, paths.building_centroid_pmtiles]
        stamps = [Path(archive).stat().st_mtime_ns for archive in archives]
        # A partial counting one building twice: the merged statistics disagree with
        # themselves and with the assignments, the blocking checks fail, and no archive is
        # rebuilt from them.
        partial = Path(paths.region_statistics_partial("y0_x2")) / "aggregates.parquet"
        table = pq.read_table(partial)
        column = table.schema.get_field_index("building_count")
        counts = table.column(column).to_pylist()
        counts[0] += 1
        table = table.set_column(column, "building_count", pa.array(counts, pa.int64()))
        pq.write_table(table, partial)

        report = run_demo(defs, instance, paths)
        assert report.computed == []
        assert "blocking asset check" in report.failed["build_rollups"]
        assert [Path(archive).stat().st_mtime_ns for archive in archives] == stamps
