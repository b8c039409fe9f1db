"""``make demo``: materialize the whole asset graph for every valid region, on one machine.

Steps:

1. Make sure the inputs exist: generate the synthetic mini-CONUS under ``OCR_INPUT_ROOT`` when
   that folder is missing, empty, or holds an (incomplete) synthetic set. A folder holding other
   data (the real inputs) is used as it is.
2. Load the Definitions and the persistent Dagster instance (``DAGSTER_HOME``, default
   ``./.dagster``), so ``make ui`` shows every run and materialization made here; runs of
   processes killed earlier are marked failed there (:mod:`ocr_assets.run_monitoring`).
3. Materialize ``wind_direction_distribution`` when it is missing, then, one run per region,
   each region's partitioned assets that are missing (rasters, buildings and the per-region
   roll-up inputs: statistics partials, tile features), printing progress. A region asset
   counts as done only when the instance recorded its materialization *and* its outputs exist
   (raster store commit, files), so deleting outputs or the instance both lead to a recompute;
   what is downstream of a recomputed asset is recomputed too.
4. Materialize the roll-ups (every unpartitioned asset the ``all_assets`` job selects, so the
   optional-branch flags apply) in one run: those never materialized, whose outputs are gone,
   or older than an upstream materialization (any region (re)computed), and everything
   downstream of them. ``--force`` recomputes everything.
5. Print a summary with the roll-up outputs; exit non-zero naming what failed.
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from ocr_assets.assets.rollup_support import REGION_OUTPUTS, ROLLUP_OUTPUTS, outputs_exist
from ocr_assets.assets.wind import GROUP as PHASE01_GROUP
from ocr_assets.definitions import ALL_ASSETS_JOB, PHASE01_JOB, build_definitions
from ocr_assets.regions import RegionGrid
from ocr_assets.resources import OutputStorage
from ocr_assets.run_monitoring import fail_dead_runs
from ocr_assets.settings import Settings, SettingsError
from ocr_assets.synthetic import MANIFEST_FILE, generate_inputs

WIND = dg.AssetKey("wind_direction_distribution")
RASTERS = dg.AssetKey("region_risk_rasters")

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
    rollups: list[str] = field(default_factory=list)
    rollups_computed: list[str] = field(default_factory=list)
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


def _describe(metadata: Mapping[str, dg.MetadataValue]) -> str:
    """A few numbers of a roll-up's materialization metadata, for a progress line."""
    parts = []
    if "dagster/row_count" in metadata:
        parts.append(f"{metadata['dagster/row_count'].value} rows")
    size = metadata.get("file_size_bytes") or metadata.get("consolidated_bytes")
    if size is not None:
        parts.append(f"{size.value / 1e6:.2f} MB")
    if "min_zoom" in metadata and "max_zoom" in metadata:
        parts.append(f"zoom {metadata['min_zoom'].value}..{metadata['max_zoom'].value}")
    if "levels" in metadata and isinstance(metadata["levels"], dg.TextMetadataValue):
        parts.append(f"levels {metadata['levels'].value}")
    return f", {', '.join(parts)}" if parts else ""


