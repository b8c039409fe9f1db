"""Phase 01 end to end through the real storage and a persistent Dagster instance, and the demo
(a deployment of the ``local`` environment)."""

import re
import shutil
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr

from ocr_assets import science
from ocr_assets.catalog import SCOTT_STORE, riley_store
from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.demo import ensure_inputs, run_demo
from ocr_assets.orchestration.jobs import PHASE01_JOB, WIND_JOB
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import RegionGrid
from ocr_assets.storage.raster_store import stored_grid
from ocr_assets_tests.helpers import persistent_instance

pytestmark = pytest.mark.integration

WIND = dg.AssetKey("wind_direction_distribution")
RASTERS = dg.AssetKey("region_risk_rasters")
BUILDINGS = dg.AssetKey("region_buildings")
TWO_REGIONS = ("y0_x2", "y1_x1")


def test_two_regions_through_the_real_storage(
    synthetic_root: Path, tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    settings = Settings(storage_root=str(tmp_path / "data"), input_root=str(synthetic_root))
    defs = build_definitions(settings)
    job = defs.resolve_job_def(PHASE01_JOB)
    with persistent_instance(tmp_path) as instance:
        add_region_partitions(instance, TWO_REGIONS)
        assert defs.resolve_job_def(WIND_JOB).execute_in_process(instance=instance).success
        for region_id in TWO_REGIONS:
            assert job.execute_in_process(instance=instance, partition_key=region_id).success
        assert instance.get_materialized_partitions(RASTERS) == set(TWO_REGIONS)
        assert instance.get_materialized_partitions(BUILDINGS) == set(TWO_REGIONS)

    storage = OutputStorage.from_settings(settings)
    store = storage.raster_store()
    assert set(store.committed_regions()) == set(TWO_REGIONS)
    messages = [snapshot.message for snapshot in store.repository.ancestry(branch="main")]
    assert {f"region {r}" for r in TWO_REGIONS} <= set(messages)
    full = store.open()
    assert stored_grid(full.attrs) == tiny_grid.to_dict()

    for region_id in TWO_REGIONS:
        rasters = store.read_region(tiny_grid, region_id).load()
        assert np.isfinite(rasters["rps_2011"].values).any()
        table = gpd.read_parquet(storage.layout.region_buildings(region_id))
        assert len(table) > 0
        # Every building carries the values of the region's pixel nearest to its centroid.
        centroids = shapely.centroid(np.asarray(table.geometry.values))
        expected = rasters.sel(
            longitude=xr.DataArray(shapely.get_x(centroids), dims="building"),
            latitude=xr.DataArray(shapely.get_y(centroids), dims="building"),
            method="nearest",
        )
        for name in science.VARIABLES:
            np.testing.assert_array_equal(table[name].to_numpy(), expected[name].values)

    # Regions never computed stay empty (NaN) in the store.
    other = store.read_region(tiny_grid, "y1_x2")["bp_2011"].values
    assert np.isnan(other).all()


def progress_lines(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The deploy run's per-region progress lines (not the roll-ups')."""
    messages = [entry.user_message for entry in instance.all_logs(run_id)]
    return [m for m in messages if m.startswith("[") and re.match(r"\[\d+/\d+\] y\d+_x\d+ ", m)]


@pytest.mark.usefixtures("clean_env")
def test_demo_is_a_deployment_that_skips_what_is_done(synthetic_root: Path, tmp_path: Path) -> None:
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(synthetic_root),
        create_pyramid=False,
        write_regional_stats=False,
    )
    layout = settings.layout
    defs = build_definitions(settings)
    with persistent_instance(tmp_path) as instance:
        first = run_demo(defs, instance, layout)
        assert first.failed == {}
        assert first.computed == first.regions == ["y0_x1", "y0_x2", "y1_x0", "y1_x1", "y1_x2"]
        assert first.buildings > 0
        assert "building_pmtiles" in first.outputs
        progress = progress_lines(instance, first.run_id)
        assert len(progress) == 5
        assert re.fullmatch(
            r"\[1/5\] y0_x1 ok in \d+\.\d s: [\d,]+ buildings, California, Nevada "
            r"\(run [0-9a-f]{8}\); 4 left, about \S+ s",
            progress[0],
        ), progress[0]
        assert progress[-1].startswith("[5/5] y1_x2 ok in ") and "left" not in progress[-1]

        second = run_demo(defs, instance, layout)
        assert second.computed == [] and second.skipped == first.regions
        assert second.buildings == first.buildings
        # The wind distribution is in storage: computed once, by the first deployment.
        assert len(instance.fetch_materializations(WIND, limit=10).records) == 1

        Path(layout.region_buildings("y1_x0")).unlink()
        third = run_demo(defs, instance, layout)
        assert third.computed == ["y1_x0"]
        assert third.buildings == first.buildings
        assert [line.split()[1] for line in progress_lines(instance, third.run_id)] == ["y1_x0"]


@pytest.mark.usefixtures("clean_env")
def test_demo_reports_failed_regions(synthetic_root: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(synthetic_root, inputs)
    shutil.rmtree(inputs / riley_store(2047, "270m-5070"))
    settings = Settings(storage_root=str(tmp_path / "data"), input_root=str(inputs))
    with persistent_instance(tmp_path) as instance:
        report = run_demo(build_definitions(settings), instance, settings.layout)
        progress = progress_lines(instance, report.run_id)
        rollups = instance.fetch_materializations(dg.AssetKey("regional_pmtiles"), limit=1)
    assert list(report.failed) == ["process_regions"]
    message = report.failed["process_regions"]
    assert message.startswith("5 of 5 region(s) failed, roll-ups not built: y0_x1: ")
    assert riley_store(2047, "270m-5070") in message
    assert len(progress) == 5 and all("FAILED" in line for line in progress)
    assert rollups.records == []
    assert report.buildings == 0


def test_demo_inputs_are_generated_or_left_alone(tmp_path: Path, synthetic_root: Path) -> None:
    messages: list[str] = []
    real = tmp_path / "real-data"
    real.mkdir()
    (real / SCOTT_STORE).mkdir(parents=True)
    ensure_inputs(str(real), messages.append)
    assert messages == [f"inputs: using the data sets under {real}"]
    assert sorted(p.name for p in real.iterdir()) == ["input"]

    ensure_inputs(str(synthetic_root), messages.append)
    assert "0 written" in messages[-1]
