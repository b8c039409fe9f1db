"""The whole graph through ``make demo``'s driver, the real storage and a persistent instance.

One scenario on the tiny synthetic inputs: the first run materializes every region and every
roll-up; a second run does nothing; deleting one region's buildings recomputes that region only
(its partitions, no other region's partial or tile features) and reruns the roll-ups; deleting
one archive reruns that archive only; switching the optional branches off leaves them out.
"""

from collections import Counter
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocr_assets.assets.rollup_support import ROLLUP_OUTPUTS, outputs_exist
from ocr_assets.branches import OptionalBranches
from ocr_assets.definitions import build_definitions
from ocr_assets.demo import run_demo
from ocr_assets.resources import OutputStorage
from ocr_assets.settings import Settings
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS

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


def persistent_instance(tmp_path: Path) -> dg.DagsterInstance:
    """A Dagster instance with SQLite storage in a fresh folder (like ``DAGSTER_HOME``)."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    return dg.DagsterInstance.local_temp(str(home))


def materializations_per_partition(instance: dg.DagsterInstance, name: str) -> Counter[str]:
    records = instance.fetch_materializations(dg.AssetKey(name), limit=1000).records
    return Counter(record.partition_key for record in records)


def materialization_count(instance: dg.DagsterInstance, name: str) -> int:
    return len(instance.fetch_materializations(dg.AssetKey(name), limit=1000).records)


def test_demo_materializes_the_whole_graph_incrementally(
    synthetic_root: Path, tmp_path: Path
) -> None:
    settings = Settings(storage_root=str(tmp_path / "data"), input_root=str(synthetic_root))
    storage = OutputStorage.from_settings(settings)
    paths = storage.paths
    defs = build_definitions(settings, OptionalBranches(True, True))
    lines: list[str] = []
    with persistent_instance(tmp_path) as instance:
        first = run_demo(defs, instance, storage, say=lines.append)
        assert first.failed == {}
        assert first.computed == TINY_VALID_REGION_IDS
        assert sorted(first.rollups) == sorted(first.rollups_computed) == sorted(ROLLUPS)
        assert set(first.outputs) == set(ROLLUPS)
        for name in REGION_ASSETS:
            assert materializations_per_partition(instance, name) == Counter(
                dict.fromkeys(TINY_VALID_REGION_IDS, 1)
            )
        for name in CHECKS:
            record = instance.get_latest_asset_check_evaluation_record(
                dg.AssetCheckKey(dg.AssetKey("region_summary_stats"), name)
            )
            assert record is not None and record.event.asset_check_evaluation.passed
        for key, locations in ROLLUP_OUTPUTS.items():
            assert outputs_exist(locations(paths)), key
        assert any(line.startswith("  building_pmtiles ... ") for line in lines)
        consolidated = pq.ParquetFile(paths.consolidated_buildings).metadata.num_rows
        assert consolidated == first.buildings
        nation = gpd.read_parquet(paths.region_summary_stats("nation"))
        assert nation["building_count"].tolist() == [first.buildings]

        second = run_demo(defs, instance, storage, say=lines.append)
        assert second.computed == [] and second.rollups_computed == []

        others = [r for r in TINY_VALID_REGION_IDS if r != RECOMPUTED]
        stamps = {r: Path(paths.region_statistics_partial(r)).stat().st_mtime_ns for r in others}
        Path(paths.region_buildings(RECOMPUTED)).unlink()
        third = run_demo(defs, instance, storage, say=lines.append)
        assert third.failed == {} and third.computed == [RECOMPUTED]
        # The region's buildings changed, not its rasters: all but the pyramid rerun.
        assert sorted(third.rollups_computed) == sorted(set(ROLLUPS) - {"risk_pyramid"})
        assert materializations_per_partition(instance, "region_risk_rasters") == Counter(
            dict.fromkeys(TINY_VALID_REGION_IDS, 1)
        )
        for name in REGION_ASSETS[1:]:
            counts = materializations_per_partition(instance, name)
            assert counts == Counter({**dict.fromkeys(others, 1), RECOMPUTED: 2}), name
        assert {r: Path(paths.region_statistics_partial(r)).stat().st_mtime_ns for r in others} == (
            stamps
        )
        assert gpd.read_parquet(paths.region_summary_stats("nation")).equals(nation)

        Path(paths.building_pmtiles).unlink()
        fourth = run_demo(defs, instance, storage, say=lines.append)
        assert fourth.computed == [] and fourth.rollups_computed == ["building_pmtiles"]
        assert materialization_count(instance, "building_pmtiles") == 3

        # With the optional branches off, the demo leaves them out (they are up to date here).
        without = build_definitions(settings, OptionalBranches(False, False))
        fifth = run_demo(without, instance, storage, say=lines.append)
        assert sorted(fifth.rollups) == sorted(
            set(ROLLUPS) - {"risk_pyramid", "region_analysis_files"}
        )
        assert fifth.rollups_computed == []


def test_demo_stops_before_tiles_when_statistics_are_bad(
    synthetic_root: Path, tmp_path: Path
) -> None:
    settings = Settings(storage_root=str(tmp_path / "data"), input_root=str(synthetic_root))
    storage = OutputStorage.from_settings(settings)
    paths = storage.paths
    defs = build_definitions(settings, OptionalBranches(False, False))
    with persistent_instance(tmp_path) as instance:
        assert run_demo(defs, instance, storage, say=print).failed == {}
        archives = [paths.regional_pmtiles, paths.building_pmtiles, paths.building_centroid_pmtiles]
        stamps = [Path(archive).stat().st_mtime_ns for archive in archives]
        # A partial counting one building twice, and the statistics to redo: the merged
        # statistics disagree with themselves and with the assignments, the blocking checks
        # fail, and no archive is rebuilt from them.
        partial = Path(paths.region_statistics_partial("y0_x2")) / "aggregates.parquet"
        table = pq.read_table(partial)
        column = table.schema.get_field_index("building_count")
        counts = table.column(column).to_pylist()
        counts[0] += 1
        table = table.set_column(column, "building_count", pa.array(counts, pa.int64()))
        pq.write_table(table, partial)
        Path(paths.region_summary_stats("counties")).unlink()

        report = run_demo(defs, instance, storage, say=print)
        assert report.rollups_computed == ["region_summary_stats"]
        assert "blocking asset check" in report.failed["roll-ups"]
        assert [Path(archive).stat().st_mtime_ns for archive in archives] == stamps
