"""Helpers for the GitHub Actions deploy workflow: ``python -m ocr_assets.deploy.ci COMMAND``.

``context`` (standard library only: runs from a bare checkout, before installing anything)
    Reads the triggering event and decides whether to deploy, the Coiled software environment
    name, the git ref to build and deploy, the production version and the image name. Writes
    ``deploy``, ``name``, ``ref``, ``version`` and ``image`` to ``$GITHUB_OUTPUT``.
``configure`` (needs the installed package)
    Loads the environment's env file, applies the job's regions / wipe / version / software
    environment, validates everything by building the deployment plan, exports the variables
    to ``$GITHUB_ENV`` for the following steps, and writes ``url`` and ``run_tags`` to
    ``$GITHUB_OUTPUT``.
``instance`` (standard library only)
    Points the following steps at the environment's Dagster instance: with the run-history
    secrets set (:data:`INSTANCE_VARIABLES`), copies ``docker/dagster.yaml`` (Postgres run
    storage, compute logs on S3) into ``--home`` and exports ``DAGSTER_HOME``, so the deployed
    webserver shows the deployment's runs, materializations and check results. Without any of
    them it warns and leaves ``DAGSTER_HOME`` unset (an ephemeral instance); with only some of
    them it fails, naming the missing ones.
``deploy`` (needs the installed package)
    Runs the deployment: ``dagster job execute -m ocr_assets.definitions -j deploy`` with the
    given run tags. With the deployed instance (``DAGSTER_HOME`` and the ``DAGSTER_PG_*``
    variables set), it first checks that the run-history database answers and, when it does
    not, fails in one line naming it (``user@host:port/db``, never the password) without
    starting anything; when the run fails and the database no longer answers, it says so in
    one line after Dagster's own output, and closes the deployment record the run left
    ``running`` as ``failed`` with that line.

Outside Actions (no ``$GITHUB_OUTPUT`` / ``$GITHUB_ENV``) the ``key=value`` lines are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocr_assets.config.naming import DeploymentError, software_env_name, version_from_tag

#: Pull request labels that deploy the PR to QA.
QA_LABELS: frozenset[str] = frozenset({"e2e", "QA/QC"})
#: Marker in a pull request's title or body that deploys it to QA.
QA_MARKER = "[e2e]"
#: Registry the deployment image is pushed to.
IMAGE_REGISTRY = "ghcr.io"
#: The branch whose pushes deploy to staging.
MAIN_BRANCH = "main"
#: Variables the deployed instance configuration (``docker/dagster.yaml``) reads.
INSTANCE_VARIABLES: tuple[str, ...] = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
    "DAGSTER_COMPUTE_LOG_BUCKET",
    "DAGSTER_COMPUTE_LOG_PREFIX",
)
#: Postgres port used when ``DAGSTER_PG_PORT`` is not set.
DEFAULT_PG_PORT = "5432"
#: Seconds ``deploy`` waits for the run-history database to accept a connection.
DATABASE_TIMEOUT_SECONDS = 10
#: What a deployment without the run-history secrets prints (a GitHub Actions warning).
EPHEMERAL_WARNING = (
    "::warning title=Ephemeral Dagster instance::{missing} not set: this deployment's run "
    "history goes to a temporary instance and will not appear in the deployed Dagster UI"
)


@dataclass(frozen=True)
class DeployContext:
    """What the triggering event asks of the deploy workflow.

    Attributes:
        deploy: Whether any deploy job should run.
        name: Coiled software environment name (also the image tag).
        ref: Git ref (commit or tag) to build and deploy.
        version: Production version, empty outside production.
        image: Image reference ``ghcr.io/{owner}/{repo}:{name}``.
    """

    deploy: bool
    name: str
    ref: str
    version: str
    image: str

    def outputs(self) -> dict[str, str]:
        """Step outputs (``deploy`` as ``true``/``false``)."""
        return {
            "deploy": "true" if self.deploy else "false",
            "name": self.name,
            "ref": self.ref,
            "version": self.version,
            "image": self.image,
        }


def wants_qa(pull_request: Mapping[str, Any]) -> bool:
    """Whether a pull request asks for a QA deployment (label or ``[e2e]`` marker)."""
    labels = {label.get("name", "") for label in pull_request.get("labels") or []}
    text = f"{pull_request.get('title') or ''}\n{pull_request.get('body') or ''}"
    return bool(labels & QA_LABELS) or QA_MARKER in text


def deploy_context(
    event_name: str,
    event: Mapping[str, Any],
    ref_name: str,
    sha: str,
    repository: str,
    production_tag: str = "",
) -> DeployContext:
    """Work out the deploy context of one workflow run.

    Args:
        event_name: ``GITHUB_EVENT_NAME``.
        event: The event payload (``GITHUB_EVENT_PATH``'s JSON).
        ref_name: ``GITHUB_REF_NAME`` (branch or tag).
        sha: ``GITHUB_SHA``.
        repository: ``GITHUB_REPOSITORY`` (``owner/name``).
        production_tag: The manual dispatch's ``production_tag`` input (empty: not a re-run).

    Raises:
        DeploymentError: for an unsupported event, or a release / production tag that is not
            a semantic version.
    """
    version = ""
    ref = sha
    if event_name == "pull_request":
        pull_request = event.get("pull_request") or {}
        deploy = wants_qa(pull_request)
        name = software_env_name(f"pr-{pull_request.get('number', '')}")
    elif event_name == "push":
        deploy = ref_name == MAIN_BRANCH
        name = software_env_name(ref_name)
    elif event_name == "release":
        tag = (event.get("release") or {}).get("tag_name", "")
        version = version_from_tag(tag, "release tag")
        deploy = True
        name = software_env_name(f"v{version}")
    elif event_name == "workflow_dispatch":
        deploy = True
        if production_tag.strip():
            version = version_from_tag(production_tag)
            name = software_env_name(f"v{version}")
            ref = f"refs/tags/{production_tag.strip()}"
        else:
            name = software_env_name(ref_name)
    else:
        raise DeploymentError(f"GITHUB_EVENT_NAME={event_name!r} does not deploy")
    image = f"{IMAGE_REGISTRY}/{repository.lower()}:{name}"
    return DeployContext(deploy=deploy, name=name, ref=ref, version=version, image=image)


def write_pairs(pairs: Mapping[str, str], variable: str) -> None:
    """Append ``key=value`` lines to the file named by ``$variable`` (print them when unset).

    Raises:
        DeploymentError: when a value spans lines (it would inject further keys).
    """
    for key, value in pairs.items():
        if "\n" in value or "\r" in value:
            raise DeploymentError(f"{key}: multi-line values cannot be written to ${variable}")
    text = "".join(f"{key}={value}\n" for key, value in pairs.items())
    target = os.environ.get(variable)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def run_context(args: argparse.Namespace) -> int:
    """``context``: write the deploy context of this run to ``$GITHUB_OUTPUT``."""
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    event = json.loads(Path(event_path).read_text(encoding="utf-8")) if event_path else {}
    context = deploy_context(
        event_name=os.environ.get("GITHUB_EVENT_NAME", ""),
        event=event,
        ref_name=os.environ.get("GITHUB_REF_NAME", ""),
        sha=os.environ.get("GITHUB_SHA", ""),
        repository=os.environ.get("GITHUB_REPOSITORY", ""),
        production_tag=args.production_tag,
    )
    write_pairs(context.outputs(), "GITHUB_OUTPUT")
    return 0


def run_configure(args: argparse.Namespace) -> int:
    """``configure``: validate a deployment and export its variables to ``$GITHUB_ENV``."""
    # Imported here: ``context`` must run before the package's dependencies are installed.
    from ocr_assets.config.envfile import layered_variables
    from ocr_assets.config.environments import DEPLOYMENT_RUN_TAG
    from ocr_assets.config.plan import build_plan
    from ocr_assets.config.settings import Settings

    flags = {
        name: value
        for name, value in (
            ("OCR_REGIONS", args.regions),
            ("OCR_WIPE", args.wipe),
            ("OCR_VERSION", args.version),
            ("COILED_SOFTWARE_ENV_NAME", args.software_env),
        )
        if value
    }
    variables = layered_variables(args.environment, flags, os.environ, args.env_file)
    plan = build_plan(Settings.from_variables(variables))
    write_pairs(variables, "GITHUB_ENV")
    write_pairs(
        {
            "url": plan.url or "",
            "run_tags": json.dumps({DEPLOYMENT_RUN_TAG: plan.environment}),
        },
        "GITHUB_OUTPUT",
    )
    print(plan.render(), file=sys.stderr)
    return 0


def prepare_instance(home: Path, config: Path, environ: Mapping[str, str]) -> Path | None:
    """Set up ``home`` as a Dagster home using ``config``; ``None`` for an ephemeral instance.

    Raises:
        DeploymentError: when only some of :data:`INSTANCE_VARIABLES` are set, or ``config``
            is missing.
    """
    present = [name for name in INSTANCE_VARIABLES if environ.get(name)]
    if not present:
        return None
    missing = [name for name in INSTANCE_VARIABLES if name not in present]
    if missing:
        raise DeploymentError(
            f"the Dagster instance needs {', '.join(INSTANCE_VARIABLES)}; "
            f"{', '.join(missing)} not set"
        )
    if not config.is_file():
        raise DeploymentError(f"instance configuration {config} not found")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config, home / "dagster.yaml")
    return home


def run_instance(args: argparse.Namespace) -> int:
    """``instance``: export ``DAGSTER_HOME`` for the environment's instance, or warn."""
    home = prepare_instance(Path(args.home).resolve(), Path(args.config), os.environ)
    if home is None:
        print(EPHEMERAL_WARNING.format(missing=", ".join(INSTANCE_VARIABLES)))
        return 0
    port = os.environ.get("DAGSTER_PG_PORT") or DEFAULT_PG_PORT
    if not port.isdigit():
        raise DeploymentError(f"DAGSTER_PG_PORT must be a port number, got {port!r}")
    write_pairs({"DAGSTER_HOME": str(home), "DAGSTER_PG_PORT": port}, "GITHUB_ENV")
    print(f"Dagster instance: {home / 'dagster.yaml'} (run history in Postgres)", file=sys.stderr)
    return 0


def database_name(environ: Mapping[str, str]) -> str:
    """``user@host:port/db`` of the run-history database (never the password)."""
    port = environ.get("DAGSTER_PG_PORT") or DEFAULT_PG_PORT
    return (
        f"{environ.get('DAGSTER_PG_USERNAME', '')}@{environ.get('DAGSTER_PG_HOST', '')}:"
        f"{port}/{environ.get('DAGSTER_PG_DB', '')}"
    )


def database_problem(
    environ: Mapping[str, str], timeout: float = DATABASE_TIMEOUT_SECONDS
) -> str | None:
    """Why the run-history database of ``environ`` does not answer; ``None`` when it answers,
    or when there is none to check (no ``DAGSTER_HOME`` or ``DAGSTER_PG_HOST``: another
    instance, or an ephemeral one)."""
    if not environ.get("DAGSTER_HOME") or not environ.get("DAGSTER_PG_HOST"):
        return None
    import psycopg2  # installed with dagster-postgres, after ``context`` ran

    try:
        connection = psycopg2.connect(
            host=environ["DAGSTER_PG_HOST"],
            port=environ.get("DAGSTER_PG_PORT") or DEFAULT_PG_PORT,
            user=environ.get("DAGSTER_PG_USERNAME", ""),
            password=environ.get("DAGSTER_PG_PASSWORD", ""),
            dbname=environ.get("DAGSTER_PG_DB", ""),
            connect_timeout=max(1, round(timeout)),
        )
    except psycopg2.Error as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return lines[0] if lines else type(error).__name__
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except psycopg2.Error as error:
        return str(error).strip().splitlines()[0]
    finally:
        connection.close()
    return None


def run_deploy(args: argparse.Namespace) -> int:
    """``deploy``: run the deploy job, failing in one line while the run history is down."""
    from ocr_assets.config.environments import DEPLOYMENT_JOB

    name = database_name(os.environ)
    problem = database_problem(os.environ, args.database_timeout)
    if problem:
        raise DeploymentError(
            f"the run-history database {name} does not answer ({problem}); nothing was "
            "started: start the database (or correct DAGSTER_PG_HOST, DAGSTER_PG_PORT, "
            "DAGSTER_PG_DB) and run the deployment again"
        )
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "execute",
        "-m",
        "ocr_assets.definitions",
        "-j",
        DEPLOYMENT_JOB,
    ]
    if args.tags:
        command += ["--tags", args.tags]
    print(f"running: {shlex.join(command[2:])}", file=sys.stderr, flush=True)
    started_at = dt.datetime.now(dt.UTC)
    code = subprocess.run(command, check=False).returncode
    if code != 0:
        problem = database_problem(os.environ, args.database_timeout)
        if problem:
            message = (
                f"the deployment failed: the run-history database {name} stopped answering "
                f"during the run ({problem}); regions committed so far stay committed and no "
                "roll-up was replaced; once the database is back, run the deployment again "
                "(committed regions are skipped)"
            )
            close_interrupted_record(message, started_at)
            raise DeploymentError(message)
    return code


