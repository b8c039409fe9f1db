"""``make demo`` is a deployment of the ``local`` environment: ``ocr-assets verify`` passes after it.

Runs the Makefile target itself (with the repository's ``.venv``) on a copy of the tiny synthetic
inputs, then the verify command as CI does after a deployment.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ocr_assets.config.environments import DEPLOYMENT_VARIABLES
from ocr_assets.deploy.job import PARENT_RUN_TAG
from ocr_assets_tests.helpers import REPO_ROOT

pytestmark = pytest.mark.integration


def test_make_demo_then_verify_local(synthetic_root: Path, tmp_path: Path) -> None:
    if shutil.which("make") is None or not (REPO_ROOT / ".venv" / "bin" / "dagster").exists():
        pytest.skip("make or the repository's .venv is missing")
    inputs = tmp_path / "input"
    shutil.copytree(synthetic_root, inputs)
    home = tmp_path / "dagster-home"
    env = {
        **{k: v for k, v in os.environ.items() if k not in DEPLOYMENT_VARIABLES},
        "OCR_INPUT_ROOT": str(inputs),
        "OCR_STORAGE_ROOT": str(tmp_path / "data"),
    }
    demo = subprocess.run(
        ["make", "-C", str(REPO_ROOT), "demo", f"DAGSTER_HOME={home}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert (
        "summary: 5 region(s) selected (5 computed now, 0 already in the raster store); "
        "7 roll-up(s) built from 5 region(s)"
    ) in output
    for number, region_id in enumerate(["y0_x1", "y0_x2", "y1_x0", "y1_x1", "y1_x2"], start=1):
        assert f"[{number}/5] {region_id} ok in " in output
    # A terminal a person reads: a line per region and roll-up, short, no traceback.
    lines = output.splitlines()
    assert "Traceback" not in output
    assert len(lines) <= 38, output  # make 5, set-up 3, progress 20 (the lease: 2), summary 9
    progress = [line for line in lines if re.match(r"\d\d:\d\d:\d\d  ", line)]
    # the run, the lease taken, the selection, wind, regions 1 + 5, roll-ups 1 + 7 + 1, the lease
    # released
    assert len(progress) == 1 + 1 + 1 + 1 + 1 + 5 + 1 + 7 + 1 + 1, output
    assert "lease " in progress[1] and progress[-1].endswith("released"), output
    assert max(len(line) for line in progress if "http" not in line) <= 130, output

    verify = subprocess.run(
        [sys.executable, "-m", "ocr_assets.cli", "verify", "--environment", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "every output is present and fresh" in verify.stdout

    # The demo's runs are the deployment's: the deploy run and its child runs, each child's
    # compute lines in its own run, the deploy run linking each of them.
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        deploy = instance.get_runs(dg.RunsFilter(job_name="deploy"))
        assert len(deploy) == 1
        children = instance.get_runs(dg.RunsFilter(tags={PARENT_RUN_TAG: deploy[0].run_id}))
        assert sorted(run.job_name for run in children) == ["regions"] * 5 + ["rollups", "wind"]

        def messages(run_id: str) -> list[str]:
            return [entry.user_message for entry in instance.all_logs(run_id)]

        assert not any("ran on cluster" in line for line in messages(deploy[0].run_id))
        links = "\n".join(
            str(value.value)
            for entry in instance.all_logs(deploy[0].run_id)
            if entry.dagster_event is not None and entry.dagster_event.is_successful_output
            for value in entry.dagster_event.event_specific_data.metadata.values()
        )
        for run in children:
            assert f"http://127.0.0.1:3000/runs/{run.run_id}" in links, run.job_name
            if run.job_name == "regions":
                region_id = run.tags["ocr/region"]
                assert any(
                    "region_risk_rasters: region_rasters ran on cluster" in line
                    for line in messages(run.run_id)
                ), region_id
