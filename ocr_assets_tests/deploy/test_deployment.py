"""The ``deploy`` job on local storage, and ``ocr-assets verify`` reading its outputs back.

One scenario per test on the tiny synthetic inputs (two regions): deploy, verify, delete an
output, verify names it; redeploy skips regions already in the raster store (and ``OCR_FORCE``
reprocesses them); a production deployment asks Coiled for the seed's sizes (recorded by the fake
factory, run locally), tags the raster store with its version, which reads back after a newer
version; wiping production is refused before anything runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from ocr_assets.cli import main
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.deploy.job import PARENT_RUN_TAG
from ocr_assets.orchestration.resources import ComputeResource
from ocr_assets.storage import Layout, RasterStore
from ocr_assets_tests.helpers import (
    check_results,
    partitions_materialized,
    persistent_instance,
    run_deploy,
)
from ocr_assets_tests.orchestration import compute_fakes

pytestmark = pytest.mark.integration

REGIONS = "y0_x1, y1_x1"
REGION_CHECKS = (
    "bp_in_unit_interval",
    "rps_crps_in_percent_range",
    "grid_matches_region",
    "nan_only_where_explained",
)
#: No optional branch.
ROLLUPS_ONLY = {"create_pyramid": False, "write_regional_stats": False}


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No deployment variable set in the process environment."""
    return clean_env


def local(synthetic_root: Path, root: Path, regions: str, **changes: object) -> Settings:
    """The local environment's settings over the tiny inputs, deploying ``regions``."""
    return Settings(
        storage_root=str(root),
        input_root=str(synthetic_root),
        regions=regions,
        **{**ROLLUPS_ONLY, **changes},
    )


def verify(*args: str) -> int:
    return main(["verify", *args])


