"""Settings, resources and the code location: what loads, what is validated, what is named."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

import ocr_assets
from ocr_assets.assets.inputs import REGION_INPUT_ASSETS
from ocr_assets.catalog import InputCatalog
from ocr_assets.data import demo_valid_region_ids, published_valid_region_ids
from ocr_assets.definitions import ALL_ASSETS_JOB, PHASE01_JOB, build_definitions
from ocr_assets.partitions import region_partitions, valid_region_ids
from ocr_assets.regions import CONUS_GRID, demo_grid
from ocr_assets.resources import OutputStorage
from ocr_assets.settings import Settings, SettingsError

PHASE01_KEYS = {
    dg.AssetKey("wind_direction_distribution"),
    dg.AssetKey("region_risk_rasters"),
    dg.AssetKey("region_buildings"),
}
ASSET_KEYS = PHASE01_KEYS | {
    dg.AssetKey(name)
    for name in (
        "region_statistics_partials",
        "buildings_geoparquet",
        "region_summary_stats",
        "region_analysis_files",
        "regional_pmtiles",
        "risk_pyramid",
        "region_tile_features",
        "building_pmtiles",
        "building_centroid_pmtiles",
    )
}
CHECK_NAMES = {
    "bp_in_unit_interval",
    "rps_crps_in_percent_range",
    "grid_matches_region",
    "nan_only_where_explained",
    "histograms_sum_to_building_count",
    "means_within_variable_ranges",
    "every_building_in_one_county",
}


# ------------------------------------------------------------------------------------- settings
def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.environment == "local"
    assert settings.storage_root == str(tmp_path / "data")
    assert settings.input_root == str(tmp_path / "data" / "input")
    assert settings.version is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OCR_ENVIRONMENT": "prod"}, "OCR_ENVIRONMENT='prod' is not a known environment"),
        ({"OCR_VERSION": "v1.2.3"}, "OCR_VERSION='v1.2.3' is not a semantic version"),
        ({"OCR_VERSION": "1.2"}, "OCR_VERSION='1.2' is not a semantic version"),
        (
            {"OCR_STORAGE_ROOT": "gs://bucket/x"},
            "OCR_STORAGE_ROOT='gs://bucket/x' is not a supported",
        ),
        ({"OCR_INPUT_ROOT": "s3://B/x"}, "OCR_INPUT_ROOT='s3://B/x' is not a supported"),
        ({"OCR_STORAGE_ROOT": "  "}, "OCR_STORAGE_ROOT is empty"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


def test_valid_settings() -> None:
    settings = Settings.from_env(
        {
            "OCR_ENVIRONMENT": "production",
            "OCR_STORAGE_ROOT": "s3://carbonplan-ocr/output/",
            "OCR_VERSION": "1.2.3-rc.1",
            "AWS_PROFILE": "ocr-deploy",
        }
    )
    assert settings.storage_root == "s3://carbonplan-ocr/output"
    storage = OutputStorage.from_settings(settings)
    assert storage.paths.raster_store.endswith("tensor/production/v1.2.3-rc.1/ocr.icechunk")
    assert storage.dataset_attrs["version"] == "1.2.3-rc.1"
    assert storage.dataset_attrs["license"] == "CC-BY-4.0"


def test_storage_resource_validates_its_config() -> None:
    with pytest.raises(Exception, match="OCR_ENVIRONMENT='dev'"):
        OutputStorage(root="/tmp/x", environment="dev")


# -------------------------------------------------------------------------------- definitions
def test_definitions_for_inputs(synthetic_root: Path, tmp_path: Path) -> None:
    defs = build_definitions(Settings(storage_root=str(tmp_path), input_root=str(synthetic_root)))
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == ASSET_KEYS | {asset.key for asset in REGION_INPUT_ASSETS}
    rasters = defs.resolve_assets_def("region_risk_rasters")
    partitions = rasters.partitions_def
    assert isinstance(partitions, dg.StaticPartitionsDefinition)
    assert partitions.get_partition_keys() == ["y0_x1", "y0_x2", "y1_x0", "y1_x1", "y1_x2"]
    assert defs.resolve_assets_def("region_buildings").partitions_def == partitions
    assert defs.resolve_assets_def("wind_direction_distribution").partitions_def is None
    for key in ("region_risk_rasters", "region_buildings"):
        policy = defs.resolve_assets_def(key).op.retry_policy
        assert (policy.max_retries, policy.delay, policy.backoff) == (2, 5, dg.Backoff.LINEAR)
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == CHECK_NAMES
    assert all(graph.get_check_spec(key).blocking for key in graph.asset_check_keys)
    assert {job.name for job in defs.resolve_all_job_defs()} >= {PHASE01_JOB, ALL_ASSETS_JOB}
    phase01 = defs.resolve_job_def(PHASE01_JOB)
    assert phase01.asset_layer.selected_asset_keys == PHASE01_KEYS


def test_partitions_fall_back_to_the_demo_grid_without_inputs(tmp_path: Path) -> None:
    grid, region_ids = valid_region_ids(str(tmp_path / "nothing-here"))
    assert grid == demo_grid()
    assert region_ids == demo_valid_region_ids()[1]
    assert set(region_ids) < set(grid.all_region_ids())


def test_published_inputs_give_partitions_without_reading_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input catalog was used while loading the code location")

    monkeypatch.setattr(InputCatalog, "__init__", no_io)
    for root in ("s3://carbonplan-ocr", "s3://carbonplan-ocr/", "s3://carbonplan-ocr/input"):
        grid, region_ids = valid_region_ids(root)
        assert grid is CONUS_GRID and region_ids == published_valid_region_ids()
    staging = region_partitions("s3://carbonplan-ocr", "staging").get_partition_keys()
    assert len(staging) == 47 and staging[0] == "y5_x7"  # grid order, south-west first
    assert region_partitions("s3://carbonplan-ocr", "qa").get_partition_keys() == [
        "y14_x5", "y14_x6", "y14_x7",
    ]  # fmt: skip
    # Another bucket is not the published inputs: the catalog is asked.
    with pytest.raises(AssertionError, match="input catalog was used"):
        valid_region_ids("s3://carbonplan-ocr-copy/input")


def test_package_exports_defs_lazily() -> None:
    assert "defs" in dir(ocr_assets)
    assert isinstance(ocr_assets.defs, dg.Definitions)


def _validate(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(dagster), "definitions", "validate", "-m", module],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.integration
def test_dagster_definitions_validate(synthetic_root: Path, tmp_path: Path) -> None:
    env = {"OCR_INPUT_ROOT": str(synthetic_root), "OCR_STORAGE_ROOT": str(tmp_path)}
    result = _validate("ocr_assets.definitions", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


@pytest.mark.integration
def test_dagster_definitions_validate_names_a_bad_setting(tmp_path: Path) -> None:
    result = _validate("ocr_assets", {"OCR_ENVIRONMENT": "prod", "OCR_INPUT_ROOT": str(tmp_path)})
    assert result.returncode != 0
    assert "OCR_ENVIRONMENT='prod' is not a known environment" in result.stdout + result.stderr