def close_interrupted_record(message: str, since: dt.datetime) -> None:
    """Close the deployment record as ``failed`` with ``message`` when a run started at or
    after ``since`` left it ``running`` (its run could not close it)."""
    from ocr_assets.config.settings import Settings
    from ocr_assets.storage import Layout, objects, write_json
    from ocr_assets.storage.config import configure

    settings = Settings.from_env()
    configure(settings.storage)
    layout = Layout(settings.storage_root, settings.environment, settings.version)
    record = objects.read_json(layout.deployment_record)
    if not record or record.get("status") != "running":
        return
    if dt.datetime.fromisoformat(record["started_at"]) < since:
        return
    completed_at = dt.datetime.now(dt.UTC).isoformat()
    write_json(
        layout.deployment_record,
        {**record, "status": "failed", "error": message, "completed_at": completed_at},
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m ocr_assets.deploy.ci``."""
    parser = argparse.ArgumentParser(prog="python -m ocr_assets.deploy.ci")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    context = subparsers.add_parser("context", help="deploy context of this workflow run")
    context.add_argument("--production-tag", default="", help="manual production re-run tag")
    context.set_defaults(handler=run_context)
    configure = subparsers.add_parser("configure", help="validate and export a deployment")
    configure.add_argument("--environment", required=True)
    configure.add_argument("--regions", default="", help="empty: the environment's default")
    configure.add_argument("--wipe", default="", help="true/false; empty: false")
    configure.add_argument("--version", default="", help="semantic version (production)")
    configure.add_argument("--software-env", default="", help="Coiled software environment")
    configure.add_argument("--env-file", help="default: the environment's file in this folder")
    configure.set_defaults(handler=run_configure)
    instance = subparsers.add_parser("instance", help="point DAGSTER_HOME at the instance")
    instance.add_argument("--home", required=True, help="folder to use as DAGSTER_HOME")
    instance.add_argument("--config", default="docker/dagster.yaml", help="instance config")
    instance.set_defaults(handler=run_instance)
    deploy = subparsers.add_parser("deploy", help="run the deploy job (dagster job execute)")
    deploy.add_argument("--tags", default="", help="run tags (JSON), the configure step's")
    deploy.add_argument(
        "--database-timeout",
        type=float,
        default=DATABASE_TIMEOUT_SECONDS,
        help="seconds to wait for the run-history database to accept a connection",
    )
    deploy.set_defaults(handler=run_deploy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one helper; configuration errors print one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DeploymentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
