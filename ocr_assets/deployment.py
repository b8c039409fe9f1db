"""The ``deploy`` job: one deployment of an environment, as GitHub Actions and ``make demo`` run it.

``dagster job execute -m ocr_assets.definitions -j deploy --tags '{"ocr/deployment": "qa"}'``
runs four ops. None does asset work itself: each launches the code location's asset jobs as
child runs in the same Dagster instance (tagged with the deployment and the parent run), so
lineage, materializations, per-partition check results and retries (the assets' own
``RetryPolicy``) are Dagster's own, exactly as for a job or a backfill launched from the UI.

1. ``prepare_deployment`` validates the deployment (:func:`ocr_assets.deploy.plan.build_plan`
   over the process environment and the code location's storage: ``OCR_REGIONS``,
   ``OCR_WIPE``, ``OCR_FORCE``, the optional branches), wipes the environment's outputs when
   asked (refused in production by the plan), records the run's start
   (:attr:`~ocr_assets.deploy.layout.Layout.deployment_record`), makes the selected regions the
   region partitions (:func:`ocr_assets.partitions.sync_region_partitions`), and works out
   which of them still need processing. The raster store is the source of truth: a region
   whose commit is in the store and whose per-region outputs exist is skipped unless wiping or
   forced, so an ephemeral CI runner with no run history skips it too.
2. ``build_wind`` materializes ``wind_direction_distribution`` through the ``wind`` job, once
   per deployment, when it is missing or the deployment is wiped or forced.
3. ``process_regions`` materializes each remaining region through the ``regions`` job, one
   child run per region partition (so the region checks are recorded per partition and block
   that region's buildings), logging a line per region (``[3/10] y2_x5 ... 4.2 s, 3012
   buildings`` or ``FAILED`` with the reason), as many at a time as the remote region cluster
   has workers (one after another locally) unless the op's config ``max_concurrent_regions``
   says otherwise. A failed region does not stop the others; the op then fails listing every
   failed region, and the roll-ups do not run. Every region run's assets are computed and
   stored on that one region cluster by their IO managers.
4. ``build_rollups`` materializes the roll-ups (with their blocking checks, honouring the
   optional branches) through the ``rollups`` job, then tags a versioned deployment's raster
   store ``v{version}`` and marks the record complete.

Why an op job: one Dagster run may not mix region-partitioned and unpartitioned assets, and a
deployment is a selection of region partitions followed by roll-ups.
"""

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from ocr_assets.deploy.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets.deploy.layout import Layout
from ocr_assets.deploy.plan import build_plan
from ocr_assets.partitions import sync_region_partitions
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.storage import atomic_output, objects
from ocr_assets.storage.staleness import current_regions

#: Run tag naming the deploy run that started a child run.
PARENT_RUN_TAG = "ocr/parent_run"
#: The asset jobs a deployment runs (defined in :mod:`ocr_assets.definitions`).
WIND_JOB = "wind"
REGIONS_JOB = "regions"
ROLLUPS_JOB = "rollups"

BUILDINGS = dg.AssetKey("region_buildings")
#: The asset whose cluster spec sizes the deployment's shared region cluster.
REGION_CLUSTER = "region_risk_rasters"


def region_outputs(layout: Layout, region_id: str) -> tuple[str, ...]:
    """The files and folders a region's partitions write besides its raster-store commit."""
    return (
        layout.region_buildings(region_id),
        layout.region_statistics_partial(region_id),
        layout.tile_features(region_id),
    )


@dataclass(frozen=True)
class PreparedDeployment:
    """What ``prepare_deployment`` decided.

    Attributes:
        environment: The environment.
        version: Semantic version (``None``: unversioned).
        started_at: ISO time the run started (UTC).
        regions: Every selected region.
        remaining: Selected regions to process now.
        skipped: Selected regions already complete in storage.
        wiped: Whether the environment's outputs were deleted first.
        build_wind: Whether the wind distribution is (re)computed.
        branches: Optional asset -> whether it runs.
    """

    environment: str
    version: str | None
    started_at: str
    regions: tuple[str, ...]
    remaining: tuple[str, ...]
    skipped: tuple[str, ...]
    wiped: bool
    build_wind: bool
    branches: dict[str, bool] = field(default_factory=dict)


