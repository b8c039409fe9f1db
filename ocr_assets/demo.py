"""``make demo``: a deployment of the ``local`` environment, on the code path CI deploys with.

Steps:

1. Make sure the inputs exist: generate the synthetic mini-CONUS under ``OCR_INPUT_ROOT`` when
   that folder is missing, empty, or holds an (incomplete) synthetic set. A folder holding other
   data (the real inputs) is used as it is.
2. Open the persistent Dagster instance (``DAGSTER_HOME``, default ``./.dagster``), so
   ``make ui`` shows every run, materialization and check result made here; runs of processes
   killed earlier are marked failed there (:mod:`ocr_assets.orchestration.run_monitoring`).
3. Run the ``deploy`` job (:mod:`ocr_assets.deploy.job`, what CI runs with ``dagster job
   execute -j deploy``) on the local Dask cluster: the wind distribution when missing, one child
   run per region not yet in the raster store (a progress line each), then the roll-ups.
   ``--force`` sets ``OCR_FORCE`` (every region again). The deployment takes the local
   environment's lease: a second ``make demo`` at the same time refuses naming the first (or,
   with ``--wait``, waits for it); the lease of a demo that was killed is taken over at once.
4. Print a summary from the deployment record; exit non-zero naming what failed. Afterwards
   ``ocr-assets verify --environment local`` passes.
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from ocr_assets.code_location import build_definitions
from ocr_assets.config.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.config.terminal import run_command
from ocr_assets.deploy.job import step_failures
from ocr_assets.deploy.progress import duration
from ocr_assets.orchestration.console import console_config
from ocr_assets.orchestration.run_monitoring import fail_dead_runs
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import Layout, objects
from ocr_assets.storage.config import configure
from ocr_assets.synthetic import MANIFEST_FILE, generate_inputs

#: The local instance's settings (kept out of the repository root, where Dagster would warn
#: that a dagster.yaml outside DAGSTER_HOME is ignored).
DAGSTER_YAML = Path(__file__).resolve().parent.parent / "instance" / "dagster.yaml"


@dataclass
class DemoReport:
    """What a demo run did (from the deploy run, its deployment record and the roll-ups' records).

    Attributes:
        run_id: The deploy run.
        regions: The selected regions.
        computed: Selected regions processed by this run.
        skipped: Selected regions already complete in storage.
        failed: Each failed op of the deploy run and its error message.
        rollups: The roll-ups this run built.
        rollup_regions: The regions those roll-ups were built from (every committed region).
        buildings: The buildings of :attr:`rollup_regions` (0 when no roll-up was built).
        seconds: Wall time of the run.
        outputs: Each roll-up's published locations.
    """

    run_id: str = ""
    regions: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rollups: list[str] = field(default_factory=list)
    rollup_regions: list[str] = field(default_factory=list)
    buildings: int = 0
    seconds: float = 0.0
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def ensure_inputs(input_root: str, say: Callable[[str], None]) -> None:
    """Generate the synthetic inputs under ``input_root`` unless it holds other data."""
    root = Path(input_root)
    if "://" in input_root:
        say(f"inputs: using {input_root}")
        return
    manifest = root / MANIFEST_FILE
    if manifest.exists():
        # Complete (or keep) the synthetic set with the parameters it was generated with.
        recorded = json.loads(manifest.read_text())
        parameters = {key: recorded[key] for key in ("seed", "n_buildings", "hours")}
        summary = generate_inputs(root, grid=RegionGrid(**recorded["grid"]), **parameters)
    elif root.exists() and any(root.iterdir()):
        say(f"inputs: using the data sets under {root}")
        return
    else:
        summary = generate_inputs(root)
    say(
        f"inputs: synthetic mini-CONUS under {root} ({len(summary['written'])} written, "
        f"{len(summary['kept'])} kept, {summary['seconds']:.1f} s)"
    )


def ensure_dagster_home(home: Path) -> Path:
    """Make ``home`` a Dagster home holding the project's dagster.yaml; return it, absolute."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and DAGSTER_YAML.exists():
        shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    return home


def _row_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def run_demo(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    layout: Layout,
    run_config: dict | None = None,
) -> DemoReport:
    """Run ``defs``' ``deploy`` job on ``instance`` and report what it did (``layout``: where
    the deployment writes)."""
    started = time.perf_counter()
    result = defs.resolve_job_def(DEPLOYMENT_JOB).execute_in_process(
        instance=instance,
        run_config=run_config,
        tags={DEPLOYMENT_RUN_TAG: layout.environment},
        raise_on_error=False,
    )
    report = DemoReport(run_id=result.run_id, failed=step_failures(result))
    record_path = Path(layout.deployment_record)
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if record.get("run_id") == result.run_id:
        report.regions = list(record.get("regions", []))
        report.computed = list(record.get("processed", []))
        report.skipped = list(record.get("skipped", []))
        report.rollups = list(record.get("rollups", []))
    built = {asset: tuple(layout.outputs(asset).values()) for asset in report.rollups}
    report.outputs = {
        asset: locations
        for asset, locations in built.items()
        if all(objects.exists(location) for location in locations)
    }
    for asset in report.rollups:
        record = objects.read_json(layout.rollup_record(asset)) or {}
        report.rollup_regions = max(report.rollup_regions, record.get("regions", []), key=len)
    report.buildings = sum(
        _row_count(Path(layout.region_buildings(region_id))) for region_id in report.rollup_regions
    )
    report.seconds = time.perf_counter() - started
    return report


def summary_lines(report: DemoReport, ui_url: str) -> list[str]:
    """The lines closing a demo: what ran, what the roll-ups hold, where to look."""
    selected = (
        f"{len(report.regions)} region(s) selected ({len(report.computed)} computed now, "
        f"{len(report.skipped)} already in the raster store)"
    )
    built = (
        f"{len(report.rollups)} roll-up(s) built from {len(report.rollup_regions)} region(s), "
        f"{report.buildings:,} buildings"
        if report.rollups
        else "no roll-up built"
    )
    lines = [f"summary: {selected}; {built}; {duration(report.seconds)}"]
    for name, locations in report.outputs.items():
        where = locations[0] if len(locations) == 1 else f"{os.path.commonpath(locations)}/"
        lines.append(f"  {name}: {where}")
    lines.append(f"  runs: `make ui`, then {ui_url}/runs/{report.run_id}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m ocr_assets.demo",
        description="Deploy the local environment on the synthetic inputs (what `make demo` runs).",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="reprocess regions already in the raster store (OCR_FORCE=true)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait for another deployment of the environment to end instead of refusing "
        "(OCR_LEASE_WAIT=true)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print every run's messages with their run and step, and tracebacks",
    )
    args = parser.parse_args(argv)
    return run_command(
        "make demo", lambda: deploy_demo(args.force, args.verbose, args.wait), args.verbose
    )


def deploy_demo(force: bool, verbose: bool, wait: bool = False) -> int:
    """Deploy the local environment of the process's settings; print the summary; the exit
    status (1 when an op failed)."""
    environment = Settings.environment_from_env()
    if environment != "local":
        raise SettingsError(
            f"OCR_ENVIRONMENT={environment!r}: make demo deploys the local environment only; "
            "unset OCR_ENVIRONMENT (other environments deploy with `dagster job execute -m "
            "ocr_assets.definitions -j deploy`, see docs/deployment.md)"
        )
    settings = Settings.from_env()
    if force:
        settings = settings.with_changes(force=True)
    if wait:
        settings = settings.with_changes(lease_wait=True)
    configure(settings.storage)
    ensure_inputs(settings.input_root, print)
    home = ensure_dagster_home(Path(settings.dagster_home or Path.cwd() / ".dagster"))
    print(f"dagster home: {home}; outputs under {settings.storage_root} ({settings.environment})")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} was killed earlier: marked failed")
        report = run_demo(
            build_definitions(settings), instance, settings.layout, console_config(verbose)
        )
    for line in summary_lines(report, settings.ui_url):
        print(line)
    if report.failed:
        print(f"FAILED: {', '.join(report.failed)} (the error is above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
