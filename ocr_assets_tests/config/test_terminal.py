"""The entry points end with one line per error; ``--verbose`` keeps the traceback."""

import subprocess
import sys

import pytest

from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.terminal import EXIT_CONFIG_ERROR, EXIT_ERROR, run_command
from ocr_assets_tests.helpers import REPO_ROOT


def test_a_setting_error_is_one_line_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    def bad() -> int:
        raise DeploymentError("OCR_REGIONS: 1 region(s) hold no input data: y0_x0")

    assert run_command("ocr-assets plan", bad) == EXIT_CONFIG_ERROR
    assert capsys.readouterr().err == (
        "ocr-assets plan: error: OCR_REGIONS: 1 region(s) hold no input data: y0_x0\n"
    )


def test_any_other_error_is_one_line_naming_its_kind(capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable() -> int:
        raise ConnectionError("could not connect to s3://bucket\nsecond line of detail")

    assert run_command("ocr-assets verify", unreachable) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err == (
        "ocr-assets verify: error: ConnectionError: could not connect to s3://bucket "
        "(--verbose shows the traceback)\n"
    )
    with pytest.raises(ConnectionError):
        run_command("ocr-assets verify", unreachable, verbose=True)


def test_plan_into_a_pipe_nobody_reads_ends_quietly() -> None:
    # As `ocr-assets plan | head -2` once head has exited: the reader is gone before the
    # first write (closed before the interpreter has even started).
    process = subprocess.Popen(
        [sys.executable, "-m", "ocr_assets.cli", "plan", "-e", "local", "--storage-root", "/x"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert err == ""


def test_the_demo_refuses_another_environment_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ocr_assets.demo"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "OCR_ENVIRONMENT": "prod"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_CONFIG_ERROR
    assert result.stderr.strip().splitlines() == [
        "make demo: error: OCR_ENVIRONMENT='prod': make demo deploys the local environment "
        "only; unset OCR_ENVIRONMENT (other environments deploy with `dagster job execute -m "
        "ocr_assets.definitions -j deploy`, see docs/deployment.md)"
    ]


def test_verify_without_credentials_is_one_line_before_any_request(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocr_assets.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ROLE_ARN"):
        clean_env.delenv(name, raising=False)
    assert main(["verify", "-e", "qa"]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ocr-assets verify: error: OCR_STORAGE_ROOT='s3://")
    assert "no AWS credentials are set" in err


def test_a_bad_shard_zoom_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocr_assets.cli import main

    clean_env.setenv("OCR_TILE_SHARD_ZOOM", "5")
    assert main(["plan", "-e", "local"]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert err == (
        "ocr-assets plan: error: OCR_TILE_SHARD_ZOOM='5' is out of range; "
        "use an integer from 6 to 14\n"
    )
