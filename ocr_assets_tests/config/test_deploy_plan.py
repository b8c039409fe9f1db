"""Deployment plans for the four environments (from their settings) and ``ocr-assets plan``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_assets.cli import main
from ocr_assets.config.compute import SIZES
from ocr_assets.config.environments import STAGING_REGIONS
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.plan import build_plan, input_regions
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import RegionGrid, demo_grid
from ocr_assets.storage.layout import ASSET_KEYS, PARTITIONED_ASSETS, Layout
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS
from ocr_assets_tests.helpers import REPO_ROOT

ROOT = "s3://carbonplan-ocr"


def settings(environment: str, **extra: str) -> Settings:
    """The settings of ``environment`` (on the published bucket outside ``local``), with
    ``extra`` variables."""
    base = {"OCR_ENVIRONMENT": environment}
    if environment != "local":
        base["OCR_STORAGE_ROOT"] = ROOT
    return Settings.from_variables({**base, **extra})


def test_the_plan_and_the_storage_use_the_settings_layout() -> None:
    """One source of paths: the plan and the storage resource use the storage ``Layout``."""
    from ocr_assets.orchestration.resources import OutputStorage

    production = settings("production", OCR_VERSION="1.2.3")
    assert production.layout == Layout(ROOT, "production", "1.2.3")
    plan = build_plan(production)
    assert plan.layout == production.layout
    for key, asset in plan.assets.items():
        assert asset.uris == tuple(production.layout.outputs(key).values()), key
    storage = OutputStorage.from_settings(production)
    assert storage.layout == production.layout
    assert storage.raster_store().location == production.layout.raster_store


def test_local_plan(tmp_path: Path) -> None:
    plan = build_plan(settings("local", OCR_STORAGE_ROOT=str(tmp_path)))
    assert plan.regions == tuple(demo_grid().all_region_ids())
    assert plan.storage_root == str(tmp_path)
    assert (plan.version, plan.wipe, plan.retries, plan.url) == (None, False, 2, None)
    assert list(plan.assets) == list(ASSET_KEYS)
    assert {a.compute.backend for a in plan.assets.values()} == {"local"}
    raster = plan.assets["region_risk_rasters"].uris
    assert raster == (str(tmp_path / "output/fire-risk/tensor/local/ocr.icechunk"),)


def test_qa_plan() -> None:
    plan = build_plan(settings("qa", OCR_WIPE="true", COILED_SOFTWARE_ENV_NAME="ocr-pr-42"))
    assert plan.regions == ("y14_x5", "y14_x6", "y14_x7")
    assert plan.wipe is True
    assert plan.software_env == "ocr-pr-42"
    assert plan.assets["region_buildings"].uris == (
        f"{ROOT}/intermediate/fire-risk/vector/qa/geoparquet-regions/{{region_id}}.parquet",
    )


def test_staging_plan_is_the_published_staging_set() -> None:
    plan = build_plan(settings("staging"))
    assert len(plan.regions) == 47 and set(plan.regions) == set(STAGING_REGIONS)
    assert plan.retries == 2
    assert plan.url == "https://ocr.staging.carbonplan.org"


def test_plan_on_the_published_inputs_selects_among_their_valid_regions() -> None:
    published = {"OCR_INPUT_ROOT": "s3://carbonplan-ocr"}
    plan = build_plan(settings("production", OCR_VERSION="1.2.3", **published))
    assert plan.regions == tuple(published_valid_region_ids()) and len(plan.regions) == 405
    with pytest.raises(DeploymentError, match=r"1 region\(s\) hold no input data: y2_x5"):
        build_plan(settings("qa", OCR_REGIONS="y2_x5 y14_x5", **published))


def test_production_plan_is_versioned_and_never_wipes() -> None:
    plan = build_plan(settings("production", OCR_VERSION="1.2.3"))
    assert len(plan.regions) == 17 * 47  # inputs unknown: every region of the grid
    for asset in plan.assets.values():
        for uri in asset.uris:
            assert "/production/v1.2.3/" in uri, uri
    with pytest.raises(DeploymentError, match="OCR_WIPE=true refused"):
        build_plan(settings("production", OCR_VERSION="1.2.3", OCR_WIPE="true"))
    with pytest.raises(DeploymentError, match="OCR_VERSION is required in production"):
        build_plan(settings("production"))


def test_plan_json_shape_and_compute_sizes() -> None:
    plan = build_plan(settings("staging")).to_dict()
    assert json.loads(json.dumps(plan)) == plan
    for key in ("environment", "version", "storage_root", "regions", "wipe", "retries", "assets"):
        assert key in plan
    # Optional branches are off by default outside local.
    assert plan["branches"] == {"risk_pyramid": False, "region_analysis_files": False}
    assert list(plan["assets"]) == [
        key for key in ASSET_KEYS if key not in ("risk_pyramid", "region_analysis_files")
    ]
    for key, asset in plan["assets"].items():
        assert set(asset) == {"uris", "partitioned", "compute"}
        assert asset["partitioned"] is (key in PARTITIONED_ASSETS)
        compute = asset["compute"]
        size = SIZES[key]
        assert compute["backend"] == "coiled"
        assert compute["vm_type"] == size.vm_type
        assert compute["scheduler_vm_type"] == size.scheduler_vm_type
        assert compute["disk_size_gb"] == size.disk_size_gb
    assert plan["assets"]["regional_pmtiles"]["compute"]["disk_size_gb"] == 250


def test_optional_branches_follow_the_flags() -> None:
    assert build_plan(settings("local", OCR_STORAGE_ROOT="/x")).branches == {
        "risk_pyramid": True,
        "region_analysis_files": True,
    }
    plan = build_plan(settings("qa", OCR_CREATE_PYRAMID="true", OCR_WRITE_REGIONAL_STATS=""))
    assert plan.branches == {"risk_pyramid": True, "region_analysis_files": False}
    assert "risk_pyramid" in plan.assets and "region_analysis_files" not in plan.assets
    local = build_plan(settings("local", OCR_STORAGE_ROOT="/x", OCR_WRITE_REGIONAL_STATS="0"))
    assert "region_analysis_files" not in local.assets
    with pytest.raises(DeploymentError, match="OCR_CREATE_PYRAMID='sometimes'"):
        build_plan(settings("qa", OCR_CREATE_PYRAMID="sometimes"))


def test_ocr_compute_local_plans_local_clusters() -> None:
    plan = build_plan(settings("staging", OCR_COMPUTE="local")).to_dict()
    for asset in plan["assets"].values():
        assert asset["compute"]["backend"] == "local"
        assert asset["compute"]["vm_type"] is None


def test_plan_errors_name_the_setting() -> None:
    with pytest.raises(DeploymentError, match="OCR_STORAGE_ROOT is required in qa"):
        build_plan(Settings.from_variables({"OCR_ENVIRONMENT": "qa"}))
    with pytest.raises(SettingsError, match=r"^OCR_REGIONS: 1 region ID.*y20_x1"):
        build_plan(settings("qa", OCR_REGIONS="y14_x5 y20_x1"))
    with pytest.raises(DeploymentError, match="OCR_ENVIRONMENT='dev'"):
        build_plan(Settings.from_variables({"OCR_ENVIRONMENT": "dev"}))
    # A selection given as an option is named as the option.
    as_option = Settings.from_variables(
        {"OCR_ENVIRONMENT": "qa", "OCR_STORAGE_ROOT": ROOT, "OCR_REGIONS": "y14_x5 y20_x1"},
        names={"OCR_REGIONS": "--regions"},
    )
    with pytest.raises(SettingsError, match=r"^--regions: 1 region ID.*y20_x1"):
        build_plan(as_option)


def test_plan_with_known_grid_and_regions(tiny_grid: RegionGrid) -> None:
    plan = build_plan(
        settings("local", OCR_STORAGE_ROOT="/tmp/x"),
        grid=tiny_grid,
        available_regions=["y1_x2", "y0_x1"],
    )
    assert plan.regions == ("y0_x1", "y1_x2")


# ---------------------------------------------------------------------------- the command
@pytest.mark.parametrize("environment", ["local", "qa", "staging", "production"])
def test_cli_json_for_every_environment(
    environment: str, in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "--environment", environment, "--json"]
    if environment == "production":
        argv += ["--version", "2.0.1"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["environment"] == environment
    assert set(plan["assets"]) <= set(ASSET_KEYS)
    if environment == "production":
        assert plan["version"] == "2.0.1"
        assert "/production/v2.0.1/" in plan["assets"]["region_risk_rasters"]["uris"][0]
    if environment != "local":
        assert plan["storage_root"] == "s3://carbonplan-ocr"  # from the environment's file


def test_cli_options_and_process_variables(
    in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_repo.setenv("OCR_COMPUTE", "local")
    argv = [
        "plan",
        "-e",
        "qa",
        "--json",
        "--regions",
        "y5_x14,qa",
        "--wipe",
        "--storage-root",
        "s3://other-bucket/ocr",
    ]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["regions"] == ["y5_x14", "y14_x5", "y14_x6", "y14_x7"]
    assert plan["wipe"] is True
    assert plan["storage_root"] == "s3://other-bucket/ocr"
    assert plan["assets"]["regional_pmtiles"]["compute"]["backend"] == "local"


def test_cli_readable_summary(
    in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--environment", "staging"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Deployment plan: staging")
    assert "package sync (COILED_SOFTWARE_ENV_NAME not set)" in text
    assert "regional_pmtiles: coiled c8g.12xlarge x1, scheduler c8g.12xlarge, disk 250 GB" in text
    assert "region_risk_rasters [per region]: coiled m8g.2xlarge" in text
    # A size that is not the seed's says why.
    assert (
        "building_pmtiles: coiled c8g.12xlarge x2, scheduler c8g.12xlarge, disk 250 GB (its "
        in (text)
    )
    assert "s3://carbonplan-ocr/output/fire-risk/vector/staging/pmtiles/regions.pmtiles" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--environment", "production", "--version", "1.0.0", "--wipe"], "OCR_WIPE=true refused"),
        (["--environment", "production"], "OCR_VERSION is required in production"),
        (["--environment", "qa", "--regions", "y14_x5 y40_x2"], "outside the 17 x 47"),
    ],
)
def test_cli_errors_exit_2_naming_the_setting(
    argv: list[str], message: str, in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ocr-assets plan: error: ") and message in err


def test_cli_refuses_a_process_of_another_environment(
    in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_repo.setenv("OCR_ENVIRONMENT", "qa")
    assert main(["plan", "--environment", "staging"]) == 2
    assert "OCR_ENVIRONMENT='qa' is set" in capsys.readouterr().err


def test_cli_module_runs(in_repo: pytest.MonkeyPatch) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ocr_assets.cli", "plan", "-e", "qa", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    assert json.loads(done.stdout)["regions"] == ["y14_x5", "y14_x6", "y14_x7"]


def test_plan_selects_what_the_deployment_runs(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan`` reads the inputs' grid and regions with data, as the deploy job does."""
    inputs = ["--storage-root", str(tmp_path / "out")]
    env = {"OCR_INPUT_ROOT": str(synthetic_root)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["plan", "-e", "local", "--json", *inputs]) == 0
        assert json.loads(capsys.readouterr().out)["regions"] == TINY_VALID_REGION_IDS
        # A region of the grid without data is refused, naming the option it came from.
        assert main(["plan", "-e", "local", "--regions", "y0_x0", *inputs]) == 2
        assert capsys.readouterr().err == (
            "ocr-assets plan: error: --regions: 1 region(s) hold no input data: y0_x0\n"
        )
    # Before `make demo` generated its inputs: the regions of the set it generates.
    missing = Settings(storage_root=str(tmp_path), input_root=str(tmp_path / "none"))
    grid, regions = input_regions(missing)
    assert grid == demo_grid() and len(regions) == 10 and "y0_x0" not in regions
