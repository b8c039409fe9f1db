"""The environment files at the repository root, their syntax and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_assets.config.envfile import (
    env_file_for,
    layered_variables,
    load_env_file,
    parse_env_text,
)
from ocr_assets.config.environments import DEPLOYMENT_VARIABLES, ENVIRONMENTS
from ocr_assets.config.naming import DeploymentError
from ocr_assets_tests.helpers import REPO_ROOT

SEED_FILES = {
    "qa": "ocr-coiled-s3.env",
    "staging": "ocr-coiled-s3-staging.env",
    "production": "ocr-coiled-s3-production.env",
    "local": "ocr-local.env",
}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_repository_env_files_load(environment: str) -> None:
    path = env_file_for(environment, REPO_ROOT)
    assert path.name == SEED_FILES[environment]
    values = load_env_file(path, environment)
    assert values["OCR_ENVIRONMENT"] == environment
    assert set(values) <= set(DEPLOYMENT_VARIABLES)
    # CI fills these in; the files leave them empty.
    assert values.get("COILED_SOFTWARE_ENV_NAME", "") == ""
    assert values.get("OCR_VERSION", "") == ""
    if environment == "local":
        assert values["OCR_STORAGE_ROOT"] == "./data"
    else:
        assert values["OCR_STORAGE_ROOT"].startswith("s3://")


def test_production_file_has_the_version_key_for_ci() -> None:
    assert "OCR_VERSION" in load_env_file(REPO_ROOT / SEED_FILES["production"])


def test_dotenv_syntax() -> None:
    text = """
# comment
export OCR_ENVIRONMENT=qa
OCR_STORAGE_ROOT = s3://bucket/prefix   # trailing comment
OCR_REGIONS="y2_x5, y2_x6 # not a comment"
OCR_COMPUTE_OVERRIDES='{"*": {"n_workers": 2}}'
COILED_SOFTWARE_ENV_NAME=
OCR_INPUT_ROOT="a \\"quoted\\" \\\\ path"
"""
    assert parse_env_text(text) == {
        "OCR_ENVIRONMENT": "qa",
        "OCR_STORAGE_ROOT": "s3://bucket/prefix",
        "OCR_REGIONS": "y2_x5, y2_x6 # not a comment",
        "OCR_COMPUTE_OVERRIDES": '{"*": {"n_workers": 2}}',
        "COILED_SOFTWARE_ENV_NAME": "",
        "OCR_INPUT_ROOT": 'a "quoted" \\ path',
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just words", r"f\.env:1: expected KEY=value"),
        ("A=1\nA=2", r"f\.env:2: A is set twice"),
        ('A="open', r"f\.env:1: unterminated \" quote"),
        ("A='x' y", r"unexpected text after the quoted value"),
    ],
)
def test_syntax_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DeploymentError, match=message):
        parse_env_text(text, "f.env")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.env"
    path.write_text(text)
    return path


GOOD = "OCR_ENVIRONMENT=staging\nOCR_STORAGE_ROOT=s3://carbonplan-ocr\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("OCR_STORAGE_ROTO=x\n", "unknown key OCR_STORAGE_ROTO"),
        ("AWS_SECRET_ACCESS_KEY=x\n", "AWS_SECRET_ACCESS_KEY looks like a credential"),
        ("COILED_TOKEN=x\n", "COILED_TOKEN looks like a credential"),
        ("OCR_VERSION=v1\n", "OCR_VERSION='v1' is not a semantic version"),
        ("OCR_COMPUTE=cloud\n", "OCR_COMPUTE='cloud' is not a compute backend"),
        ("OCR_COMPUTE_OVERRIDES={\n", "OCR_COMPUTE_OVERRIDES is not valid JSON"),
        ("OCR_WIPE=perhaps\n", "OCR_WIPE='perhaps' is not a boolean"),
        ("OCR_INPUT_ROOT=ftp://x\n", "OCR_INPUT_ROOT='ftp://x' is not a supported location"),
    ],
)
def test_invalid_files_name_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(DeploymentError, match=message) as info:
        load_env_file(path)
    assert str(path) in str(info.value)


def test_required_keys_and_expected_environment(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="OCR_STORAGE_ROOT is missing or empty"):
        load_env_file(write(tmp_path, "OCR_ENVIRONMENT=qa\nOCR_STORAGE_ROOT=\n"))
    with pytest.raises(DeploymentError, match="OCR_ENVIRONMENT is missing"):
        load_env_file(write(tmp_path, "OCR_STORAGE_ROOT=./data\n"))
    with pytest.raises(DeploymentError, match="'staging', but this file should configure 'qa'"):
        load_env_file(write(tmp_path, GOOD), "qa")
    with pytest.raises(DeploymentError, match="cannot read environment file"):
        load_env_file(tmp_path / "missing.env")


def test_production_file_cannot_ask_for_a_wipe(tmp_path: Path) -> None:
    text = "OCR_ENVIRONMENT=production\nOCR_STORAGE_ROOT=s3://b-1\nOCR_WIPE=true\n"
    with pytest.raises(DeploymentError, match="OCR_WIPE=true refused"):
        load_env_file(write(tmp_path, text))


def test_layering_file_then_process_then_flags(tmp_path: Path) -> None:
    env_file = write(tmp_path, GOOD + "OCR_REGIONS=staging\n")
    environ = {"OCR_REGIONS": "qa", "OCR_COMPUTE": "local", "UNRELATED": "x"}
    variables = layered_variables("staging", {"OCR_REGIONS": "y1_x1"}, environ, env_file)
    assert variables == {
        "OCR_ENVIRONMENT": "staging",
        "OCR_STORAGE_ROOT": "s3://carbonplan-ocr",
        "OCR_REGIONS": "y1_x1",
        "OCR_COMPUTE": "local",
    }
    assert layered_variables("staging", {}, environ, env_file)["OCR_REGIONS"] == "qa"


def test_layering_finds_the_environment_file_in_the_folder() -> None:
    variables = layered_variables("qa", {}, {}, folder=REPO_ROOT)
    assert variables["OCR_STORAGE_ROOT"] == "s3://carbonplan-ocr"
    assert layered_variables("local", {}, {}, folder=REPO_ROOT / "docker") == {
        "OCR_ENVIRONMENT": "local"
    }


def test_layering_refuses_a_process_of_another_environment() -> None:
    with pytest.raises(DeploymentError, match="OCR_ENVIRONMENT='qa' is set in the environment"):
        layered_variables("production", {}, {"OCR_ENVIRONMENT": "qa"}, folder=REPO_ROOT)
