"""The commands of README.md and docs/*.md run as written, in a copy of the repository.

The conventions (docs/development.md): ``bash`` blocks run on a laptop after ``make demo``,
each line after the ``source`` / ``export`` lines before it; serving commands must answer on
the address in their comment; ``make test`` / ``pytest`` lines are the suite itself (and
``make lint``, which CI runs before it); ``python`` blocks run with the project's interpreter;
``console`` blocks need the cloud and are parsed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocr_assets.cli import build_parser
from ocr_assets.code_location import build_definitions
from ocr_assets.config.environments import DEPLOYMENT_VARIABLES
from ocr_assets.config.settings import Settings
from ocr_assets_tests.helpers import REPO_ROOT

pytestmark = pytest.mark.integration

#: README first (its first block is `make demo`), then the docs in name order.
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
#: Commands that serve until stopped.
SERVING = re.compile(r"^(make (ui|preview)|ocr-assets preview|dg dev)\b")
#: The test suite itself, and the linters CI runs before it (`.ci/run`: `make lint`).
SUITE = re.compile(r"^(make (test|test-fast|lint)|(\.venv/bin/)?pytest)\b")
#: Commands that drive the system Chromium (skipped, like the ui tests, where it is missing).
BROWSER = re.compile(r"scripts/(preview|ui)_smoke\.py")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    document: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO_ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """Its command lines, continuation lines joined, comment-only lines left out."""
        commands: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line and not line.startswith("#"):
                commands.append(line)
        return commands


def blocks(document: Path) -> list[Block]:
    """Every fenced block of ``document``."""
    found: list[Block] = []
    language, start, lines = None, 0, []
    for number, line in enumerate(document.read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, start, lines = fence.group(1), number, []
        elif line.startswith("```") and language is not None:
            found.append(Block(document, start, language, "\n".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    assert language is None, f"{document}: unclosed block from line {start}"
    return found


def strip_comment(command: str) -> tuple[str, str]:
    """``(command, comment)``: the comment after an unquoted ``#``."""
    in_quote = None
    for index, char in enumerate(command):
        if char in "'\"":
            in_quote = None if in_quote == char else (in_quote or char)
        elif char == "#" and in_quote is None and (index == 0 or command[index - 1] == " "):
            return command[:index].strip(), command[index + 1 :].strip()
    return command.strip(), ""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's files (its .venv linked), as a reader's clone."""
    if not (REPO_ROOT / ".venv" / "bin" / "dagster").exists() or shutil.which("make") is None:
        pytest.skip("make or the repository's .venv is missing")
    root = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    return root


def environment() -> dict[str, str]:
    """A reader's shell: no deployment variable, no Dagster home, no virtual environment on
    the PATH (a page that runs ``ocr-assets`` must ``source .venv/bin/activate`` first)."""
    drop = {*DEPLOYMENT_VARIABLES, "DAGSTER_HOME", "VIRTUAL_ENV"}
    shell = {key: value for key, value in os.environ.items() if key not in drop}
    venvs = {os.environ.get("VIRTUAL_ENV", ""), str(REPO_ROOT / ".venv")} - {""}
    shell["PATH"] = os.pathsep.join(
        entry
        for entry in shell.get("PATH", "").split(os.pathsep)
        if not any(entry.startswith(venv) for venv in venvs)
    )
    return shell


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass
class Reader:
    """Runs commands in the sandbox as a person following the page does."""

    root: Path
    prelude: list[str]

    def script(self, command: str) -> str:
        return "\n".join(["set -e", *self.prelude, command])

    def run(self, command: str, where: str, timeout: float = 600) -> None:
        result = subprocess.run(
            ["bash", "-c", self.script(command)],
            cwd=self.root,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"{where}: `{command}` exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )

    def serve(self, command: str, comment: str, where: str) -> None:
        match = re.search(r"http://127\.0\.0\.1:(\d+)", comment)
        assert match, f"{where}: `{command}` serves; its comment must give its address"
        url = match.group(0)
        assert not answers(url), f"{where}: {url} is already in use; stop what serves it"
        process = subprocess.Popen(
            ["bash", "-c", self.script(f"exec {command.rstrip('&').strip()}")],
            cwd=self.root,
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not answers(url):
                assert process.poll() is None, f"{where}: `{command}` exited {process.returncode}"
                assert time.monotonic() < deadline, f"{where}: {url} never answered"
                time.sleep(1)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_every_bash_and_python_block_runs_as_written(sandbox: Path) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    ran: list[str] = []
    for document in DOCUMENTS:
        reader = Reader(sandbox, [])
        python: list[str] = []
        for block in blocks(document):
            if block.language == "python":
                python.append(block.text)
            if block.language != "bash":
                continue
            for line in block.commands():
                command, comment = strip_comment(line)
                if command.startswith(("source ", "export ")):
                    reader.run(command, block.where)
                    reader.prelude.append(command)
                elif SUITE.match(command):
                    target = command.split()[1] if command.startswith("make") else "test"
                    assert f"\n{target}:" in makefile or target == "test", command
                elif SERVING.match(command):
                    reader.serve(command, comment, block.where)
                elif BROWSER.search(command) and shutil.which("chromium") is None:
                    continue
                else:
                    reader.run(command, block.where)
                ran.append(command)
        if python:
            script = sandbox / "docs-example.py"
            script.write_text("\n\n".join(python))
            reader.run(f".venv/bin/python {script.name}", str(document.relative_to(REPO_ROOT)))
    assert ran[0] == "make demo" and "make ui &" in ran


def console_blocks() -> Iterator[tuple[str, str]]:
    for document in DOCUMENTS:
        for block in blocks(document):
            if block.language == "console":
                for line in block.commands():
                    yield block.where, strip_comment(line)[0]


def test_commands_that_need_the_cloud_are_well_formed() -> None:
    jobs = {job.name for job in build_definitions(Settings()).resolve_all_job_defs()}
    checked = 0
    for where, command in console_blocks():
        words = shlex.split(command)
        while words and re.match(r"^[A-Z_]+=", words[0]):
            words.pop(0)
        program = Path(words[0]).name if words else ""
        if program == "ocr-assets":
            try:
                build_parser().parse_args(words[1:])
            except SystemExit as exit_:
                pytest.fail(f"{where}: `{command}` does not parse (exit {exit_.code})")
            checked += 1
        elif program == "dagster":
            job = words[words.index("-j") + 1]
            assert job in jobs, f"{where}: no job {job!r}"
            if "--tags" in words:
                json.loads(words[words.index("--tags") + 1])
            checked += 1
    assert checked >= 3
