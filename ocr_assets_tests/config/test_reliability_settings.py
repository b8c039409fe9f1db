"""Settings checked by every entry point (issue 11, item 8) and killed runs marked failed (5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from ocr_assets.cli import main
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.plan import build_plan
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.config.terminal import EXIT_CONFIG_ERROR
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.orchestration.run_monitoring import dead_runs_sensor, fail_dead_runs
from ocr_assets.storage.config import QUIET_ICECHUNK_LOG, StorageConfig, current
from ocr_assets.storage.guard import LossGuard
from ocr_assets_tests.helpers import REPO_ROOT

#: Settings `plan` refused and `dagster asset materialize` accepted before (issue 11, item 8).
PLAN_CHECKED = [
    {"OCR_COMPUTE_OVERRIDES": "{bad json"},
    {"OCR_WIPE": "maybe"},
    {"OCR_COMPUTE": "banana"},
    {"OCR_FORCE": "perhaps"},
    {"OCR_CREATE_PYRAMID": "sometimes"},
]


@pytest.mark.parametrize("bad", PLAN_CHECKED, ids=lambda bad: next(iter(bad)))
def test_bad_setting_is_refused_by_every_entry_point(
    bad: dict[str, str], in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The code location (materialize, job execute, UI, demo) says what `plan` says."""
    with pytest.raises(DeploymentError) as planned:
        build_plan(Settings.from_variables(bad))
    with pytest.raises(SettingsError) as loaded:
        Settings.from_env(bad)
    assert str(loaded.value) == str(planned.value)
    assert next(iter(bad)) in str(loaded.value)
    # `ocr-assets plan` with the variable in the process environment.
    for variable, value in bad.items():
        in_repo.setenv(variable, value)
    assert main(["plan", "--environment", "local"]) == EXIT_CONFIG_ERROR
    assert capsys.readouterr().err == f"ocr-assets plan: error: {loaded.value}\n"


