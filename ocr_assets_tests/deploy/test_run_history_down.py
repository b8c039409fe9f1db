"""The run-history database goes away: before a deployment, and during one (fault 14).

The deployed instance of the workflow (``docker/dagster.yaml``: PostgreSQL run storage, step
logs on a local S3 server) with a real PostgreSQL server, and the workflow's deploy step
(``python -m ocr_assets.deploy.ci deploy``). One region is deployed with the database up first
(the control); then:

- the database is stopped before a deployment: the step fails in about a second with one line
  naming the database, and starts nothing;
- the database is stopped while a second region's run starts: the run fails, its last line
  names the database, the first region's commit and the published roll-ups are as they were,
  the deployment record says why it failed and the deployment's lease is released; once the
  database is back a plain re-run processes the second region only and succeeds.

Skipped without PostgreSQL. The roll-ups' optional branches are off to keep the runs short.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocr_assets.config.environments import DEPLOYMENT_RUN_TAG
from ocr_assets.storage import Layout, RasterStore
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS
from ocr_assets_tests.deploy.deployed_instance import PostgresServer, deployed_instance_env
from ocr_assets_tests.helpers import REPO_ROOT

pytestmark = pytest.mark.integration

FIRST, SECOND = TINY_VALID_REGION_IDS[:2]
TAGS = json.dumps({DEPLOYMENT_RUN_TAG: "local"})
#: Seconds a deployment of one region may take here (two cores shared with other tests).
DEPLOY_SECONDS = 420


def deploy_command() -> list[str]:
    """The workflow's deploy step."""
    return [sys.executable, "-m", "ocr_assets.deploy.ci", "deploy", "--tags", TAGS]


def deploy(env: dict[str, str], regions: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        deploy_command(),
        env={**env, "OCR_REGIONS": regions},
        capture_output=True,
        text=True,
        timeout=DEPLOY_SECONDS,
    )


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def published(layout: Layout) -> dict[str, str]:
    """SHA-256 of each published roll-up file."""
    files = (
        layout.consolidated_buildings,
        layout.regional_pmtiles,
        layout.building_pmtiles,
        layout.building_centroid_pmtiles,
    )
    return {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files}


def record(layout: Layout) -> dict:
    return json.loads(Path(layout.deployment_record).read_text())


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
    moto_endpoint: str,
    synthetic_root: Path,
) -> Iterator[dict[str, str]]:
    """The deploy step's variables, after the control: ``FIRST`` deployed with the database up."""
    tmp_path = tmp_path_factory.mktemp("run-history-down")
    env = deployed_instance_env(tmp_path, postgres.env, moto_endpoint, synthetic_root)
    subprocess.run(
        [sys.executable, "-m", "ocr_assets.deploy.ci", "instance", "--home",
         str(tmp_path / "dagster-home"), "--config", str(REPO_ROOT / "docker" / "dagster.yaml")],
        env=env, check=True, timeout=60,
    )  # fmt: skip
    env.update(line.split("=", 1) for line in Path(env["GITHUB_ENV"]).read_text().splitlines())
    env.update({"OCR_CREATE_PYRAMID": "false", "OCR_WRITE_REGIONAL_STATS": "false"})
    started = time.monotonic()
    done = deploy(env, FIRST)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"control deployment: {time.monotonic() - started:.1f} s")
    yield env


def layout_of(env: dict[str, str]) -> Layout:
    return Layout(env["OCR_STORAGE_ROOT"], "local", None)


def database(postgres: PostgresServer) -> str:
    return f"dagster@127.0.0.1:{postgres.port}/dagster"


def test_database_down_before_a_deployment_fails_in_one_line(
    env: dict[str, str], postgres: PostgresServer
) -> None:
    before = record(layout_of(env))
    postgres.stop()
    try:
        started = time.monotonic()
        done = deploy(env, FIRST)
        took = time.monotonic() - started
    finally:
        postgres.start()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: the run-history database {database(postgres)} does not answer (connection "
        f'to server at "127.0.0.1", port {postgres.port} failed: Connection refused); nothing '
        "was started: start the database (or correct DAGSTER_PG_HOST, DAGSTER_PG_PORT, "
        "DAGSTER_PG_DB) and run the deployment again"
    ]
    assert done.stdout == ""
    assert postgres.env["DAGSTER_PG_PASSWORD"] not in done.stderr
    assert took < 15, took
    assert record(layout_of(env)) == before  # nothing started


def test_database_lost_during_a_deployment_keeps_the_outputs_and_a_rerun_finishes(
    env: dict[str, str], postgres: PostgresServer
) -> None:
    layout = layout_of(env)
    store = RasterStore(layout.raster_store)
    first_commit = store.committed_regions()[FIRST]
    rollups = published(layout)

    process = subprocess.Popen(
        deploy_command(),
        env={**env, "OCR_REGIONS": f"{FIRST},{SECOND}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    regions_started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "region(s) to process" in line:
                regions_started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert regions_started.wait(DEPLOY_SECONDS), "".join(lines[-40:])
        postgres.stop()
        stopped = time.monotonic()
        code = process.wait(timeout=DEPLOY_SECONDS)
        failed_after = time.monotonic() - stopped
    finally:
        if process.poll() is None:
            process.kill()
        postgres.start()
    reader.join(timeout=30)
    output = [line.strip() for line in lines if line.strip()]
    assert code == 2, "".join(lines[-40:])
    assert output[-1].startswith(
        f"error: the deployment failed: the run-history database {database(postgres)} "
        "stopped answering during the run (connection to server at"
    ), output[-1]
    assert "once the database is back, run the deployment again" in output[-1]
    print(f"deployment failed {failed_after:.1f} s after the database stopped")
    # The outputs stay: the first region's commit, every published roll-up; the record says
    # why the deployment failed.
    assert store.committed_regions()[FIRST] == first_commit
    assert published(layout) == rollups
    interrupted = record(layout)
    assert (interrupted["status"], interrupted["error"]) == ("failed", output[-1][len("error: ") :])
    assert not Path(layout.lease).exists()  # released: the re-run does not wait for it

    done = deploy(env, f"{FIRST},{SECOND}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finished = record(layout)
    assert finished["status"] == "succeeded"
    assert (finished["processed"], finished["skipped"]) == ([SECOND], [FIRST])
    assert set(store.committed_regions()) == {FIRST, SECOND}
    assert published(layout) != rollups
