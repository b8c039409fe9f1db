"""The deploy workflow's helpers: deploy context per event, configuration export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_assets.config.environments import DEPLOYMENT_JOB
from ocr_assets.config.naming import DeploymentError
from ocr_assets.deploy.ci import deploy_context, main, wants_qa
from ocr_assets_tests.helpers import REPO_ROOT

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "CarbonPlan/OCR-Assets"


def pull_request(labels: list[str], title: str = "Fix", body: str | None = None) -> dict:
    return {
        "pull_request": {
            "number": 42,
            "title": title,
            "body": body,
            "labels": [{"name": label} for label in labels],
        }
    }


@pytest.mark.parametrize(
    ("event", "deploy"),
    [
        (pull_request(["e2e"]), True),
        (pull_request(["QA/QC", "docs"]), True),
        (pull_request([], title="[e2e] new kernel"), True),
        (pull_request([], body="please run [e2e] on this"), True),
        (pull_request(["docs"], body=None), False),
        (pull_request(["E2E", "qa/qc"]), False),
    ],
)
def test_pull_requests_deploy_to_qa_when_asked(event: dict, deploy: bool) -> None:
    assert wants_qa(event["pull_request"]) is deploy
    context = deploy_context("pull_request", event, "42/merge", SHA, REPO)
    assert context.deploy is deploy
    assert context.name == "ocr-pr-42"
    assert (context.ref, context.version) == (SHA, "")
    assert context.image == "ghcr.io/carbonplan/ocr-assets:ocr-pr-42"


def test_push_to_main_deploys_staging() -> None:
    context = deploy_context("push", {}, "main", SHA, REPO)
    assert (context.deploy, context.name, context.ref) == (True, "ocr-main", SHA)
    assert deploy_context("push", {}, "feature/x", SHA, REPO).deploy is False


@pytest.mark.parametrize("tag", ["v1.2.3", "1.2.3"])
def test_release_deploys_its_version(tag: str) -> None:
    context = deploy_context("release", {"release": {"tag_name": tag}}, tag, SHA, REPO)
    assert (context.deploy, context.version, context.name) == (True, "1.2.3", "ocr-v1-2-3")
    assert context.ref == SHA


def test_release_with_a_non_semver_tag_fails() -> None:
    with pytest.raises(DeploymentError, match="release tag='nightly'"):
        deploy_context("release", {"release": {"tag_name": "nightly"}}, "nightly", SHA, REPO)


def test_manual_dispatch_and_production_rerun() -> None:
    manual = deploy_context("workflow_dispatch", {}, "main", SHA, REPO)
    assert (manual.deploy, manual.name, manual.ref, manual.version) == (
        True,
        "ocr-main",
        SHA,
        "",
    )
    rerun = deploy_context("workflow_dispatch", {}, "main", SHA, REPO, production_tag=" v2.0.0 ")
    assert (rerun.name, rerun.ref, rerun.version) == ("ocr-v2-0-0", "refs/tags/v2.0.0", "2.0.0")
    with pytest.raises(DeploymentError, match=r"production_tag='2.0'"):
        deploy_context("workflow_dispatch", {}, "main", SHA, REPO, production_tag="2.0")


def test_other_events_do_not_deploy() -> None:
    with pytest.raises(DeploymentError, match="GITHUB_EVENT_NAME='schedule'"):
        deploy_context("schedule", {}, "main", SHA, REPO)


def test_context_runs_without_third_party_packages(tmp_path: Path) -> None:
    """``python -S``: no site-packages, as on a runner before anything is installed."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pull_request(["e2e"])))
    output = tmp_path / "output"
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF_NAME": "42/merge",
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_OUTPUT": str(output),
    }
    command = [sys.executable, "-S", "-m", "ocr_assets.deploy.ci", "context"]
    subprocess.run(command, cwd=REPO_ROOT, env=environ, check=True)
    assert output.read_text().splitlines() == [
        "deploy=true",
        "name=ocr-pr-42",
        f"ref={SHA}",
        "version=",
        "image=ghcr.io/carbonplan/ocr-assets:ocr-pr-42",
    ]