def test_wipe_refused_in_production_at_load() -> None:
    environ = {
        "OCR_ENVIRONMENT": "production",
        "OCR_VERSION": "1.2.3",
        "OCR_STORAGE_ROOT": "/tmp/ocr-production",
        "OCR_WIPE": "true",
    }
    with pytest.raises(SettingsError, match="OCR_WIPE=true refused"):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"OCR_STORAGE_ATTEMPTS": "0"}, "OCR_STORAGE_ATTEMPTS='0' is out of range"),
        ({"OCR_STORAGE_ATTEMPTS": "2.5"}, "OCR_STORAGE_ATTEMPTS='2.5' is not an integer"),
        ({"OCR_STORAGE_READ_TIMEOUT": "soon"}, "OCR_STORAGE_READ_TIMEOUT='soon' is not a number"),
        ({"OCR_STORAGE_PROBE_TIMEOUT": "0"}, "OCR_STORAGE_PROBE_TIMEOUT='0.0' is out of range"),
        ({"OCR_STORAGE_STALL_TIMEOUT": "-5"}, "OCR_STORAGE_STALL_TIMEOUT='-5.0' is out of range"),
        ({"OCR_STORAGE_OPERATION_TIMEOUT": "0"}, "OCR_STORAGE_OPERATION_TIMEOUT='0.0' is out of"),
        ({"OCR_MAX_OUTPUT_LOSS": "1.5"}, "OCR_MAX_OUTPUT_LOSS='1.5' is out of range"),
    ],
)
def test_reliability_settings_are_validated(bad: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(bad)


def test_reliability_settings_defaults_and_values() -> None:
    defaults = Settings.from_variables({})
    assert defaults.storage == StorageConfig(10.0, 60.0, 20.0, 60.0, None, 3) == StorageConfig()
    assert Settings.from_variables({"OCR_STORAGE_ATTEMPTS": "5"}).storage.attempts == 5
    assert OutputStorage.from_settings(defaults).guard == LossGuard(0.5, False)
    settings = Settings.from_env({"OCR_MAX_OUTPUT_LOSS": "0.2", "OCR_FORCE": "true"})
    assert (settings.max_output_loss, settings.force) == (0.2, True)
    assert OutputStorage.from_settings(settings).guard == LossGuard(0.2, True)


def test_storage_settings_are_parsed_into_the_storage_configuration() -> None:
    settings = Settings.from_variables(
        {
            "OCR_STORAGE_CONNECT_TIMEOUT": "2",
            "OCR_STORAGE_READ_TIMEOUT": "7.5",
            "OCR_STORAGE_PROBE_TIMEOUT": "5",
            "OCR_STORAGE_STALL_TIMEOUT": "45",
            "OCR_STORAGE_OPERATION_TIMEOUT": "3600",
            "OCR_STORAGE_ATTEMPTS": "4",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_DEFAULT_REGION": "us-west-2",
            "ICECHUNK_LOG": "debug",
        }
    )
    assert settings.storage == StorageConfig(
        connect_timeout=2.0,
        read_timeout=7.5,
        probe_timeout=5.0,
        stall_timeout=45.0,
        operation_timeout=3600.0,
        attempts=4,
        endpoint_url="http://127.0.0.1:9000",
        region="us-west-2",
        icechunk_log="debug",  # the user's ICECHUNK_LOG is applied
    )
    both = Settings.from_variables({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"})
    assert both.storage.region == "eu-west-1"
    assert Settings.from_variables({}).storage.icechunk_log == QUIET_ICECHUNK_LOG


def test_the_command_line_configures_the_storage_layer(
    in_repo: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the entry point reads the environment: the storage layer gets what it parsed."""
    in_repo.setenv("OCR_STORAGE_READ_TIMEOUT", "7")
    in_repo.setenv("OCR_STORAGE_ATTEMPTS", "4")
    in_repo.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert current() == StorageConfig()  # the environment alone changes nothing
    assert main(["plan", "--environment", "local", "--json"]) == 0
    capsys.readouterr()
    configured = current()
    assert (configured.read_timeout, configured.attempts) == (7.0, 4)
    assert configured.endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.integration
def test_asset_materialize_refuses_bad_settings(tmp_path: Path) -> None:
    """The real CLI: it used to exit 0 with OCR_COMPUTE=banana."""
    dagster = str(Path(sys.executable).parent / "dagster")
    select = ["--select", "wind_direction_distribution"]
    result = subprocess.run(
        [dagster, "asset", "materialize", "-m", "ocr_assets.definitions", *select],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "DAGSTER_HOME": str(tmp_path),
            "OCR_STORAGE_ROOT": str(tmp_path / "data"),
            "OCR_INPUT_ROOT": str(tmp_path / "input"),
            "OCR_COMPUTE": "banana",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "OCR_COMPUTE='banana' is not a compute backend" in result.stdout + result.stderr


@pytest.mark.integration
def test_killed_run_is_marked_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ready = tmp_path / "ready"
    script = f"""
        import time
        import dagster as dg

        @dg.op
        def wait_forever() -> None:
            open({str(ready)!r}, "w").close()
            time.sleep(600)

        @dg.job
        def stuck() -> None:
            wait_forever()

        with dg.DagsterInstance.get() as instance:
            stuck.execute_in_process(instance=instance)
    """
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert process.poll() is None and time.monotonic() < deadline, "run never started"
            time.sleep(0.2)
        with dg.DagsterInstance.get() as instance:
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.STARTED
            assert fail_dead_runs(instance) == []  # its process is alive
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            # What the UI's daemon runs every minute.
            skipped = dead_runs_sensor(dg.build_sensor_context(instance=instance))
            assert skipped.skip_message == f"marked failed: {run.run_id}"
            failed = instance.get_run_by_id(run.run_id)
            assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
            assert fail_dead_runs(instance) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
