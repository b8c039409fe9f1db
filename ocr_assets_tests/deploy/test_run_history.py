"""A deployment's run history lasts: the deployed instance (Postgres, S3 step logs) as CI uses it.

The test starts a real PostgreSQL server (Debian's ``postgresql`` package) and a local S3 server
(moto) for the step logs, prepares ``DAGSTER_HOME`` with the deploy workflow's own helper
(``python -m ocr_assets.deploy.ci instance``, which copies ``docker/dagster.yaml``), runs the
deploy job as the workflow does (``python -m ocr_assets.deploy.ci deploy``: ``dagster job
execute`` once the database answers), then starts ``dagster-webserver``
on the same instance and reads the runs, the per-partition materializations and the check
results back through GraphQL. Skipped with a reason when PostgreSQL is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ocr_assets.catalog import InputCatalog
from ocr_assets.config.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets_tests.deploy.deployed_instance import PostgresServer, deployed_instance_env
from ocr_assets_tests.helpers import REPO_ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def test_deploy_run_history_is_in_postgres_and_shown_by_the_webserver(
    tmp_path: Path,
    postgres: PostgresServer,
    moto_endpoint: str,
    synthetic_root: Path,
    ui_smoke: ModuleType,
) -> None:
    env = deployed_instance_env(tmp_path, postgres.env, moto_endpoint, synthetic_root)
    home = tmp_path / "dagster-home"
    # The workflow's step: DAGSTER_HOME for the following steps, from docker/dagster.yaml.
    subprocess.run(
        [str(BIN / "python"), "-m", "ocr_assets.deploy.ci", "instance", "--home", str(home),
         "--config", str(REPO_ROOT / "docker" / "dagster.yaml")],
        env=env, check=True, timeout=60,
    )  # fmt: skip
    exported = dict(line.split("=", 1) for line in Path(env["GITHUB_ENV"]).read_text().splitlines())
    assert exported == {"DAGSTER_HOME": str(home), "DAGSTER_PG_PORT": str(postgres.port)}
    env.update(exported)

    regions = InputCatalog(str(synthetic_root)).valid_region_ids()[:2]
    env["OCR_REGIONS"] = ",".join(regions)
    tags = json.dumps({DEPLOYMENT_RUN_TAG: "local"})
    # The workflow's step: `dagster job execute -j deploy` once the database answers.
    done = subprocess.run(
        [str(BIN / "python"), "-m", "ocr_assets.deploy.ci", "deploy", "--tags", tags],
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