def stale_rollups(
    rollups: Sequence[dg.AssetKey],
    parents: Mapping[dg.AssetKey, AbstractSet[dg.AssetKey]],
    instance: dg.DagsterInstance,
    storage: OutputStorage,
) -> list[dg.AssetKey]:
    """The roll-ups (in ``rollups``' order, upstream first) that need materializing.

    A roll-up is stale when it was never materialized, an output is missing, a parent (a region
    asset or another roll-up) was materialized after it, or a parent roll-up is stale.
    """

    def latest(key: dg.AssetKey) -> float | None:
        event = instance.get_latest_materialization_event(key)
        return None if event is None else event.timestamp

    stale: list[dg.AssetKey] = []
    for key in rollups:
        materialized = latest(key)
        outputs = ROLLUP_OUTPUTS.get(key)
        if (
            materialized is None
            or (outputs is not None and not outputs_exist(outputs(storage.paths)))
            or any(parent in stale for parent in parents[key])
            or any((latest(parent) or 0.0) > materialized for parent in parents[key])
        ):
            stale.append(key)
    return stale


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
    all_assets = defs.resolve_job_def(ALL_ASSETS_JOB)
    graph = defs.resolve_asset_graph()
    selected = all_assets.asset_layer.selected_asset_keys
    ordered = [key for key in graph.toposorted_asset_keys if key in selected]
    region_keys = [key for key in ordered if graph.get(key).is_partitioned]
    committed = storage.raster_store().committed_regions()
    recorded = {key: instance.get_materialized_partitions(key) for key in region_keys}

    def done(key: dg.AssetKey, region_id: str) -> bool:
        if region_id not in recorded[key]:
            return False
        if key == RASTERS:
            return region_id in committed
        outputs = REGION_OUTPUTS.get(key)
        return outputs is None or outputs_exist(outputs(storage.paths, region_id))

    todo: dict[str, list[dg.AssetKey]] = {}
    for region_id in report.regions:
        missing = [key for key in region_keys if force or not done(key, region_id)]
        if missing:
            downstream = dg.AssetSelection.assets(*missing).downstream().resolve(graph)
            todo[region_id] = [key for key in region_keys if key in downstream]
    say(
        f"regions: {len(report.regions)} valid, {len(report.regions) - len(todo)} already "
        f"materialized, {len(todo)} to compute"
    )
    for number, (region_id, keys) in enumerate(todo.items(), start=1):
        t0 = time.perf_counter()
        result = all_assets.execute_in_process(
            instance=instance,
            partition_key=region_id,
            asset_selection=keys,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        elapsed = time.perf_counter() - t0
        if result.success:
            report.computed.append(region_id)
            rows = _row_count(Path(storage.paths.region_buildings(region_id)))
            only = (
                "" if keys == region_keys else f" ({', '.join(k.to_user_string() for k in keys)})"
            )
            say(f"[{number}/{len(todo)}] {region_id} ... {elapsed:.1f} s, {rows} buildings{only}")
        else:
            report.failed[region_id] = _failure_message(result)
            say(
                f"[{number}/{len(todo)}] {region_id} ... FAILED after {elapsed:.1f} s: "
                f"{report.failed[region_id]}"
            )

    rollups = [
        key
        for key in ordered
        if not graph.get(key).is_partitioned and graph.get(key).group_name != PHASE01_GROUP
    ]
    report.rollups = [key.to_user_string() for key in rollups]
    parents = {key: graph.get(key).parent_keys for key in rollups}
    stale = rollups if force else stale_rollups(rollups, parents, instance, storage)
    if stale and not report.failed:
        say(
            f"roll-ups: {len(rollups)} selected, {len(rollups) - len(stale)} up to date, "
            f"{len(stale)} to materialize ({', '.join(key.to_user_string() for key in stale)})"
        )
        t0 = time.perf_counter()
        result = all_assets.execute_in_process(
            instance=instance,
            asset_selection=stale,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        seconds = {
            event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.all_events
            if event.is_step_success
        }
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            name = materialization.asset_key.to_user_string()
            report.rollups_computed.append(name)
            say(
                f"  {name} ... {seconds.get(event.step_key, 0.0):.1f} s"
                f"{_describe(materialization.metadata)}"
            )
        say(f"roll-ups ... {time.perf_counter() - t0:.1f} s")
        if not result.success:
            report.failed["roll-ups"] = _failure_message(result)
    report.outputs = {
        key.to_user_string(): ROLLUP_OUTPUTS[key](storage.paths)
        for key in rollups
        if key in ROLLUP_OUTPUTS and outputs_exist(ROLLUP_OUTPUTS[key](storage.paths))
    }

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
        "--force",
        action="store_true",
        help="recompute regions and roll-ups that are already materialized",
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
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} was killed earlier: marked failed")
        report = run_demo(build_definitions(settings), instance, storage, force=args.force)

    print(
        f"summary: {len(report.regions)} regions ({len(report.computed)} computed now), "
        f"{report.buildings} buildings, {len(report.rollups)} roll-ups "
        f"({len(report.rollups_computed)} materialized now), {report.seconds:.1f} s"
    )
    for name, locations in report.outputs.items():
        where = locations[0] if len(locations) == 1 else f"{os.path.commonpath(locations)}/"
        print(f"  {name}: {where}")
    if report.failed:
        for name, message in report.failed.items():
            print(f"failed: {name}: {message}", file=sys.stderr)
        print(f"FAILED: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