def test_deploy_then_verify_catches_a_deleted_output(
    env: pytest.MonkeyPatch,
    synthetic_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "data"
    settings = local(synthetic_root, root, REGIONS, create_pyramid=True, write_regional_stats=True)
    instance = persistent_instance(tmp_path)
    # Both regions at once: two child runs in threads on the SQLite instance.
    concurrent = {"ops": {"process_regions": {"config": {"max_concurrent_regions": 2}}}}
    result = run_deploy(instance, settings, run_config=concurrent)
    assert result.success
    for key in ("region_risk_rasters", "region_buildings", "region_tile_features"):
        assert partitions_materialized(instance, key) == {"y0_x1": 1, "y1_x1": 1}, key
    for key in ("buildings_geoparquet", "region_analysis_files", "risk_pyramid"):
        assert partitions_materialized(instance, key) == {None: 1}, key
    # Every region check was evaluated and recorded for each region it gated.
    for check in REGION_CHECKS:
        assert check_results(instance, "region_risk_rasters", check) == {
            "y0_x1": True,
            "y1_x1": True,
        }, check
    # The regions and the roll-ups ran as child runs of the deploy run.
    children = instance.get_runs(dg.RunsFilter(tags={PARENT_RUN_TAG: result.run_id}))
    assert sorted(run.job_name for run in children) == ["regions", "regions", "rollups", "wind"]

    env.setenv("OCR_CREATE_PYRAMID", "true")
    env.setenv("OCR_WRITE_REGIONAL_STATS", "true")
    args = ["--environment", "local", "--storage-root", str(root)]
    assert verify(*args) == 0
    assert "every output is present and fresh" in capsys.readouterr().out

    layout = Layout(str(root), "local")
    Path(layout.building_pmtiles).unlink()
    shutil.rmtree(layout.region_analysis("tracts"))
    assert verify(*args) == 1
    report = capsys.readouterr().err
    assert f"building_pmtiles: missing ({layout.building_pmtiles})" in report
    assert "region_analysis_files[tracts]: missing" in report
    assert "region_buildings" not in report

    # Anything written before the given run start is stale.
    assert verify(*args, "--since", "2999-01-01T00:00:00") == 1
    assert "region_risk_rasters[y0_x1]: commit older than the run" in capsys.readouterr().err


def test_redeploy_skips_committed_regions_unless_forced(
    env: pytest.MonkeyPatch, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    instance = persistent_instance(tmp_path)
    assert run_deploy(instance, local(synthetic_root, root, "y0_x1")).success
    # A new runner (fresh instance): the raster store says y0_x1 is done.
    fresh = persistent_instance(tmp_path / "second")
    settings = local(synthetic_root, root, REGIONS)
    assert run_deploy(fresh, settings).success
    assert partitions_materialized(fresh, "region_risk_rasters") == {"y1_x1": 1}
    assert partitions_materialized(fresh, "regional_pmtiles") == {None: 1}
    assert run_deploy(fresh, settings.with_changes(force=True)).success
    assert partitions_materialized(fresh, "region_risk_rasters") == {"y0_x1": 1, "y1_x1": 2}

    # A wipe deletes the environment's outputs first: y1_x1 is gone, y0_x1 computed again.
    assert run_deploy(fresh, local(synthetic_root, root, "y0_x1", wipe=True)).success
    assert partitions_materialized(fresh, "region_risk_rasters") == {"y0_x1": 2, "y1_x1": 2}
    layout = Layout(settings.storage_root, "local")
    assert not Path(layout.region_buildings("y1_x1")).exists()
    assert set(RasterStore(layout.raster_store).committed_regions()) == {"y0_x1"}


def test_production_deploy_uses_coiled_sizes_and_tags_its_version(
    env: pytest.MonkeyPatch, synthetic_root: Path, tmp_path: Path
) -> None:
    root = str(tmp_path / "data")
    compute_fakes.CALLS.clear()
    compute = ComputeResource(environment="production", cluster_factory=compute_fakes.FACTORY_PATH)
    for version, regions in (("1.0.0", "y0_x1"), ("1.1.0", REGIONS)):
        settings = Settings(
            environment="production",
            storage_root=root,
            input_root=str(synthetic_root),
            version=version,
            regions=regions,
        )
        instance = persistent_instance(tmp_path / version)
        result = run_deploy(instance, settings, compute=compute)
        assert result.success
    # The region runs share the region cluster, as many at a time as it has workers.
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(
        "2 region(s) to process, 2 at a time on region cluster" in message
        and "(20 workers)" in message
        for message in logs
    ), logs
    # Each version's deployment computes its wind distribution, then its regions, then each
    # roll-up, on a cluster of its own: one region cluster for all of the deployment's region runs.
    assets = [call["tags"]["Asset"] for call in compute_fakes.CALLS]
    rollups = {
        "buildings_geoparquet",
        "region_summary_stats",
        "regional_pmtiles",
        "building_pmtiles",
        "building_centroid_pmtiles",
    }
    # The summary statistics' checks read them on a cluster of the same size.
    per_deployment = 2 + len(rollups) + 1
    assert len(assets) == 2 * per_deployment
    for deployment in (assets[:per_deployment], assets[per_deployment:]):
        assert deployment[:2] == ["wind_direction_distribution", "region_risk_rasters"]
        assert sorted(deployment[2:]) == sorted([*rollups, "region_summary_stats"])
    first = compute_fakes.CALLS[1]
    assert first["worker_vm_types"] == ["m8g.2xlarge"] and first["n_workers"] == 20
    assert first["tags"]["Environment"] == "production"

    # Rollback: every version stays readable at its own path and tag.
    old = RasterStore(Layout(root, "production", "1.0.0").raster_store)
    new = RasterStore(Layout(root, "production", "1.1.0").raster_store)
    assert old.tags() == {"v1.0.0"} and new.tags() == {"v1.1.0"}
    assert set(old.committed_regions(tag="v1.0.0")) == {"y0_x1"}
    assert set(new.committed_regions(tag="v1.1.0")) == {"y0_x1", "y1_x1"}
    assert float(old.open(tag="v1.0.0")["rps_2011"].notnull().sum()) > 0
    # verify checks the regions of the deployment record.
    assert verify("--environment", "production", "--version", "1.0.0", "--storage-root", root) == 0

    # A published version is immutable: adding a region to it is refused before any compute.
    settings = Settings(
        environment="production",
        storage_root=root,
        input_root=str(synthetic_root),
        version="1.0.0",
        regions=REGIONS,
    )
    result = run_deploy(
        persistent_instance(tmp_path / "again"), settings, raise_on_error=False, compute=compute
    )
    assert not result.success
    failure = result.failure_data_for_node("prepare_deployment")
    assert failure is not None
    assert "version 1.0.0 is already published (raster store tag v1.0.0)" in str(
        failure.error.message
    )


def test_production_wipe_is_refused_before_anything_runs(
    env: pytest.MonkeyPatch, synthetic_root: Path, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="OCR_WIPE=true refused"):
        Settings(
            environment="production",
            storage_root=str(tmp_path / "data"),
            input_root=str(synthetic_root),
            version="2.0.0",
            regions=REGIONS,
            wipe=True,
        )
    env.setenv("OCR_ENVIRONMENT", "production")
    env.setenv("OCR_STORAGE_ROOT", str(tmp_path / "data"))
    env.setenv("OCR_VERSION", "2.0.0")
    env.setenv("OCR_WIPE", "true")
    with pytest.raises(SettingsError, match="OCR_WIPE=true refused"):
        Settings.from_env()
    assert not (tmp_path / "data").exists()


def test_qa_selection_outside_the_demo_grid_fails_in_prepare_naming_it(
    env: pytest.MonkeyPatch, synthetic_root: Path, tmp_path: Path
) -> None:
    # Loading the code location reads nothing, so a bad selection surfaces in the run.
    settings = Settings(
        environment="qa",
        storage_root=str(tmp_path / "data"),
        input_root=str(synthetic_root),
        regions="qa",
    )
    result = run_deploy(dg.DagsterInstance.ephemeral(), settings, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("prepare_deployment")
    assert failure is not None and "OCR_REGIONS" in str(failure.user_failure_data.description)
    assert not (tmp_path / "data").exists()


def test_a_subset_rerun_keeps_every_partition_and_no_rollup_shrinks_unless_forced(
    env: pytest.MonkeyPatch, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    instance = persistent_instance(tmp_path)
    layout = Layout(str(root), "local")
    assert run_deploy(instance, local(synthetic_root, root, REGIONS, create_pyramid=True)).success

    # Redo one region (forced): the UI keeps both partitions, listed sorted, and every roll-up,
    # the pyramid included, is still built from both regions.
    one = local(synthetic_root, root, "y1_x1", create_pyramid=True, force=True)
    assert run_deploy(instance, one).success
    assert instance.get_dynamic_partitions("regions") == ["y0_x1", "y1_x1"]
    pyramid = instance.fetch_materializations(dg.AssetKey("risk_pyramid"), limit=1).records[0]
    assert pyramid.asset_materialization.metadata["built_from_regions"].value == [
        "y0_x1",
        "y1_x1",
    ]
    record = json.loads(Path(layout.rollup_record("risk_pyramid")).read_text())
    assert record["regions"] == ["y0_x1", "y1_x1"]

    # The raster store lost y0_x1 (deleted, rebuilt from a selection): no roll-up is published
    # from the one region left; the failure names the region and OCR_FORCE.
    shutil.rmtree(layout.raster_store)
    pyramid_before = Path(layout.risk_pyramid).stat().st_mtime_ns
    subset = local(synthetic_root, root, "y1_x1", create_pyramid=True)
    result = run_deploy(instance, subset, raise_on_error=False)
    assert not result.success
    error = json.loads(Path(layout.deployment_record).read_text())["error"]
    assert "y0_x1" in error and "OCR_FORCE" in error, error
    assert Path(layout.risk_pyramid).stat().st_mtime_ns == pyramid_before
    assert json.loads(Path(layout.rollup_record("risk_pyramid")).read_text()) == record

    # Forced, the roll-ups are published from the region there is, and say so.
    assert run_deploy(instance, subset.with_changes(force=True)).success
    for asset in ("risk_pyramid", "buildings_geoparquet", "building_pmtiles"):
        assert json.loads(Path(layout.rollup_record(asset)).read_text())["regions"] == ["y1_x1"]
