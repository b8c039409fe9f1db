"""Issue 11, items 2 and 3: bad input never reaches main, and staleness follows the inputs.

The fault: the Riley 2011 270 m burn probability set to NaN (a new commit on its Icechunk
branch ``main``) in a copy of the synthetic inputs.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import dagster as dg
import icechunk
import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.observe import observe
from dagster._core.loader import LoadingContextForTest

from ocr_assets import science
from ocr_assets.catalog import BUILDINGS_FILE, SCOTT_STORE, InputCatalog, riley_store
from ocr_assets.catalog.staleness import REGION_INPUT_NAMES, current_regions, stale_regions
from ocr_assets.config.settings import Settings
from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets.inputs import REGION_INPUT_ASSETS, input_key
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import Layout, RasterStore
from ocr_assets.storage.raster_store import INPUT_VERSIONS
from ocr_assets_tests.helpers import (
    GRAPH,
    materialize,
    materialize_region,
    partitions_materialized,
    persistent_instance,
    pipeline_resources,
    run_deploy,
)

#: Phase 01 of one region (the rasters' blocking checks come with them).
PHASE01 = [wind_direction_distribution, region_risk_rasters, region_buildings]


def region_run(
    selection: list, region_id: str, input_root: Path, storage_root: Path
) -> dg.ExecuteInProcessResult:
    return materialize_region(selection, region_id, input_root, storage_root)


def failure_description(result: dg.ExecuteInProcessResult, node: str) -> str:
    return step_failures(result)[node]


RILEY_2011_270M = riley_store(2011, "270m-5070")


def set_bp(input_root: Path, values: np.ndarray | float) -> np.ndarray:
    """Overwrite the Riley 2011 270 m ``BP`` with ``values`` in a new commit; return the old."""
    repository = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(input_root / RILEY_2011_270M))
    )
    session = repository.writable_session("main")
    bp = zarr.open_group(session.store, mode="r+")["BP"]
    old = bp[:]
    bp[:] = values
    session.commit("test: replace BP")
    return old


def main_snapshot(store: RasterStore) -> str:
    return store.repository.lookup_branch("main")


def not_retried(result: dg.ExecuteInProcessResult) -> bool:
    return not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]


@pytest.fixture
def inputs(synthetic_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    return root


@pytest.mark.integration
def test_nan_input_never_reaches_main_and_a_plain_rerun_heals(
    inputs: Path, tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    outputs = tmp_path / "outputs"
    storage = OutputStorage(root=str(outputs))
    store = storage.raster_store()
    catalog = InputCatalog(str(inputs))
    assert region_run(PHASE01, "y0_x1", inputs, outputs).success
    published = main_snapshot(store)
    published_rasters = store.region("y0_x1").load()
    table_path = Path(storage.layout.region_buildings("y0_x1"))
    published_table = table_path.read_bytes()
    assert pq.ParquetFile(table_path).metadata.num_rows > 0
    assert current_regions(store, catalog) == {"y0_x1"}

    original = set_bp(inputs, np.nan)

    # Input identity: the region computed from the old Riley data is stale, and says why.
    assert stale_regions(store, InputCatalog(str(inputs))) == {"y0_x1": [RILEY_2011_270M]}
    assert current_regions(store, InputCatalog(str(inputs))) == set()

    # A region already published: its recomputation fails before the commit, not retried.
    rerun = region_run(PHASE01, "y0_x1", inputs, outputs)
    assert not rerun.success
    assert not_retried(rerun)
    description = failure_description(rerun, "region_risk_rasters")
    assert "region y0_x1: the rasters fail the region checks, nothing committed" in description
    assert "nan_only_where_explained" in description and "'bp_2011'" in description
    assert rerun.asset_materializations_for_node("region_buildings") == []
    # ... and everything published is untouched: main, the region's rasters and its table.
    assert main_snapshot(store) == published
    xr.testing.assert_identical(store.region("y0_x1").load(), published_rasters)
    assert table_path.read_bytes() == published_table

    # A region never published: main does not hold it afterwards.
    new_region = region_run(PHASE01, "y1_x1", inputs, outputs)
    assert not new_region.success
    assert "nan_only_where_explained" in failure_description(new_region, "region_risk_rasters")
    assert set(store.committed_regions()) == {"y0_x1"}
    assert main_snapshot(store) == published

    # Restoring the input (another commit, another identity): plain re-runs, no OCR_FORCE.
    set_bp(inputs, original)
    assert stale_regions(store, InputCatalog(str(inputs))) == {"y0_x1": [RILEY_2011_270M]}
    for region_id in ("y0_x1", "y1_x1"):
        assert region_run(PHASE01, region_id, inputs, outputs).success
    assert current_regions(store, InputCatalog(str(inputs))) == {"y0_x1", "y1_x1"}
    xr.testing.assert_identical(store.region("y0_x1").load(), published_rasters)


@pytest.mark.integration
def test_region_commit_records_the_identities_of_its_inputs(inputs: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    assert region_run(PHASE01, "y1_x0", inputs, outputs).success
    store = OutputStorage(root=str(outputs)).raster_store()
    recorded = store.region_commits()["y1_x0"].metadata[INPUT_VERSIONS]
    assert set(recorded) == set(REGION_INPUT_NAMES)
    assert recorded == InputCatalog(str(inputs)).input_versions(REGION_INPUT_NAMES)
    assert all(version.startswith("icechunk:") for version in recorded.values())


def test_regions_without_recorded_inputs_are_stale(
    synthetic_catalog: InputCatalog, tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    """A commit from before identities were recorded: its inputs are unknown, recompute it."""
    store = RasterStore(str(tmp_path / "rasters.icechunk"))
    region = nan_region(tiny_grid, "y1_x2")
    store.ensure_layout(tiny_grid, region, {})
    store.write_region(tiny_grid, "y1_x2", region)
    assert stale_regions(store, synthetic_catalog) == {"y1_x2": list(REGION_INPUT_NAMES)}


def nan_region(grid: RegionGrid, region_id: str) -> xr.Dataset:
    """Every risk variable NaN on the region's window."""
    rows, cols = grid.window(region_id)
    latitude, longitude = grid.latitude()[rows], grid.longitude()[cols]
    nan = np.full((latitude.size, longitude.size), np.nan, dtype=np.float32)
    return xr.Dataset(
        {name: (("latitude", "longitude"), nan) for name in science.VARIABLES},
        coords={"latitude": latitude, "longitude": longitude},
    )


