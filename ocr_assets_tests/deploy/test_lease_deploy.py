"""Two deployments of one environment at once: ``dagster job execute -j deploy`` twice, on the
same local outputs (one region, local compute), each with its own Dagster instance as two CI
runners have. The lease in the output storage keeps their writes apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ocr_assets.config.environments import DEPLOYMENT_JOB
from ocr_assets.config.settings import Settings
from ocr_assets.deploy.job import step_failures
from ocr_assets.storage import Layout
from ocr_assets.storage.lease import LeaseRecord, acquire
from ocr_assets.storage.lease import _store as lease_store
from ocr_assets_tests.helpers import persistent_instance, run_deploy

pytestmark = pytest.mark.integration

REGION = "y0_x1"


def deploy_command(tmp_path: Path, synthetic_root: Path, name: str, **env: str) -> dict:
    """The environment of one ``dagster job execute -j deploy`` (its own DAGSTER_HOME)."""
    home = tmp_path / f"home-{name}"
    home.mkdir()
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("OCR_")},
        "DAGSTER_HOME": str(home),
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(tmp_path / "data"),
        "OCR_REGIONS": REGION,
        "OCR_CREATE_PYRAMID": "false",
        "OCR_WRITE_REGIONAL_STATS": "false",
        **env,
    }


def start(env: dict, cwd: Path) -> subprocess.Popen[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [str(dagster), "job", "execute", "-m", "ocr_assets.definitions", "-j", DEPLOYMENT_JOB],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def messages(home: str) -> tuple[str, list[tuple[float, str]]]:
    """The deploy run of the instance at ``home``: its ID and (time, message) of its log."""
    with dg.DagsterInstance.from_config(home) as instance:
        (record,) = instance.get_run_records(dg.RunsFilter(job_name=DEPLOYMENT_JOB))
        run_id = record.dagster_run.run_id
        return run_id, [(entry.timestamp, entry.message) for entry in instance.all_logs(run_id)]


def first(lines: list[tuple[float, str]], fragment: str) -> float:
    """Time of the first message holding ``fragment``."""
    return next(stamp for stamp, message in lines if fragment in message)


def test_two_deployments_at_once_never_interleave(synthetic_root: Path, tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "data"), "local")
    # A deployment killed earlier on this host left its lease: it is taken over at once.
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    record = LeaseRecord.new("0badc0de-killed", "local", None, 1800.0)
    assert lease_store(layout.lease).create(
        LeaseRecord(**{**record.__dict__, "pid": killed.pid}).encode()
    )

    # Both wait for the lease: they run one after the other, whichever starts first.
    envs = [
        deploy_command(tmp_path, synthetic_root, name, OCR_LEASE_WAIT="true") for name in ("a", "b")
    ]
    runs = [start(env, tmp_path) for env in envs]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-4000:]

    (id_a, log_a), (id_b, log_b) = (messages(env["DAGSTER_HOME"]) for env in envs)
    [(early_id, early), (late_id, late)] = sorted(
        [(id_a, log_a), (id_b, log_b)], key=lambda run: first(run[1], "taken until")
    )
    assert any("took over the lease of run 0badc0d" in message for _, message in early)
    assert f"its process {killed.pid} on this host is gone" in "\n".join(m for _, m in early)
    # The later one waited, naming the earlier one, and took the lease after it was released,
    # so after the earlier one's roll-ups.
    waiting = [message for _, message in late if "so far: another deployment" in message]
    assert waiting and f"run {early_id[:8]}" in waiting[0]
    assert first(late, "taken until") >= first(early, "released")
    assert first(early, "roll-ups ok") < first(late, "roll-up(s) to build")
    assert json.loads(Path(layout.deployment_record).read_text())["run_id"] == late_id
    assert not Path(layout.lease).exists()

    # While a deployment holds the lease, another one (not waiting) refuses at once, naming it,
    # before writing anything (the run the workflow executes, in this process).
    holder = acquire(layout.lease, run_id="feedface-running", environment="local", version=None)
    settings = Settings(
        storage_root=str(tmp_path / "data"), input_root=str(synthetic_root), regions=REGION
    )
    try:
        refused = run_deploy(persistent_instance(tmp_path), settings, raise_on_error=False)
    finally:
        holder.release()
    assert not refused.success
    (error,) = step_failures(refused).values()
    assert error.startswith("another deployment of 'local' holds the lease since")
    assert f"(run feedface, {holder.record.owner} pid {os.getpid()};" in error
    assert "set OCR_LEASE_WAIT=true" in error
    assert json.loads(Path(layout.deployment_record).read_text())["run_id"] == late_id
