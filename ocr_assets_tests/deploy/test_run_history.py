"""A deployment's run history lasts: the deployed instance (Postgres, S3 step logs) as CI uses it.

The test starts a real PostgreSQL server (Debian's ``postgresql`` package) and a local S3 server
(moto) for the step logs, prepares ``DAGSTER_HOME`` with the deploy workflow's own helper
(``python -m ocr_assets.deploy.ci instance``, which copies ``docker/dagster.yaml``), runs the
deploy job with ``dagster job execute`` as the workflow does, then starts ``dagster-webserver``
on the same instance and reads the runs, the per-partition materializations and the check
results back through GraphQL. Skipped with a reason when PostgreSQL is not installed.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ocr_assets.catalog import InputCatalog
from ocr_assets.config.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets_tests.helpers import REPO_ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL server on 127.0.0.1 with a ``dagster`` database; yields its settings.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.
    """
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    base = Path(tempfile.mkdtemp(prefix="ocr-pg-"))
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    if as_root:
        base.chmod(0o755)
        shutil.chown(sockets, "postgres")
        shutil.chown(base, "postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"

    run(str(bindir / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w",
        "start")  # fmt: skip
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster",
            "dagster")  # fmt: skip
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": "unused-trust-auth",
            "DAGSTER_PG_DB": "dagster",
        }
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


def deployed_instance_env(
    tmp_path: Path, postgres: dict[str, str], moto_endpoint: str, synthetic_root: Path
) -> dict[str, str]:
    """The variables of the deploy workflow's steps, pointed at the local servers."""
    import boto3

    env = {
        **os.environ,
        **postgres,
        "DAGSTER_COMPUTE_LOG_BUCKET": "ocr-dagster-logs",
        "DAGSTER_COMPUTE_LOG_PREFIX": "local",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "OCR_ENVIRONMENT": "local",
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(tmp_path / "outputs"),
        "OCR_COMPUTE": "local",
        "GITHUB_ENV": str(tmp_path / "github_env"),
    }
    for name in ("OCR_REGIONS", "OCR_WIPE", "OCR_FORCE", "OCR_VERSION", "DAGSTER_HOME"):
        env.pop(name, None)
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(
        Bucket=env["DAGSTER_COMPUTE_LOG_BUCKET"],
        CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
    )
    return env


def test_deploy_run_history_is_in_postgres_and_shown_by_the_webserver(
    tmp_path: Path,
    postgres: dict[str, str],
    moto_endpoint: str,
    synthetic_root: Path,
    ui_smoke: ModuleType,
) -> None:
    env = deployed_instance_env(tmp_path, postgres, moto_endpoint, synthetic_root)
    home = tmp_path / "dagster-home"
    # The workflow's step: DAGSTER_HOME for the following steps, from docker/dagster.yaml.
    subprocess.run(
        [str(BIN / "python"), "-m", "ocr_assets.deploy.ci", "instance", "--home", str(home),
         "--config", str(REPO_ROOT / "docker" / "dagster.yaml")],
        env=env, check=True, timeout=60,
    )  # fmt: skip
    exported = dict(line.split("=", 1) for line in Path(env["GITHUB_ENV"]).read_text().splitlines())
    assert exported == {"DAGSTER_HOME": str(home), "DAGSTER_PG_PORT": postgres["DAGSTER_PG_PORT"]}
    env.update(exported)

    regions = InputCatalog(str(synthetic_root)).valid_region_ids()[:2]
    env["OCR_REGIONS"] = ",".join(regions)
    tags = json.dumps({DEPLOYMENT_RUN_TAG: "local"})
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "ocr_assets.definitions", "-j",
         DEPLOYMENT_JOB, "--tags", tags],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    with ui_smoke.running_webserver(env) as base_url:
        runs = ui_smoke.graphql(
            base_url,
            "{ runsOrError { ... on Runs { results { runId jobName status "
            "tags { key value } } } } }",
        )["runsOrError"]["results"]
        jobs = {run["jobName"]: run for run in runs}
        assert jobs[DEPLOYMENT_JOB]["status"] == "SUCCESS"
        assert all(run["status"] == "SUCCESS" for run in runs)
        # The deployment and its child runs: wind, one per region, the roll-ups.
        assert sorted(run["jobName"] for run in runs) == sorted(
            [DEPLOYMENT_JOB, "wind", "rollups", *["regions"] * len(regions)]
        )
        assert all({"key": DEPLOYMENT_RUN_TAG, "value": "local"} in run["tags"] for run in runs)

        def materialized_partitions(asset: str) -> list[str | None]:
            data = ui_smoke.graphql(
                base_url,
                f'{{ assetOrError(assetKey: {{path: ["{asset}"]}}) {{ ... on Asset {{ '
                "assetMaterializations(limit: 100) { partition runId } } } }",
            )
            return [m["partition"] for m in data["assetOrError"]["assetMaterializations"]]

        for asset in ("region_risk_rasters", "region_buildings"):
            assert sorted(materialized_partitions(asset)) == sorted(regions)
        assert materialized_partitions("region_summary_stats") == [None]

        checks = ui_smoke.graphql(
            base_url,
            '{ assetNodeOrError(assetKey: {path: ["region_summary_stats"]}) { ... on AssetNode '
            "{ assetChecksOrError { ... on AssetChecks { checks { name "
            "executionForLatestMaterialization { status runId } } } } } } }",
        )["assetNodeOrError"]["assetChecksOrError"]["checks"]
        assert checks and all(
            check["executionForLatestMaterialization"]["status"] == "SUCCEEDED" for check in checks
        )

        # The region checks are recorded per region partition, each one passed.
        for name in ("bp_in_unit_interval", "grid_matches_region", "nan_only_where_explained"):
            executions = ui_smoke.graphql(
                base_url,
                '{ assetCheckExecutions(assetKey: {path: ["region_risk_rasters"]}, '
                f'checkName: "{name}", limit: 100) {{ partition status '
                "evaluation { partition success } } }",
            )["assetCheckExecutions"]
            assert sorted(e["partition"] for e in executions) == sorted(regions), name
            assert all(e["status"] == "SUCCEEDED" for e in executions), name
            assert all(e["evaluation"]["success"] for e in executions), name
