"""``make demo``: materialize the whole asset graph for every valid region, on one machine.

Steps:

1. Make sure the inputs exist: generate the synthetic mini-CONUS under ``OCR_INPUT_ROOT`` when
   that folder is missing, empty, or holds an (incomplete) synthetic set. A folder holding other
   data (the real inputs) is used as it is.
2. Load the Definitions and the persistent Dagster instance (``DAGSTER_HOME``, default
   ``./.dagster``), so ``make ui`` shows every run and materialization made here.
3. Materialize ``wind_direction_distribution`` when it is missing, then each region whose
   rasters or buildings are missing, one run per region, printing progress; then any other
   (roll-up) asset of the code location. A region counts as done only when the instance
   recorded both materializations *and* its outputs exist (raster store commit, GeoParquet
   file), so deleting outputs or the instance both lead to a recompute. ``--force`` recomputes
   everything.
4. Print a summary; exit non-zero naming the regions that failed.
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

from ocr_assets.assets.wind import GROUP as PHASE01_GROUP
from ocr_assets.definitions import ALL_ASSETS_JOB, PHASE01_JOB, build_definitions
from ocr_assets.regions import RegionGrid
from ocr_assets.resources import OutputStorage
from ocr_assets.settings import Settings, SettingsError
from ocr_assets.synthetic import MANIFEST_FILE, generate_inputs

WIND = dg.AssetKey("wind_direction_distribution")
RASTERS = dg.AssetKey("region_risk_rasters")
BUILDINGS = dg.AssetKey("region_buildings")

#: Keep Dagster's per-event console log out of the progress lines; warnings and errors still show.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


@dataclass
class DemoReport:
    """What a demo run did."""

    regions: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    buildings: int = 0
    seconds: float = 0.0


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


def ensure_dagster_home(default: Path) -> Path:
    """Point ``DAGSTER_HOME`` at a folder (default ``default``) holding the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or default).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and DAGSTER_YAML.exists():
        shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's message (one line), or the run's status."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return "run failed"


def _row_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def run_demo(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    storage: OutputStorage,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> DemoReport:
    """Materialize what is missing (everything with ``force``) and report what happened."""
    started = time.perf_counter()
    report = DemoReport()
    phase01 = defs.resolve_job_def(PHASE01_JOB)

    wind_missing = not Path(storage.paths.wind_distribution).exists()
    if force or wind_missing or instance.get_latest_materialization_event(WIND) is None:
        t0 = time.perf_counter()
        result = phase01.execute_in_process(
            instance=instance,
            asset_selection=[WIND],
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        if not result.success:
            report.failed[WIND.to_user_string()] = _failure_message(result)
            report.seconds = time.perf_counter() - started
            return report
        say(f"wind_direction_distribution ... {time.perf_counter() - t0:.1f} s")

    report.regions = list(phase01.partitions_def.get_partition_keys())
    committed = storage.raster_store().committed_regions()
    recorded = instance.get_materialized_partitions(RASTERS) & instance.get_materialized_partitions(
        BUILDINGS
    )
    todo = [
        region_id
        for region_id in report.regions
        if force
        or region_id not in recorded
        or region_id not in committed
        or not Path(storage.paths.region_buildings(region_id)).exists()
    ]
    say(
        f"regions: {len(report.regions)} valid, {len(report.regions) - len(todo)} already "
        f"materialized, {len(todo)} to compute"
    )
    for number, region_id in enumerate(todo, start=1):
        t0 = time.perf_counter()
        result = phase01.execute_in_process(
            instance=instance,
            partition_key=region_id,
            asset_selection=[RASTERS, BUILDINGS],
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        elapsed = time.perf_counter() - t0
        if result.success:
            report.computed.append(region_id)
            rows = _row_count(Path(storage.paths.region_buildings(region_id)))
            say(f"[{number}/{len(todo)}] {region_id} ... {elapsed:.1f} s, {rows} buildings")
        else:
            report.failed[region_id] = _failure_message(result)
            say(
                f"[{number}/{len(todo)}] {region_id} ... FAILED after {elapsed:.1f} s: "
                f"{report.failed[region_id]}"
            )

    rollup_selection = dg.AssetSelection.all() - dg.AssetSelection.groups(PHASE01_GROUP)
    rollups = sorted(
        rollup_selection.resolve(defs.resolve_asset_graph()), key=lambda key: key.to_user_string()
    )
    stale = [key for key in rollups if instance.get_latest_materialization_event(key) is None]
    if rollups and not report.failed and (force or report.computed or stale):
        t0 = time.perf_counter()
        result = defs.resolve_job_def(ALL_ASSETS_JOB).execute_in_process(
            instance=instance,
            asset_selection=rollups,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        names = ", ".join(key.to_user_string() for key in rollups)
        if result.success:
            say(f"roll-ups ({names}) ... {time.perf_counter() - t0:.1f} s")
        else:
            report.failed["roll-ups"] = _failure_message(result)

    report.buildings = sum(
        _row_count(Path(storage.paths.region_buildings(region_id))) for region_id in report.regions
    )
    report.seconds = time.perf_counter() - started
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m ocr_assets.demo",
        description="Materialize the OCR asset graph for every valid region (what `make demo` runs).",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute regions that are already materialized"
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    ensure_inputs(settings.input_root, print)
    home = ensure_dagster_home(Path.cwd() / ".dagster")
    print(f"dagster home: {home}; outputs under {settings.storage_root} ({settings.environment})")
    storage = OutputStorage.from_settings(settings)
    with dg.DagsterInstance.get() as instance:
        report = run_demo(build_definitions(settings), instance, storage, force=args.force)

    print(
        f"summary: {len(report.regions)} regions ({len(report.computed)} computed now), "
        f"{report.buildings} buildings, {report.seconds:.1f} s"
    )
    if report.failed:
        for name, message in report.failed.items():
            print(f"failed: {name}: {message}", file=sys.stderr)
        print(f"FAILED: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
