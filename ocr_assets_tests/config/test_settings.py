"""Settings: the deployment layer's rules, applied before any compute, naming the variable."""

import re
from pathlib import Path

import pytest

from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.settings import CREDENTIAL_SOURCES, Settings, SettingsError

S3 = {"OCR_STORAGE_ROOT": "s3://carbonplan-ocr/output"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OCR_ENVIRONMENT": "dev"}, "OCR_ENVIRONMENT='dev' is not a known environment"),
        (
            {"OCR_ENVIRONMENT": "production", **S3, "AWS_PROFILE": "ocr"},
            "OCR_VERSION is required in production",
        ),
        (
            {"OCR_ENVIRONMENT": "production", "OCR_VERSION": "v1", **S3, "AWS_PROFILE": "ocr"},
            "OCR_VERSION='v1' is not a semantic version",
        ),
        ({"OCR_ENVIRONMENT": "qa"}, "OCR_STORAGE_ROOT is required in qa"),
        ({"OCR_STORAGE_ROOT": "s3://Bad_Bucket/x"}, "OCR_STORAGE_ROOT='s3://Bad_Bucket/x'"),
        ({"OCR_ENVIRONMENT": "qa", **S3}, "OCR_STORAGE_ROOT='s3://carbonplan-ocr/output' is on S3"),
        (
            {**S3, "AWS_ACCESS_KEY_ID": "key"},  # a key without its secret is not enough
            "no AWS credentials are set",
        ),
        ({"OCR_TILE_SHARD_ZOOM": "5"}, "OCR_TILE_SHARD_ZOOM='5' is out of range"),
        ({"OCR_TILE_SHARD_ZOOM": "ten"}, "OCR_TILE_SHARD_ZOOM='ten'"),
        (
            {"OCR_LEASE_SECONDS": "5"},
            "OCR_LEASE_SECONDS='5.0' is out of range; use a number from 60 to 86400",
        ),
        ({"OCR_LEASE_SECONDS": "soon"}, "OCR_LEASE_SECONDS='soon' is not a number"),
        ({"OCR_LEASE_WAIT": "maybe"}, "OCR_LEASE_WAIT"),
    ],
)
def test_bad_settings_fail_naming_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    "credentials",
    [
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
        {"AWS_PROFILE": "ocr"},
        {"AWS_ROLE_ARN": "arn:aws:iam::1:role/x", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"},
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials"},
    ],
)
def test_s3_root_with_credentials(credentials: dict[str, str]) -> None:
    settings = Settings.from_env(
        {"OCR_ENVIRONMENT": "production", "OCR_VERSION": "1.2.3", **S3, **credentials}
    )
    assert (settings.environment, settings.version) == ("production", "1.2.3")
    assert settings.storage_root == "s3://carbonplan-ocr/output"


def test_settings_errors_are_deployment_errors() -> None:
    with pytest.raises(DeploymentError):
        Settings(environment="production", storage_root="/tmp/x")


def test_command_line_settings_layer_env_file_process_and_options(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "qa.env"
    env_file.write_text(
        "OCR_ENVIRONMENT=qa\nOCR_STORAGE_ROOT=s3://carbonplan-ocr\nOCR_REGIONS=qa\n"
        "OCR_COMPUTE=coiled\nOCR_MAX_OUTPUT_LOSS=0.2\n"
    )
    clean_env.setenv("OCR_COMPUTE", "local")  # the process over the file
    clean_env.setenv("OCR_REGIONS", "y14_x5")
    settings = Settings.for_environment(
        "qa",
        {"OCR_REGIONS": ("--regions", "y14_x6"), "OCR_VERSION": ("--version", None)},
        env_file,
    )
    assert settings.storage_root == "s3://carbonplan-ocr"  # the file
    assert settings.max_output_loss == 0.2
    assert settings.compute_backend == "local"  # the process
    assert settings.regions == "y14_x6"  # the option
    assert settings.version is None  # an option not given
    assert settings.name("OCR_REGIONS") == "--regions"
    assert settings.name("OCR_COMPUTE") == "OCR_COMPUTE"
    with pytest.raises(SettingsError, match=re.escape("--storage-root='s3://Bad_Bucket/x'")):
        Settings.for_environment(
            "qa", {"OCR_STORAGE_ROOT": ("--storage-root", "s3://Bad_Bucket/x")}, env_file
        )
    for source in CREDENTIAL_SOURCES:
        for name in source:
            clean_env.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="no AWS credentials are set"):
        Settings.for_environment("qa", {}, env_file, credentials=True)


def test_tile_shard_zoom_defaults_to_the_environment_and_can_be_set() -> None:
    assert Settings.from_env({}).tile_shard_zoom == 10  # the demo's small area
    qa = {"OCR_ENVIRONMENT": "qa", "OCR_STORAGE_ROOT": "/tmp/qa"}
    assert Settings.from_env(qa).tile_shard_zoom == 6  # CONUS: the archive's first zoom
    assert Settings.from_env({**qa, "OCR_TILE_SHARD_ZOOM": "8"}).tile_shard_zoom == 8


def test_lease_settings_default_and_reach_the_deploy_job() -> None:
    from ocr_assets.deploy.job import DeploymentResource

    assert (Settings.from_env({}).lease_wait, Settings.from_env({}).lease_seconds) == (False, 1800)
    settings = Settings.from_env({"OCR_LEASE_WAIT": "true", "OCR_LEASE_SECONDS": "600"})
    deployment = DeploymentResource.from_settings(settings)
    assert (deployment.lease_wait, deployment.lease_seconds) == (True, 600.0)