def read_pairs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.fixture
def actions_files(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> tuple[Path, Path]:
    env_file, output = tmp_path / "github_env", tmp_path / "github_output"
    clean_env.setenv("GITHUB_ENV", str(env_file))
    clean_env.setenv("GITHUB_OUTPUT", str(output))
    clean_env.chdir(REPO_ROOT)
    return env_file, output


def test_configure_production_exports_the_version(actions_files: tuple[Path, Path]) -> None:
    env_file, output = actions_files
    argv = ["configure", "--environment", "production", "--regions", "all", "--wipe", "false"]
    argv += ["--version", "1.2.3", "--software-env", "ocr-v1-2-3"]
    assert main(argv) == 0
    assert read_pairs(env_file) == {
        "OCR_ENVIRONMENT": "production",
        "OCR_STORAGE_ROOT": "s3://carbonplan-ocr",
        "OCR_INPUT_ROOT": "s3://carbonplan-ocr/input/fire-risk",
        "OCR_VERSION": "1.2.3",
        "COILED_SOFTWARE_ENV_NAME": "ocr-v1-2-3",
        "OCR_REGIONS": "all",
        "OCR_WIPE": "false",
    }
    assert read_pairs(output) == {
        "url": "https://carbonplan.org/research/climate-risk",
        "run_tags": '{"ocr/deployment": "production"}',
    }


def test_configure_qa_with_defaults(actions_files: tuple[Path, Path]) -> None:
    env_file, output = actions_files
    argv = ["configure", "--environment", "qa", "--regions", "", "--wipe", "true"]
    assert main([*argv, "--version", "", "--software-env", "ocr-pr-7"]) == 0
    exported = read_pairs(env_file)
    assert exported["OCR_WIPE"] == "true" and "OCR_REGIONS" not in exported
    assert read_pairs(output)["url"] == "https://ocr.qa.carbonplan.org"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--environment", "production", "--version", "1.2.3", "--wipe", "true"], "refused"),
        (["--environment", "production"], "OCR_VERSION is required in production"),
        (["--environment", "staging", "--regions", "y2_x5,y16_x2"], "y16_x2"),
    ],
)
def test_configure_refuses_invalid_deployments(
    argv: list[str],
    message: str,
    actions_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_file, output = actions_files
    assert main(["configure", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not env_file.exists() and not output.exists()


def test_multi_line_values_are_refused(
    actions_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file, _ = actions_files
    assert main(["configure", "--environment", "qa", "--software-env", "x\nOCR_WIPE=true"]) == 2
    assert "COILED_SOFTWARE_ENV_NAME: multi-line values" in capsys.readouterr().err
    assert not env_file.exists()


INSTANCE_SECRETS = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "pw-7f3a9c",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOG_BUCKET": "logs",
    "DAGSTER_COMPUTE_LOG_PREFIX": "qa",
}


def test_instance_with_secrets_exports_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    github_env = tmp_path / "github_env"
    monkeypatch.setenv("GITHUB_ENV", str(github_env))
    for name, value in INSTANCE_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_PG_PORT", raising=False)
    home = tmp_path / "home"
    config = REPO_ROOT / "docker" / "dagster.yaml"
    assert main(["instance", "--home", str(home), "--config", str(config)]) == 0
    assert github_env.read_text() == f"DAGSTER_HOME={home}\nDAGSTER_PG_PORT=5432\n"
    assert (home / "dagster.yaml").read_text() == config.read_text()
    assert "pw-7f3a9c" not in capsys.readouterr().err  # no secret values in the log


def test_instance_without_secrets_warns_and_stays_ephemeral(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    github_env = tmp_path / "github_env"
    monkeypatch.setenv("GITHUB_ENV", str(github_env))
    for name in INSTANCE_SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert main(["instance", "--home", str(tmp_path / "home")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("::warning title=Ephemeral Dagster instance::")
    assert "DAGSTER_PG_HOST" in out
    assert not github_env.exists() and not (tmp_path / "home").exists()


def test_instance_with_some_secrets_names_the_missing_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in INSTANCE_SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_PG_HOST", "db.internal")
    monkeypatch.setenv("DAGSTER_PG_DB", "dagster")
    assert main(["instance", "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD" in err and "not set" in err


def test_deploy_with_the_database_down_fails_in_one_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the port: the run-history database is down (fault 14)."""
    from ocr_assets.deploy import ci
    from ocr_assets_tests.deploy.deployed_instance import free_port

    for name, value in {**INSTANCE_SECRETS, "DAGSTER_PG_HOST": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    monkeypatch.setenv("DAGSTER_PG_PORT", str(port))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    started: list[list[str]] = []
    monkeypatch.setattr(ci.subprocess, "run", lambda command, **_: started.append(command))
    assert main(["deploy", "--tags", "{}"]) == 2
    err = capsys.readouterr().err
    user, db = INSTANCE_SECRETS["DAGSTER_PG_USERNAME"], INSTANCE_SECRETS["DAGSTER_PG_DB"]
    assert err.startswith(f"error: the run-history database {user}@127.0.0.1:{port}/{db} ")
    assert "does not answer" in err and "Connection refused" in err
    assert len(err.strip().splitlines()) == 1
    assert INSTANCE_SECRETS["DAGSTER_PG_PASSWORD"] not in err
    assert started == []


def test_deploy_without_a_deployed_instance_runs_the_deploy_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ``DAGSTER_HOME``: nothing to check; the job runs, its exit status is the helper's."""
    from ocr_assets.deploy import ci

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    started: list[list[str]] = []

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess:
        started.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(ci.subprocess, "run", run)
    assert main(["deploy", "--tags", '{"ocr/deployment": "qa"}']) == 3
    assert started == [
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "ocr_assets.definitions",
         "-j", DEPLOYMENT_JOB, "--tags", '{"ocr/deployment": "qa"}'],
    ]  # fmt: skip
    assert "running: dagster job execute" in capsys.readouterr().err
