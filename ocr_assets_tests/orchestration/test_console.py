"""The terminal logger: a run's own messages and failures as short lines; child runs quiet."""

import re

import dagster as dg
import pytest

from ocr_assets.orchestration.console import (
    PARENT_RUN_TAG,
    child_console_config,
    console_config,
    console_logger,
)


@dg.op
def says_and_fails(context: dg.OpExecutionContext) -> None:
    context.log.info("[1/2] y0_x1 ok in 2.0 s")
    context.log.debug("a detail")
    context.log.warning("store is slow")
    raise RuntimeError("inputs unreadable\nsecond line of the error")


@dg.job(logger_defs={"console": console_logger})
def example() -> None:
    says_and_fails()


def run(run_config: dict, tags: dict | None = None) -> None:
    example.execute_in_process(run_config=run_config, tags=tags, raise_on_error=False)


def stamped(err: str) -> list[str]:
    lines = err.splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d  ", line) for line in lines), err
    return [line[10:] for line in lines]


def test_a_run_prints_its_messages_and_failures_one_short_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(console_config(verbose=False))
    assert stamped(capsys.readouterr().err) == [
        "[1/2] y0_x1 ok in 2.0 s",
        "WARNING says_and_fails: store is slow",
        "ERROR says_and_fails failed: RuntimeError: inputs unreadable",
    ]


def test_a_child_run_prints_only_its_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    run(child_console_config(console_config(verbose=False)), tags={PARENT_RUN_TAG: "parent"})
    assert stamped(capsys.readouterr().err) == ["WARNING says_and_fails: store is slow"]


def test_verbose_prints_every_message_with_its_run_and_the_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = child_console_config(console_config(verbose=True, log_level="DEBUG"))
    assert config["loggers"]["console"]["config"] == {"log_level": "DEBUG", "verbose": True}
    run(config, tags={PARENT_RUN_TAG: "parent"})
    err = capsys.readouterr().err
    assert "example " in err and "says_and_fails  a detail" in err
    assert "Traceback" in err or "Stack Trace" in err
    assert "second line of the error" in err


def test_metadata_reads_as_a_person_would_write_it() -> None:
    from ocr_assets.orchestration.readable import rounded, significant, size_text

    assert size_text(512) == "512 bytes"
    assert size_text(3_412_345) == "3.25 MiB"
    assert size_text(5 * 1024**3) == "5 GiB"
    assert significant(0.27417395116043091) == 0.2742
    assert significant(123456.7) == 123500.0
    assert rounded({"a": [0.123456, 2], "b": "x"}) == {"a": [0.1235, 2], "b": "x"}
