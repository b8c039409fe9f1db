"""Settings, resources and the code location: what loads, what is validated, what is named."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

import ocr_assets
from ocr_assets.catalog import InputCatalog
from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.orchestration.assets.inputs import REGION_INPUT_ASSETS, ROW_INPUT_ASSETS
from ocr_assets.orchestration.jobs import (
    PHASE01_JOB,
    PHASE02_JOB,
    PHASE02_REGIONS_JOB,
    PHASE03_JOB,
    PHASE03_REGIONS_JOB,
    REGIONS_JOB,
    ROLLUPS_JOB,
    WIND_JOB,
)
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets_tests.helpers import region_instance

PHASE01_KEYS = {dg.AssetKey("region_risk_rasters"), dg.AssetKey("region_buildings")}
ASSET_KEYS = (
    PHASE01_KEYS
    | {dg.AssetKey("wind_direction_distribution")}
    | {
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
)
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
        ({"OCR_STORAGE_ROOT": "  "}, "OCR_STORAGE_ROOT is set but empty"),
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
    assert storage.layout.raster_store.endswith("tensor/production/v1.2.3-rc.1/ocr.icechunk")
    assert storage.dataset_attrs["version"] == "1.2.3-rc.1"
    assert storage.dataset_attrs["license"] == "CC-BY-4.0"


def test_storage_resource_validates_its_config() -> None:
    with pytest.raises(Exception, match="OCR_ENVIRONMENT='dev'"):
        OutputStorage(root="/tmp/x", environment="dev")


# -------------------------------------------------------------------------------- definitions
def test_definitions_for_inputs(synthetic_root: Path, tmp_path: Path) -> None:
    defs = build_definitions(Settings(storage_root=str(tmp_path), input_root=str(synthetic_root)))
    graph = defs.resolve_asset_graph()
    sources = [*REGION_INPUT_ASSETS, *ROW_INPUT_ASSETS.values()]
    assert graph.get_all_asset_keys() == ASSET_KEYS | {asset.key for asset in sources}
    rasters = defs.resolve_assets_def("region_risk_rasters")
    partitions = rasters.partitions_def
    assert partitions == REGION_PARTITIONS == dg.DynamicPartitionsDefinition(name="regions")
    assert defs.resolve_assets_def("region_buildings").partitions_def == partitions
    assert defs.resolve_assets_def("wind_direction_distribution").partitions_def is None
    for name in JOBS:
        policy = defs.resolve_job_def(name).op_retry_policy
        assert (policy.max_retries, policy.delay, policy.backoff) == (2, 5, dg.Backoff.LINEAR)
    # The environment's retries, as `ocr-assets plan` shows them (production: 3).
    production = build_definitions(
        Settings(
            environment="production",
            version="1.0.0",
            storage_root=str(tmp_path),
            input_root=str(synthetic_root),
        )
    )
    assert production.resolve_job_def(REGIONS_JOB).op_retry_policy.max_retries == 3
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == CHECK_NAMES
    assert all(graph.get_check_spec(key).blocking for key in graph.asset_check_keys)
    region_checks = {key for key in graph.asset_check_keys if key.asset_key == rasters.key}
    assert {graph.get_check_spec(key).partitions_def for key in region_checks} == {partitions}
    # A job runs one partitions definition: the wind distribution has its own job.
    assert defs.resolve_job_def(WIND_JOB).asset_layer.selected_asset_keys == {
        dg.AssetKey("wind_direction_distribution")
    }
    assert defs.resolve_job_def(PHASE01_JOB).asset_layer.selected_asset_keys == PHASE01_KEYS
    assert {job.name for job in defs.resolve_all_job_defs()} >= {*JOBS, "deploy"}
    assert "all_assets" not in {job.name for job in defs.resolve_all_job_defs()}


def test_loading_reads_no_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input catalog was used while loading the code location")

    monkeypatch.setattr(InputCatalog, "__init__", no_io)
    for root in ("s3://carbonplan-ocr", "s3://carbonplan-ocr-copy/input", "/nothing/here"):
        settings = Settings(
            environment="qa", storage_root=str(tmp_path), input_root=root, regions="qa"
        )
        defs = build_definitions(settings)
        # One region partitions definition whatever the inputs: a deployment adds its regions.
        assert defs.resolve_assets_def("region_buildings").partitions_def == REGION_PARTITIONS


#: Every asset job; the partitioned ones run one region per run.
JOBS = {
    WIND_JOB: False,
    PHASE01_JOB: True,
    PHASE02_REGIONS_JOB: True,
    PHASE02_JOB: False,
    PHASE03_REGIONS_JOB: True,
    PHASE03_JOB: False,
    REGIONS_JOB: True,
    ROLLUPS_JOB: False,
}


@pytest.mark.integration
def test_every_job_runs_in_process(synthetic_root: Path, tmp_path: Path) -> None:
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(synthetic_root),
        create_pyramid=False,
    )
    defs = build_definitions(settings)
    with region_instance(["y0_x1"]) as instance:
        for name, partitioned in JOBS.items():
            job = defs.resolve_job_def(name)
            assert (job.partitions_def is not None) == partitioned, name
            key = "y0_x1" if partitioned else None
            assert job.execute_in_process(instance=instance, partition_key=key).success, name
        # The region checks were recorded for the region's partition.
        check = dg.AssetCheckKey(dg.AssetKey("region_risk_rasters"), "bp_in_unit_interval")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[check]
        evaluation = record.event.dagster_event.event_specific_data
        assert evaluation.passed and evaluation.partition == "y0_x1"


def _dagster(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(dagster), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.integration
def test_jobs_run_from_the_command_line(synthetic_root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        instance.add_dynamic_partitions(REGION_PARTITIONS.name, ["y1_x1"])
    env = {
        "DAGSTER_HOME": str(home),
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(tmp_path / "data"),
    }
    module = ("-m", "ocr_assets.definitions")
    wind = _dagster("job", "execute", *module, "-j", WIND_JOB, env=env)
    assert wind.returncode == 0, wind.stdout + wind.stderr
    tags = '{"dagster/partition": "y1_x1"}'
    region = _dagster("job", "execute", *module, "-j", PHASE01_JOB, "--tags", tags, env=env)
    assert region.returncode == 0, region.stdout + region.stderr
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        materialized = instance.get_materialized_partitions(dg.AssetKey("region_buildings"))
    assert materialized == {"y1_x1"}


def test_package_exports_defs_lazily() -> None:
    assert "defs" in dir(ocr_assets)
    assert isinstance(ocr_assets.defs, dg.Definitions)


def _validate(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _dagster("definitions", "validate", "-m", module, env=env)


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


@pytest.mark.integration
def test_definitions_validate_without_reaching_the_inputs(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "OCR_INPUT_ROOT": "s3://unreachable-inputs/input",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "OCR_STORAGE_ROOT": str(tmp_path),
    }
    started = time.perf_counter()
    result = _validate("ocr_assets.definitions", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.perf_counter() - started < 60  # the CLI's own start-up; no 15 s time-outs


@pytest.mark.integration
def test_settings_reach_the_resources_as_env_vars(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roots and environment are EnvVars read when a run starts, validated by the resource."""
    environ = {
        "OCR_ENVIRONMENT": "local",
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(tmp_path / "out"),
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(Settings.from_env())
    resources = defs.resources
    for key, field, variable in (
        ("catalog", "root", "OCR_INPUT_ROOT"),
        ("storage", "root", "OCR_STORAGE_ROOT"),
        ("storage", "environment", "OCR_ENVIRONMENT"),
        ("compute", "environment", "OCR_ENVIRONMENT"),
    ):
        value = getattr(resources[key], field)
        assert isinstance(value, dg.EnvVar) and value.env_var_name == variable, (key, field)
    assert resources["storage"].version is None  # unset: a plain value

    # A relative path is made absolute once, at load, and passed as that value.
    monkeypatch.setenv("OCR_STORAGE_ROOT", "relative/out")
    root = build_definitions(Settings.from_env()).resources["storage"]
    assert not isinstance(root.root, dg.EnvVar) and Path(root.root).is_absolute()

    # A run reads the variables when it starts: the wind job writes where they point now.
    monkeypatch.setenv("OCR_STORAGE_ROOT", environ["OCR_STORAGE_ROOT"])
    moved = tmp_path / "moved"
    monkeypatch.setenv("OCR_STORAGE_ROOT", str(moved))
    assert defs.resolve_job_def(WIND_JOB).execute_in_process().success
    assert Path(OutputStorage(root=str(moved)).layout.wind_distribution).is_dir()
    assert not (tmp_path / "out").exists()
    # ... and the resource validates them then, naming the variable.
    monkeypatch.setenv("OCR_STORAGE_ROOT", "ftp://elsewhere")
    with pytest.raises(dg.DagsterResourceFunctionError) as raised:
        defs.resolve_job_def(WIND_JOB).execute_in_process()
    assert "OCR_STORAGE_ROOT='ftp://elsewhere'" in str(raised.value.__cause__)