def test_region_buildings_refuses_to_drop_every_building(
    synthetic_root: Path, tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    """All-NaN rasters in the store (written by an older version, bypassing the gate)."""
    storage = OutputStorage(root=str(tmp_path))
    store = storage.raster_store()
    region = nan_region(tiny_grid, "y1_x1")
    store.ensure_layout(tiny_grid, region, {})
    store.write_region(tiny_grid, "y1_x1", region)
    result = region_run([region_buildings], "y1_x1", synthetic_root, tmp_path)
    assert not result.success
    assert not_retried(result)
    description = failure_description(result, "region_buildings")
    assert "region y1_x1: all " in description
    assert "buildings dropped for NaN risk values, refusing to write an empty table" in description
    assert not Path(storage.layout.region_buildings("y1_x1")).exists()


def test_input_versions_follow_the_content(inputs: Path) -> None:
    catalog = InputCatalog(str(inputs))
    before = catalog.input_versions()
    assert before == InputCatalog(str(inputs)).input_versions()
    assert before[BUILDINGS_FILE].startswith("sha256:")

    set_bp(inputs, np.nan)
    buildings = inputs / BUILDINGS_FILE
    table = pq.read_table(buildings)
    pq.write_table(table.slice(1), buildings)
    after = InputCatalog(str(inputs)).input_versions()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {RILEY_2011_270M, BUILDINGS_FILE}


def test_catalog_reports_the_snapshot_it_read(inputs: Path) -> None:
    """Identities are those of the data read, even if the input moves on afterwards."""
    catalog = InputCatalog(str(inputs))
    catalog.riley_270m(2011)
    read = catalog.input_versions([RILEY_2011_270M])
    set_bp(inputs, np.nan)
    assert catalog.input_versions([RILEY_2011_270M]) == read
    assert InputCatalog(str(inputs)).input_versions([RILEY_2011_270M]) != read


def test_plain_zarr_and_missing_inputs(inputs: Path) -> None:
    scott = inputs / SCOTT_STORE
    shutil.rmtree(scott)
    catalog = InputCatalog(str(inputs))
    with pytest.raises(FileNotFoundError, match=r"processed-30m-4326\.icechunk"):
        catalog.input_versions([SCOTT_STORE])
    scott.mkdir()
    xr.Dataset({"CRPS": ("x", np.zeros(3, dtype=np.float32))}).to_zarr(scott)
    before = catalog.input_versions([SCOTT_STORE])[SCOTT_STORE]
    assert before.startswith("sha256:")
    xr.Dataset({"CRPS": ("x", np.ones(4, dtype=np.float32))}).to_zarr(scott, mode="w")
    assert catalog.input_versions([SCOTT_STORE])[SCOTT_STORE] != before


@pytest.mark.integration
def test_dagster_marks_regions_of_a_changed_input_stale(inputs: Path, tmp_path: Path) -> None:
    """The inputs as observable source assets: a new identity makes the region stale."""
    instance = dg.DagsterInstance.ephemeral()
    resources = pipeline_resources(inputs, tmp_path / "outputs")
    rasters = dg.AssetKey("region_risk_rasters")
    asset_graph = dg.Definitions(assets=GRAPH, resources=resources).resolve_asset_graph()

    def status() -> tuple[StaleStatus, list[str]]:
        resolver = CachingStaleStatusResolver(
            instance, asset_graph, LoadingContextForTest(instance)
        )
        causes = resolver.get_stale_causes(rasters, "y0_x1")
        return resolver.get_status(rasters, "y0_x1"), [
            cause.dependency.asset_key.to_user_string() for cause in causes
        ]

    observe(list(REGION_INPUT_ASSETS), instance=instance, resources=resources)
    versions = InputCatalog(str(inputs)).input_versions(REGION_INPUT_NAMES)
    observed = {
        key: instance.get_latest_data_version_record(key).asset_observation.data_version
        for key in (asset.key for asset in REGION_INPUT_ASSETS)
    }
    assert sorted(observed.values()) == sorted(versions.values())
    assert materialize(
        GRAPH, resources, partition_key="y0_x1", selection=PHASE01, instance=instance
    ).success
    assert status() == (StaleStatus.FRESH, [])

    set_bp(inputs, np.nan)
    observe(list(REGION_INPUT_ASSETS), instance=instance, resources=resources)
    assert status() == (StaleStatus.STALE, [input_key(RILEY_2011_270M)])


@pytest.mark.integration
def test_deploy_recomputes_regions_of_changed_inputs_without_force(
    inputs: Path, tmp_path: Path
) -> None:
    """The issue's deployment: NaN input, then restored; no OCR_FORCE anywhere."""
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(inputs),
        regions="y0_x1",
        create_pyramid=False,
        write_regional_stats=False,
    )
    layout = Layout(settings.storage_root, "local")
    instance = persistent_instance(tmp_path)

    def deploy() -> dg.ExecuteInProcessResult:
        return run_deploy(instance, settings, raise_on_error=False)

    assert deploy().success
    store = RasterStore(layout.raster_store)
    published = main_snapshot(store)
    consolidated = Path(layout.consolidated_buildings).read_bytes()
    assert pq.read_metadata(layout.consolidated_buildings).num_rows > 0

    original = set_bp(inputs, np.nan)
    assert not deploy().success
    assert main_snapshot(store) == published
    assert Path(layout.consolidated_buildings).read_bytes() == consolidated
    # The deployment record says so, naming the region and why (verify reports it).
    record = json.loads(Path(layout.deployment_record).read_text())
    assert record["status"] == "failed"
    assert "y0_x1" in record["error"] and "nan_only_where_explained" in record["error"]

    set_bp(inputs, original)
    assert deploy().success
    assert partitions_materialized(instance, "region_risk_rasters") == {"y0_x1": 2}
    assert current_regions(store, InputCatalog(str(inputs))) == {"y0_x1"}
    assert (
        pq.read_metadata(layout.consolidated_buildings).num_rows
        == pq.read_metadata(io.BytesIO(consolidated)).num_rows
    )