def write_record(storage: OutputStorage, record: dict[str, Any]) -> None:
    """Write the deployment record (one PUT / atomic rename)."""
    with atomic_output(storage.paths.deployment_record) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")


def deployment_failed(
    context: dg.OpExecutionContext,
    storage: OutputStorage,
    prepared: PreparedDeployment,
    message: str,
) -> dg.Failure:
    """Close the deployment record as ``failed`` with ``message``; the failure to raise."""
    write_record(
        storage,
        {
            "run_id": context.run_id,
            "environment": prepared.environment,
            "version": prepared.version,
            "started_at": prepared.started_at,
            "regions": list(prepared.regions),
            "status": "failed",
            "error": message,
            "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    return _fail(message)


class ErrorInfo(Protocol):
    """The parts of Dagster's serialized error a failure message is made of."""

    message: str
    cls_name: str | None


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Each failed step of a run and its error (a ``Failure``'s description, or the message)."""
    failures: dict[str, str] = {}
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            failures[event.step_key] = data.user_failure_data.description
        elif data.error is not None:
            failures[event.step_key] = error_text(data.error)
    return failures


def error_text(error: ErrorInfo) -> str:
    """An error's message without its exception class (a ``Failure`` raised by an IO manager
    arrives as ``dagster...Failure: <description>``)."""
    text = error.message.strip()
    prefix = re.match(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", text)
    return text[prefix.end() :] if prefix and error.cls_name == "Failure" else text


def run_failure(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step's error (first line) of a failed run, or ``run failed``."""
    failures = list(step_failures(result).values())
    return failures[0].splitlines()[0] if failures else "run failed"


def building_count(result: dg.ExecuteInProcessResult) -> int | None:
    """The row count of the run's ``region_buildings`` materialization, if it made one."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == BUILDINGS:
            count = materialization.metadata.get("dagster/row_count")
            return None if count is None else int(count.value)
    return None


def _deployment_variables(storage: OutputStorage) -> dict[str, str]:
    """The process's variables with the code location's storage settings over them."""
    variables = dict(os.environ)
    variables.update(OCR_ENVIRONMENT=storage.environment, OCR_STORAGE_ROOT=storage.root)
    variables["OCR_VERSION"] = storage.version or ""
    return variables


class RegionRunsConfig(dg.Config):
    """How the ``process_regions`` op runs the regions."""

    max_concurrent_regions: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Region runs at a time (threads of the deploy process, each one child run). "
            "Default: the region cluster's workers when it is remote (each region's work is "
            "one task on one worker), one locally (a laptop's cores go to the region itself)."
        ),
    )


def _fail(message: str) -> dg.Failure:
    """A failure the op does not retry (a deployment's decisions are deterministic)."""
    return dg.Failure(description=message, allow_retries=False)


def build_deploy_job(
    asset_job: Callable[[str, str | None], dg.JobDefinition],
    partitions_def: dg.PartitionsDefinition,
) -> dg.JobDefinition:
    """The ``deploy`` job over the code location's asset jobs.

    Args:
        asset_job: Resolves an asset job of the code location by name (``wind``, ``regions``,
            ``rollups``) with its resources bound, its compute on the running cluster at the
            given scheduler address (``None``: each asset's own); called when the job runs.
        partitions_def: The region partitions (dynamic ones are filled with the selection).
    """

    def child_run(
        context: dg.OpExecutionContext,
        name: str,
        prepared: PreparedDeployment,
        partition_key: str | None = None,
        scheduler_address: str | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Run the asset job ``name`` as a child run of this deployment, in its instance.

        ``scheduler_address``: a running cluster every asset of the run uses (the region
        cluster), instead of opening its own.
        """
        run_config: dict[str, Any] = {}
        if context.run_config.get("loggers"):
            run_config["loggers"] = context.run_config["loggers"]
        return asset_job(name, scheduler_address).execute_in_process(
            instance=context.instance,
            partition_key=partition_key,
            run_config=run_config or None,
            tags={DEPLOYMENT_RUN_TAG: prepared.environment, PARENT_RUN_TAG: context.run_id},
            raise_on_error=False,
        )

    @dg.op(description="Validate, wipe if asked, record the start, set the region partitions.")
    def prepare_deployment(
        context: dg.OpExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
    ) -> PreparedDeployment:
        """Plan the deployment against the storage (see the module docstring)."""
        started_at = dt.datetime.now(dt.UTC).isoformat()
        inputs = catalog.catalog()
        try:
            plan = build_plan(
                _deployment_variables(storage),
                grid=inputs.grid,
                available_regions=inputs.valid_region_ids(),
            )
            sync_region_partitions(partitions_def, context.instance, plan.regions)
        except ValueError as error:
            raise _fail(str(error)) from error
        layout = plan.layout
        if plan.wipe:
            for folder in layout.scope_folders:
                objects.remove(folder)
            context.log.warning(f"wiped the {plan.environment} outputs under {plan.storage_root}")
        write_record(
            storage,
            {
                "run_id": context.run_id,
                "environment": plan.environment,
                "version": plan.version,
                "started_at": started_at,
                "regions": list(plan.regions),
                "status": "running",
            },
        )
        committed = set() if plan.wipe else current_regions(storage.raster_store(), inputs)
        done = [
            region_id
            for region_id in plan.regions
            if not plan.force
            and region_id in committed
            and all(objects.exists(location) for location in region_outputs(layout, region_id))
        ]
        remaining = [region_id for region_id in plan.regions if region_id not in done]
        tag = f"v{plan.version}" if plan.version else None
        if tag and remaining and tag in storage.raster_store().tags():
            raise _fail(
                f"version {plan.version} is already published (raster store tag {tag}); "
                f"region(s) {', '.join(remaining)} would change it: publish a new version"
            )
        context.log.info(
            f"{len(plan.regions)} region(s) selected: {len(remaining)} to process, "
            f"{len(done)} already in the raster store"
            + (f" (skipped: {', '.join(done)})" if done else "")
        )
        return PreparedDeployment(
            environment=plan.environment,
            version=plan.version,
            started_at=started_at,
            regions=plan.regions,
            remaining=tuple(remaining),
            skipped=tuple(done),
            wiped=plan.wipe,
            build_wind=plan.wipe or plan.force or not objects.exists(layout.wind_distribution),
            branches=dict(plan.branches),
        )

    @dg.op(description="Materialize the wind distribution (the wind job) when needed.")
    def build_wind(
        context: dg.OpExecutionContext, prepared: PreparedDeployment, storage: OutputStorage
    ) -> PreparedDeployment:
        """Run the ``wind`` job once, when the distribution is missing or must be redone."""
        if not prepared.build_wind:
            context.log.info("wind_direction_distribution is in storage: kept")
            return prepared
        started = time.perf_counter()
        result = child_run(context, WIND_JOB, prepared)
        if not result.success:
            raise deployment_failed(
                context,
                storage,
                prepared,
                f"wind_direction_distribution failed: {run_failure(result)}",
            )
        context.log.info(
            f"wind_direction_distribution ... {time.perf_counter() - started:.1f} s "
            f"(run {result.run_id})"
        )
        return prepared

    @dg.op(description="Materialize each remaining region (the regions job), one run each.")
    def process_regions(
        context: dg.OpExecutionContext,
        config: RegionRunsConfig,
        prepared: PreparedDeployment,
        compute: ComputeResource,
        storage: OutputStorage,
    ) -> PreparedDeployment:
        """One child run per remaining region; fail listing the regions that failed.

        Every region run's assets work on one region cluster, opened here for the deployment
        (the process's shared in-process cluster when local).
        """
        failed: dict[str, str] = {}
        total = len(prepared.remaining)
        if not total:
            return prepared
        with ExitStack() as stack:
            address = None
            spec = compute.spec(REGION_CLUSTER)
            concurrency = config.max_concurrent_regions or 1
            if spec.backend != "local" or compute.cluster_factory:
                cluster = stack.enter_context(compute.cluster(REGION_CLUSTER))
                address = cluster.scheduler_address
                concurrency = config.max_concurrent_regions or spec.n_workers
                context.log.info(
                    f"region cluster {getattr(cluster, 'name', address)} is up "
                    f"({spec.n_workers} workers); {min(concurrency, total)} region(s) at a time"
                )

            def run_region(region_id: str) -> tuple[str, float, dg.ExecuteInProcessResult]:
                started = time.perf_counter()
                result = child_run(
                    context,
                    REGIONS_JOB,
                    prepared,
                    partition_key=region_id,
                    scheduler_address=address,
                )
                return region_id, time.perf_counter() - started, result

            _run_regions(context, concurrency, prepared, run_region, failed)
        if failed:
            raise deployment_failed(
                context,
                storage,
                prepared,
                f"{len(failed)} of {total} region(s) failed, roll-ups not built: "
                + "; ".join(f"{region_id}: {failed[region_id]}" for region_id in sorted(failed)),
            )
        return prepared

    def _run_regions(
        context: dg.OpExecutionContext,
        concurrency: int,
        prepared: PreparedDeployment,
        run_region: Callable[[str], tuple[str, float, dg.ExecuteInProcessResult]],
        failed: dict[str, str],
    ) -> None:
        """Run every remaining region, logging a progress line each; collect the failures."""
        total = len(prepared.remaining)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            runs = [pool.submit(run_region, region_id) for region_id in prepared.remaining]
            for number, future in enumerate(as_completed(runs), start=1):
                region_id, elapsed, result = future.result()
                if result.success:
                    context.log.info(
                        f"[{number}/{total}] {region_id} ... {elapsed:.1f} s, "
                        f"{building_count(result)} buildings"
                    )
                else:
                    failed[region_id] = run_failure(result)
                    context.log.error(
                        f"[{number}/{total}] {region_id} ... FAILED after {elapsed:.1f} s: "
                        f"{failed[region_id]}"
                    )

    @dg.op(description="Materialize the roll-ups, tag a versioned raster store, close the record.")
    def build_rollups(
        context: dg.OpExecutionContext, prepared: PreparedDeployment, storage: OutputStorage
    ) -> None:
        """Run the ``rollups`` job as a child run of this deployment."""
        started = time.perf_counter()
        result = child_run(context, ROLLUPS_JOB, prepared)
        if not result.success:
            raise deployment_failed(
                context, storage, prepared, f"roll-ups failed: {run_failure(result)}"
            )
        rollups = sorted(
            event.event_specific_data.materialization.asset_key.to_user_string()
            for event in result.get_asset_materialization_events()
        )
        context.log.info(
            f"roll-ups ... {time.perf_counter() - started:.1f} s ({', '.join(rollups)}; "
            f"run {result.run_id})"
        )
        record: dict[str, Any] = {
            "run_id": context.run_id,
            "rollup_run_id": result.run_id,
            **{
                key: value
                for key, value in asdict(prepared).items()
                if key not in ("remaining", "skipped", "build_wind")
            },
            "processed": list(prepared.remaining),
            "skipped": list(prepared.skipped),
            "rollups": rollups,
            "status": "succeeded",
            "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if prepared.version:
            tag = f"v{prepared.version}"
            record["raster_store_tag"] = tag
            record["raster_store_snapshot"] = storage.raster_store().tag(tag)
            context.log.info(f"raster store tagged {tag}")
        write_record(storage, record)

    @dg.job(
        name=DEPLOYMENT_JOB,
        description=(
            "One deployment: the environment's region selection, one child run per region "
            "(skipping regions already in the raster store), then the roll-ups."
        ),
    )
    def deploy() -> None:
        build_rollups(process_regions(build_wind(prepare_deployment())))

    return deploy
