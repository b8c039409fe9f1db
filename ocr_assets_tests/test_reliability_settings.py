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

from ocr_assets.deploy.naming import DeploymentError
from ocr_assets.deploy.plan import build_plan
from ocr_assets.run_monitoring import dead_runs_sensor, fail_dead_runs
from ocr_assets.settings import OutputGuard, Settings, SettingsError, StorageLimits

ROOT = Path(__file__).resolve().parent.parent

#: Settings `plan` refused and `dagster asset materialize` accepted before (issue 11, item 8).
PLAN_CHECKED = [
    {"OCR_COMPUTE_OVERRIDES": "{bad json"},
    {"OCR_WIPE": "maybe"},
    {"OCR_COMPUTE": "banana"},
    {"OCR_FORCE": "perhaps"},
    {"OCR_CREATE_PYRAMID": "sometimes"},
]


@pytest.mark.parametrize("bad", PLAN_CHECKED, ids=lambda bad: next(iter(bad)))
def test_bad_setting_is_refused_by_every_entry_point(bad: dict[str, str]) -> None:
    """The code location (materialize, job execute, UI, demo) says what `plan` says."""
    with pytest.raises(DeploymentError) as planned:
        build_plan(bad)
    with pytest.raises(SettingsError) as loaded:
        Settings.from_env(bad)
    assert str(loaded.value) == str(planned.value)
    assert next(iter(bad)) in str(loaded.value)


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
        ({"OCR_MAX_OUTPUT_LOSS": "1.5"}, "OCR_MAX_OUTPUT_LOSS='1.5' is out of range"),
    ],
)
def test_reliability_settings_are_validated(bad: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(bad)


def test_reliability_settings_defaults_and_values() -> None:
    assert StorageLimits.from_env({}) == StorageLimits(10.0, 60.0, 600.0, 3)
    assert StorageLimits.from_env({"OCR_STORAGE_ATTEMPTS": "5"}).attempts == 5
    assert OutputGuard.from_env({}) == OutputGuard(0.5, False)
    settings = Settings.from_env({"OCR_MAX_OUTPUT_LOSS": "0.2", "OCR_FORCE": "true"})
    assert settings.guard == OutputGuard(0.2, True)


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
            "PYTHONPATH": str(ROOT),
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
