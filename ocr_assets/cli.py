"""The ``ocr-assets`` command line (the console script of ``pyproject.toml``): one sub-command
per deployment task.

Each sub-command is registered by a function ``add_<name>_command(subparsers)`` listed in
:data:`COMMANDS`; it adds its parser and sets ``handler``, a function of the parsed arguments
returning the exit status. Settings come from :meth:`Settings.for_environment` (the env file,
the process, the options); a :class:`~ocr_assets.config.naming.DeploymentError` raised by a
handler is printed as one line naming the setting, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from ocr_assets.config.environments import ENVIRONMENTS
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.plan import build_plan, input_regions
from ocr_assets.config.settings import Settings
from ocr_assets.config.terminal import run_command
from ocr_assets.storage.config import configure

#: Exit status of ``verify`` when an output is missing or stale.
EXIT_VERIFY_FAILED = 1


def _add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """The options every sub-command shares: which deployment, and where its settings are."""
    parser.add_argument("--environment", "-e", required=True, choices=ENVIRONMENTS)
    parser.add_argument("--version", help="semantic version (production requires one)")
    parser.add_argument("--storage-root", help="local folder or s3://bucket/prefix")
    parser.add_argument("--env-file", help="environment file to read instead of the default")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an error")


def _settings(
    args: argparse.Namespace, *options: tuple[str, str, str | None], credentials: bool = False
) -> Settings:
    """The settings of ``args.environment``: its env file (or ``args.env_file``), then the
    ``OCR_*`` variables of the process, then ``--version``, ``--storage-root`` and the
    ``(variable, option, value)`` options given (``None``: not given); messages name an option
    as the user typed it."""
    given = [
        ("OCR_VERSION", "--version", args.version),
        ("OCR_STORAGE_ROOT", "--storage-root", args.storage_root),
        *options,
    ]
    settings = Settings.for_environment(
        args.environment,
        {variable: (option, value) for variable, option, value in given},
        args.env_file,
        credentials=credentials,
    )
    configure(settings.storage)
    return settings


def add_plan_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``plan``: print what a deployment would do, without touching data."""
    parser = subparsers.add_parser(
        "plan",
        help="show what a deployment would do (outputs, regions, branches, retries, compute)",
        description=(
            "Show what a deployment of ENV would do: the storage URI of every output, the "
            "regions, the optional branches, retries and every asset's compute size. Settings "
            "come from the environment's env file in the current folder (or --env-file), then "
            "OCR_* variables of the process, then the options below."
        ),
    )
    _add_deployment_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--regions", help="region IDs (comma or space separated), 'qa', 'staging' or 'all'"
    )
    parser.add_argument(
        "--wipe",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wipe the environment's outputs first (refused in production)",
    )
    parser.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan of ``args.environment``: its selection against the inputs' regions."""
    settings = _settings(
        args,
        ("OCR_REGIONS", "--regions", args.regions),
        ("OCR_WIPE", "--wipe", None if args.wipe is None else str(args.wipe).lower()),
    )
    plan = build_plan(settings, *input_regions(settings))
    print(json.dumps(plan.to_dict(), indent=2) if args.json else plan.render())
    return 0


def add_verify_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``verify``: read back every published output of a deployment."""
    parser = subparsers.add_parser(
        "verify",
        help="read back every published output; fail naming what is missing or stale",
        description=(
            "Read back every output of ENV's deployment (raster store commits per region, "
            "GeoParquet metadata, statistics rows, PMTiles headers and layers, analysis files "
            "and pyramid when their branch is on). Exits 1 naming each output that is missing "
            "or older than the run (--since, default the start recorded by the deploy job)."
        ),
    )
    _add_deployment_options(parser)
    parser.add_argument(
        "--regions",
        help="region selection to check (default: the regions of the last deployment run)",
    )
    parser.add_argument("--since", help="ISO 8601 run start; outputs must not be older")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Verify ``args.environment``'s outputs; 0 when all are there and fresh, else 1."""
    # Imported here: reading outputs back needs the storage stack, ``plan`` does not.
    from ocr_assets.deploy.verify import parse_time, verify_outputs

    settings = _settings(args, ("OCR_REGIONS", "--regions", args.regions), credentials=True)
    plan = build_plan(settings, *input_regions(settings))
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as exc:
        raise DeploymentError(str(exc)) from exc
    verification = verify_outputs(
        plan.layout,
        list(plan.regions) if args.regions else None,
        dict(plan.branches),
        since,
    )
    if args.json:
        print(json.dumps(verification.to_dict(), indent=2))
    else:
        print(verification.render(), file=sys.stdout if verification.ok else sys.stderr)
    return 0 if verification.ok else EXIT_VERIFY_FAILED


def add_preview_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``preview``: serve a local map of a deployment's outputs."""
    parser = subparsers.add_parser(
        "preview",
        help="serve a local map of the outputs (regions, buildings, raster) on 127.0.0.1",
        description=(
            "Serve a MapLibre map of ENV's outputs (regional, building and centroid PMTiles, "
            "the risk pyramid) on http://HOST:PORT/, from a local folder or s3://; storage "
            "credentials stay in this process. Stop with Ctrl-C."
        ),
    )
    _add_deployment_options(parser)
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--base-map",
        metavar="STYLE_URL",
        help="a MapLibre style to draw under the outputs (default: none, works offline)",
    )
    parser.set_defaults(handler=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    """Serve the preview of ``args.environment`` until interrupted."""
    # Imported here: the web server is only needed by this command.
    from ocr_assets.preview.server import PreviewError, serve

    settings = _settings(args, credentials=True)
    if args.base_map and not args.base_map.startswith(("http://", "https://")):
        raise DeploymentError(
            f"--base-map={args.base_map!r}: give the http(s) URL of a MapLibre style JSON"
        )
    try:
        serve(settings.layout, args.host, args.port, settings.input_root, args.base_map)
    except PreviewError as exc:
        raise DeploymentError(str(exc)) from exc
    return 0


#: Sub-command registrations, in help order.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_plan_command,
    add_verify_command,
    add_preview_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``ocr-assets`` parser with every sub-command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="ocr-assets",
        description="Open Climate Risk wildfire pipeline: deployment tools.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ocr-assets``; return the exit status (errors as one line: :func:`run_command`)."""
    args = build_parser().parse_args(argv)
    return run_command(f"ocr-assets {args.command}", lambda: args.handler(args), args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
