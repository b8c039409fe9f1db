"""The ``deploy`` job: one deployment of an environment, as GitHub Actions and ``make demo`` run it.

``dagster job execute -m ocr_assets.definitions -j deploy`` runs four module-level ops. None
does asset work itself: each launches the code location's asset jobs as child runs in the same
Dagster instance (tagged with the deployment and the parent run), so lineage, materializations,
per-partition check results and retries are Dagster's own, exactly as for a job or a backfill
launched from the UI. What to do is decided by one pure function, :func:`decide`.

1. ``prepare_deployment`` selects the regions (``OCR_REGIONS`` against the inputs' grid and the
   regions holding data), takes the environment's deployment lease
   (:attr:`~ocr_assets.storage.Layout.lease`: refused naming the holder while another
   deployment of the same environment and version runs, or waited for with
   ``OCR_LEASE_WAIT``; renewed until the run ends and released then, whatever its outcome, by
   :class:`DeploymentResource`), removes the temporary upload prefixes of killed runs on S3,
   wipes the environment's outputs when asked (never in production), records the run's start
   (:attr:`~ocr_assets.storage.Layout.deployment_record`), adds the selected regions to the
   region partitions, and decides which of them still need processing: the raster store is
   the source of truth, so a region whose commit is there, was computed from the current
   inputs and has its per-region outputs is skipped unless wiping or forced (an ephemeral CI
   runner with no run history skips it too). Of such a region whose rows of the buildings
   file or a census level changed since its outputs were built (their files record them),
   only the region assets reading those rows are recomputed.
2. ``build_wind`` materializes ``wind_direction_distribution`` through the ``wind`` job when it
   is missing or the deployment wipes or forces.
3. ``process_regions`` materializes each remaining region through the ``regions`` job, one child
   run per region (its checks recorded per partition and blocking that region's buildings),
   logging a line per region (``[3/10] y2_x5 ... 4.2 s, 3012 buildings`` or ``FAILED`` with
   the reason), as many at a time as the remote region cluster has workers (one after another
   locally) unless the op config ``max_concurrent_regions`` says otherwise. Every region run's
   assets work on the deployment's one region cluster. A failed region does not stop the
   others; the op then fails listing every failed region, and the roll-ups do not run.
4. ``build_rollups`` materializes the roll-ups (with their blocking checks, honouring the
   optional branches) through the ``rollups`` job, tags a versioned deployment's raster store
   ``v{version}`` and closes the record.

Why an op job: one Dagster run may not mix region-partitioned and unpartitioned assets, and a
deployment is a selection of region partitions followed by roll-ups.
"""

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from ocr_assets.catalog import InputCatalog
from ocr_assets.catalog.rows import NO_ROWS
from ocr_assets.catalog.staleness import (
    ASSET_ROW_INPUTS,
    current_regions,
    row_input_names,
    stale_region_assets,
)
from ocr_assets.config.environments import (
    DEPLOYMENT_JOB,
    DEPLOYMENT_RUN_TAG,
    check_wipe,
    select_regions,
)
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.settings import Settings
from ocr_assets.deploy.progress import Progress, duration
from ocr_assets.orchestration.assets.statistics import BUILT_FROM_TABLE, PARTIALS
from ocr_assets.orchestration.console import (
    PARENT_RUN_TAG,
    child_console_config,
    console_config,
    console_logger,
    failure_text,
)
from ocr_assets.orchestration.graph import graph_definitions
from ocr_assets.orchestration.jobs import REGIONS_JOB, ROLLUPS_JOB, WIND_JOB
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)
from ocr_assets.storage import Layout, is_remote, objects, write_json
from ocr_assets.storage.config import StorageConfig, configure, current
from ocr_assets.storage.errors import StorageError
from ocr_assets.storage.geoparquet import read_built_from
from ocr_assets.storage.lease import (
    DEFAULT_LEASE_SECONDS,
    HeldLease,
    LeaseHeldError,
    LeaseLostError,
    acquire,
    age_text,
)
from ocr_assets.storage.tables import table_file

#: Run tag naming the region of a region's child run.
REGION_TAG = "ocr/region"

BUILDINGS = dg.AssetKey("region_buildings")
#: The asset whose cluster spec sizes the deployment's shared region cluster.
REGION_CLUSTER = "region_risk_rasters"
#: The per-region assets besides the rasters, whose outputs a skipped region must have.
REGION_OUTPUTS = ("region_buildings", "region_statistics_partials", "region_tile_features")


class DeploymentResource(dg.ConfigurableResource):
    """What a deployment selects and how (the deployment's part of the settings).

    Attributes:
        regions: The region selection (``OCR_REGIONS`` syntax).
        force: Reprocess regions already in the raster store.
        wipe: Delete the environment's outputs first (refused in production).
        create_pyramid: Build ``risk_pyramid``.
        write_regional_stats: Build ``region_analysis_files``.
        retries: Retries of every op of the child runs.
        ui_url: The Dagster UI's address, for the links to the child runs.
        lease_wait: Wait for another deployment's lease instead of refusing.
        lease_seconds: Life of the deployment's lease after its last heartbeat (renewed every
            sixth of it).
    """

    regions: str
    force: bool = False
    wipe: bool = False
    create_pyramid: bool = True
    write_regional_stats: bool = True
    retries: int = 2
    ui_url: str = "http://127.0.0.1:3000"
    lease_wait: bool = False
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    _lease: HeldLease | None = PrivateAttr(default=None)
    _storage_config: StorageConfig | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeploymentResource":
        """The deployment of ``settings``."""
        return cls(
            regions=settings.regions,
            force=settings.force,
            wipe=settings.wipe,
            create_pyramid=bool(settings.create_pyramid),
            write_regional_stats=bool(settings.write_regional_stats),
            retries=settings.retries,
            ui_url=settings.ui_url,
            lease_wait=settings.lease_wait,
            lease_seconds=settings.lease_seconds,
        )

    # ------------------------------------------------------------------ the lease
    def take_lease(self, context: dg.OpExecutionContext, storage: OutputStorage) -> HeldLease:
        """Take the deployment lease of ``storage``'s environment and version for this run
        (waiting for it with :attr:`lease_wait`) and renew it until the run ends; name this
        run's temporary upload prefixes after it.

        Raises:
            dagster.Failure: naming the holder and its age, when another deployment holds it.
        """
        try:
            held = acquire(
                storage.layout.lease,
                run_id=context.run_id,
                environment=storage.environment,
                version=storage.version,
                seconds=self.lease_seconds,
                wait=self.lease_wait,
                log=context.log,
            )
        except LeaseHeldError as error:
            raise _fail(
                f"{error}; wait for it, or set OCR_LEASE_WAIT=true (make demo: --wait) to wait"
            ) from error
        self._lease = held
        held.start_heartbeat(self.lease_seconds / 6, context.log)
        self._storage_config = current()
        configure(replace(self._storage_config, writer=held.token))
        if held.taken_over:
            context.log.warning(f"{held.taken_over} (lease {held.location})")
        context.log.info(
            f"lease {held.token} taken until {held.record.expires_at[11:19]} UTC, renewed every "
            f"{age_text(self.lease_seconds / 6)}"
        )
        context.log.debug(f"the lease: {held.location}")
        return held

    def check_lease(self) -> None:
        """Fail when the heartbeat found this run's lease taken over.

        Raises:
            dagster.Failure: naming the lease.
        """
        if self._lease is not None:
            try:
                self._lease.check()
            except LeaseLostError as error:
                raise _fail(str(error)) from error

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Release the lease (the run ended: succeeded, failed or interrupted)."""
        held, self._lease = self._lease, None
        if held is None:
            return
        if self._storage_config is not None:
            configure(self._storage_config)
        try:
            released = held.release()
        except StorageError as error:
            context.log.warning(
                f"could not release the lease {held.location} ({error}); it expires at "
                f"{held.record.expires_at[:19]} UTC"
            )
            return
        if released:
            context.log.info(f"lease {held.token} released")
        else:
            context.log.warning(f"lease {held.token} was no longer ours at release")

    def run_url(self, run_id: str) -> str:
        """The UI page of the run ``run_id``."""
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}"

    @property
    def branches(self) -> dict[str, bool]:
        """Optional asset -> whether it is built."""
        return {
            "risk_pyramid": self.create_pyramid,
            "region_analysis_files": self.write_regional_stats,
        }


@dataclass(frozen=True)
class Decision:
    """What a deployment does, decided by :func:`decide`.

    Attributes:
        remaining: Selected regions to process now, in selection order.
        skipped: Selected regions already complete in storage.
        build_wind: Whether the wind distribution is (re)computed.
        refusal: Why the deployment must not run (``None``: it may).
        assets: Remaining regions that recompute only some region assets (their rows of a
            vector input changed, their rasters are current), with those assets; the other
            remaining regions recompute every region asset.
    """

    remaining: tuple[str, ...]
    skipped: tuple[str, ...]
    build_wind: bool
    refusal: str | None = None
    assets: dict[str, tuple[str, ...]] = field(default_factory=dict)


def decide(
    selected: Iterable[str],
    complete: Iterable[str],
    *,
    force: bool,
    wipe: bool,
    wind_present: bool,
    version: str | None,
    published_version: bool,
    changed_rows: Mapping[str, Sequence[str]] | None = None,
) -> Decision:
    """Which regions a deployment processes, whether it computes the wind, whether it may run.

    Args:
        selected: The selected regions, in order.
        complete: The regions whose commit is in the raster store, computed from the current
            inputs, with every per-region output present.
        force: Reprocess every selected region.
        wipe: The outputs are deleted first (so nothing is complete).
        wind_present: The wind distribution is in storage.
        version: The deployment's version (``None``: unversioned).
        published_version: The raster store already carries the tag ``v{version}``.
        changed_rows: Complete regions whose rows of a vector input changed since their outputs
            were built, each with the region assets to recompute
            (:func:`~ocr_assets.catalog.staleness.stale_region_assets`): processed, only those
            assets (in ``Decision.assets``).
    """
    changed = {} if force or wipe else {r: tuple(a) for r, a in (changed_rows or {}).items() if a}
    done = set() if force or wipe else set(complete) - set(changed)
    selected = list(selected)
    remaining = tuple(region_id for region_id in selected if region_id not in done)
    skipped = tuple(region_id for region_id in selected if region_id in done)
    assets = {region_id: changed[region_id] for region_id in remaining if region_id in changed}
    refusal = None
    if version and published_version and remaining:
        refusal = (
            f"version {version} is already published (raster store tag v{version}); "
            f"region(s) {', '.join(remaining)} would change it: publish a new version"
        )
    return Decision(
        remaining,
        skipped,
        build_wind=wipe or force or not wind_present,
        refusal=refusal,
        assets=assets,
    )


def child_tags(
    environment: str, parent_run_id: str, region_id: str | None = None
) -> dict[str, str]:
    """The tags of a deployment's child runs: its environment, the deploy run (the runs page
    filters a deployment's runs by it) and the region of a region run."""
    tags = {DEPLOYMENT_RUN_TAG: environment, PARENT_RUN_TAG: parent_run_id}
    if region_id is not None:
        tags[REGION_TAG] = region_id
    return tags


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
        assets: Remaining regions recomputing only some region assets, with those assets.
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
    assets: dict[str, tuple[str, ...]] = field(default_factory=dict)


def listing(items: Sequence[str], limit: int = 6) -> str:
    """``a, b, c`` or, past ``limit`` items, ``a, b, c, ... and 402 more``."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[: limit - 1])}, ... and {len(items) - limit + 1} more"


def write_record(layout: Layout, record: dict[str, Any]) -> None:
    """Write the deployment record (one PUT / atomic rename)."""
    write_json(layout.deployment_record, record)


def _fail(message: str) -> dg.Failure:
    """A failure the op does not retry (a deployment's decisions are deterministic)."""
    return dg.Failure(description=message, allow_retries=False)


def deployment_failed(
    context: dg.OpExecutionContext,
    storage: OutputStorage,
    prepared: PreparedDeployment,
    message: str,
) -> dg.Failure:
    """Close the deployment record as ``failed`` with ``message``; the failure to raise."""
    write_record(
        storage.layout,
        {
            "run_id": context.run_id,
            "environment": prepared.environment,
            "version": prepared.version,
            "started_at": prepared.started_at,
            "regions": list(prepared.regions),
            "processed": list(prepared.remaining),
            "skipped": list(prepared.skipped),
            "status": "failed",
            "error": message,
            "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    return _fail(message)


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Each failed step of a run and its error (:func:`failure_text`)."""
    return {
        event.step_key: failure_text(event) for event in result.all_events if event.is_step_failure
    }


def run_failure(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step's error (first line) of a failed run, or ``run failed``."""
    failures = list(step_failures(result).values())
    return failures[0].splitlines()[0] if failures else "run failed"


def materialization_metadata(
    events: Iterable[dg.DagsterEvent], asset: str
) -> dict[str, Any] | None:
    """The metadata values of ``asset``'s materialization among ``events`` (``None``: none)."""
    for event in events:
        if event.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
            continue
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {key: value.value for key, value in materialization.metadata.items()}
    return None


def region_outcome(result: dg.ExecuteInProcessResult) -> str:
    """What a successful region run made: buildings, and the states the region covers."""
    events = result.all_events
    buildings = materialization_metadata(events, BUILDINGS.to_user_string()) or {}
    rasters = materialization_metadata(events, REGION_CLUSTER) or {}
    parts = []
    if "dagster/row_count" in buildings:
        parts.append(f"{int(buildings['dagster/row_count']):,} buildings")
    if rasters.get("states"):
        parts.append(str(rasters["states"]))
    return ", ".join(parts)


def child_run(
    context: dg.OpExecutionContext,
    job: str,
    resources: tuple[InputCatalogResource, OutputStorage, ComputeResource],
    deployment: DeploymentResource,
    environment: str,
    partition_key: str | None = None,
    run_id: str | None = None,
    assets: Sequence[str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run the asset job ``job`` (only its ``assets`` when given) as a child run of this
    deployment, in its instance (its terminal lines as verbose as this run's; every line in
    its own event log)."""
    catalog, storage, compute = resources
    definitions = graph_definitions(
        catalog, storage, compute, deployment.branches, deployment.retries
    )
    return definitions.resolve_job_def(job).execute_in_process(
        instance=context.instance,
        partition_key=partition_key,
        run_config=child_console_config(context.run_config),
        tags=child_tags(environment, context.run_id, partition_key),
        run_id=run_id,
        raise_on_error=False,
        asset_selection=None if assets is None else [dg.AssetKey(a) for a in assets],
    )


def sweep_leftovers(
    context: dg.OpExecutionContext, layout: Layout, writer: str, unleased_age: float
) -> None:
    """Delete the temporary upload prefixes that killed runs left in the object store (the
    caller holds the lease: no other live deployment of this scope writes there; a prefix
    written outside a deployment goes once older than ``unleased_age`` seconds)."""
    if not is_remote(layout.root):
        return  # local temporary files of dead processes go at the next write to their folder
    swept = objects.sweep_staging(layout.upload_folders, writer, unleased_age)
    if swept:
        context.log.warning(
            f"removed {len(swept)} temporary upload prefix(es) of killed runs, "
            f"{sum(size for _, size in swept):,} bytes: "
            + listing([location.rsplit("/", 1)[-1] for location, _ in swept])
        )


def built_from_location(layout: Layout, asset: str, region_id: str) -> str:
    """The file whose metadata records what ``asset``'s output of ``region_id`` was built from."""
    location = layout.location(asset, region_id)
    return table_file(location, BUILT_FROM_TABLE) if asset == PARTIALS else location


def changed_rows(
    inputs: InputCatalog, layout: Layout, regions: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The ``regions`` whose rows of a vector input changed since their region assets were
    built, each with the region assets to recompute (:func:`stale_region_assets`)."""
    if not regions:
        return {}
    current = {name: inputs.region_row_versions(name) for name in row_input_names()}
    changed = {}
    for region_id in regions:
        recorded = {
            asset: read_built_from(built_from_location(layout, asset, region_id))
            for asset in ASSET_ROW_INPUTS
        }
        rows = {name: versions.get(region_id, NO_ROWS) for name, versions in current.items()}
        assets = stale_region_assets(recorded, rows)
        if assets:
            changed[region_id] = assets
    return changed


@dg.op(
    description=(
        "Select the regions, take the deployment lease, wipe if asked, record the start, "
        "decide what runs."
    )
)
def prepare_deployment(
    context: dg.OpExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    deployment: DeploymentResource,
) -> PreparedDeployment:
    """Plan the deployment against the inputs and storage (see :func:`decide`)."""
    started_at = dt.datetime.now(dt.UTC).isoformat()
    inputs = catalog.catalog()
    layout = storage.layout
    try:
        check_wipe(storage.environment, deployment.wipe)
        regions = select_regions(deployment.regions, inputs.grid, inputs.valid_region_ids())
    except (DeploymentError, ValueError) as error:
        raise _fail(str(error)) from error
    context.log.info(
        f"deployment of {storage.layout.scope} to {storage.root}: run {context.run_id[:8]} "
        f"({deployment.run_url(context.run_id)})"
    )
    lease = deployment.take_lease(context, storage)
    sweep_leftovers(context, layout, lease.token, deployment.lease_seconds)
    if deployment.wipe:
        for folder in layout.scope_folders:
            objects.remove(folder)
        context.log.warning(f"wiped the {storage.environment} outputs under {storage.root}")
    add_region_partitions(context.instance, regions)
    write_record(
        layout,
        {
            "run_id": context.run_id,
            "environment": storage.environment,
            "version": storage.version,
            "started_at": started_at,
            "regions": regions,
            "status": "running",
        },
    )
    store = storage.raster_store()
    committed = set() if deployment.wipe else current_regions(store, inputs)
    complete = [
        region_id
        for region_id in regions
        if region_id in committed
        and all(objects.exists(layout.location(asset, region_id)) for asset in REGION_OUTPUTS)
    ]
    changed = {} if deployment.force else changed_rows(inputs, layout, complete)
    tag = f"v{storage.version}" if storage.version else None
    decision = decide(
        regions,
        complete,
        force=deployment.force,
        wipe=deployment.wipe,
        wind_present=objects.exists(layout.wind_distribution),
        version=storage.version,
        published_version=bool(tag and tag in store.tags()),
        changed_rows=changed,
    )
    if decision.refusal:
        raise _fail(decision.refusal)
    context.log.info(
        f"{len(regions)} region(s) selected: {len(decision.remaining)} to process, "
        f"{len(decision.skipped)} already in the raster store"
        + (f" ({listing(decision.skipped)})" if decision.skipped else "")
    )
    for region_id, assets in decision.assets.items():
        context.log.info(
            f"{region_id}: its rows of the vector inputs changed, recomputing {', '.join(assets)}"
        )
    return PreparedDeployment(
        environment=storage.environment,
        version=storage.version,
        started_at=started_at,
        regions=tuple(regions),
        remaining=decision.remaining,
        skipped=decision.skipped,
        wiped=deployment.wipe,
        build_wind=decision.build_wind,
        branches=deployment.branches,
        assets=decision.assets,
    )


@dg.op(description="Materialize the wind distribution (the wind job) when needed.")
def build_wind(
    context: dg.OpExecutionContext,
    prepared: PreparedDeployment,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
    deployment: DeploymentResource,
) -> PreparedDeployment:
    """Run the ``wind`` job once, when the distribution is missing or must be redone."""
    if not prepared.build_wind:
        context.log.info("wind_direction_distribution is in storage: kept")
        return prepared
    started = time.perf_counter()
    result = child_run(
        context, WIND_JOB, (catalog, storage, compute), deployment, prepared.environment
    )
    context.add_output_metadata(
        {"wind run": dg.MetadataValue.url(deployment.run_url(result.run_id))}
    )
    if not result.success:
        raise deployment_failed(
            context, storage, prepared, f"wind_direction_distribution failed: {run_failure(result)}"
        )
    context.log.info(
        f"wind_direction_distribution ok in {duration(time.perf_counter() - started)} "
        f"(run {result.run_id[:8]})"
    )
    return prepared


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


def runs_table(runs: Mapping[str, tuple[str, str]], deployment: DeploymentResource) -> str:
    """Markdown: one row per child run (unit, outcome, link to the run's page)."""
    rows = [
        f"| {unit} | {outcome} | [{run_id[:8]}]({deployment.run_url(run_id)}) |"
        for unit, (run_id, outcome) in runs.items()
    ]
    return "\n".join(["| | outcome | run |", "|---|---|---|", *rows])


@dg.op(description="Materialize each remaining region (the regions job), one run each.")
def process_regions(
    context: dg.OpExecutionContext,
    config: RegionRunsConfig,
    prepared: PreparedDeployment,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
    deployment: DeploymentResource,
) -> PreparedDeployment:
    """One child run per remaining region; fail listing the regions that failed.

    Every region run's assets work on one region cluster, opened here for the deployment
    (the process's shared in-process cluster when local).
    """
    total = len(prepared.remaining)
    if not total:
        return prepared
    deployment.check_lease()
    failed: dict[str, str] = {}
    runs: dict[str, tuple[str, str]] = {}
    with ExitStack() as stack:
        region_compute = compute
        spec = compute.spec(REGION_CLUSTER)
        concurrency = config.max_concurrent_regions or 1
        where = "the local cluster"
        if spec.backend != "local" or compute.cluster_factory:
            cluster = stack.enter_context(compute.cluster(REGION_CLUSTER))
            region_compute = compute.on_cluster(cluster.scheduler_address)
            concurrency = config.max_concurrent_regions or spec.n_workers
            where = (
                f"region cluster {getattr(cluster, 'name', cluster.scheduler_address)} "
                f"({spec.n_workers} workers)"
            )
        context.log.info(
            f"{total} region(s) to process, {min(concurrency, total)} at a time on {where}"
        )

        def run_region(region_id: str) -> tuple[str, float, dg.ExecuteInProcessResult]:
            started = time.perf_counter()
            result = child_run(
                context,
                REGIONS_JOB,
                (catalog, storage, region_compute),
                deployment,
                prepared.environment,
                partition_key=region_id,
                assets=prepared.assets.get(region_id),
            )
            return region_id, time.perf_counter() - started, result

        progress = Progress(prepared.remaining, concurrency)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in as_completed([pool.submit(run_region, r) for r in prepared.remaining]):
                region_id, elapsed, result = future.result()
                progress.finish(region_id, elapsed)
                run = f"run {result.run_id[:8]}"
                if result.success:
                    made = region_outcome(result)
                    outcome = f"ok in {duration(elapsed)}" + (f": {made}" if made else "")
                    context.log.info(progress.line(region_id, f"{outcome} ({run})"))
                else:
                    failed[region_id] = run_failure(result)
                    outcome = f"FAILED after {duration(elapsed)}: {failed[region_id]}"
                    context.log.error(progress.line(region_id, f"{outcome} ({run})"))
                runs[region_id] = (result.run_id, "ok" if result.success else "FAILED")
    context.add_output_metadata({"region runs": dg.MetadataValue.md(runs_table(runs, deployment))})
    if failed:
        raise deployment_failed(
            context,
            storage,
            prepared,
            f"{len(failed)} of {total} region(s) failed, roll-ups not built: "
            + "; ".join(f"{region_id}: {failed[region_id]}" for region_id in sorted(failed)),
        )
    return prepared


def previous_durations(instance: dg.DagsterInstance, job: str) -> dict[str, float]:
    """Seconds each asset of ``job`` took in its last successful run (empty: none yet)."""
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    if not runs:
        return {}
    steps: dict[str, float] = {}
    assets: dict[str, str] = {}
    for entry in instance.all_logs(runs[0].dagster_run.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            key = event.event_specific_data.materialization.asset_key.to_user_string()
            assets[key] = event.step_key
    return {asset: steps[step] for asset, step in assets.items() if step in steps}


def watched_run(
    context: dg.OpExecutionContext,
    run: Callable[[str], dg.ExecuteInProcessResult],
    on_event: Callable[[dg.EventLogEntry], None],
    poll_seconds: float = 0.5,
) -> dg.ExecuteInProcessResult:
    """Run ``run(run_id)`` (a child run) in a thread, handing each of its step starts,
    materializations and step failures to ``on_event`` as they are stored."""
    run_id = str(uuid.uuid4())
    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.STEP_FAILURE,
    }
    cursor = None

    def drain() -> None:
        nonlocal cursor
        while True:
            records = context.instance.get_records_for_run(run_id, cursor=cursor, of_type=kinds)
            for record in records.records:
                if record.event_log_entry.dagster_event is not None:
                    on_event(record.event_log_entry)
            cursor = records.cursor
            if not records.has_more:
                return

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run, run_id)
        while True:
            finished = wait([future], timeout=poll_seconds).done
            drain()
            if finished:
                return future.result()


@dg.op(description="Materialize the roll-ups, tag a versioned raster store, close the record.")
def build_rollups(
    context: dg.OpExecutionContext,
    prepared: PreparedDeployment,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
    deployment: DeploymentResource,
) -> None:
    """Run the ``rollups`` job as a child run of this deployment, a progress line each."""
    deployment.check_lease()
    started = time.perf_counter()
    definitions = graph_definitions(
        catalog, storage, compute, deployment.branches, deployment.retries
    )
    selected = definitions.resolve_job_def(ROLLUPS_JOB).asset_layer.selected_asset_keys
    progress = Progress(
        tuple(sorted(key.to_user_string() for key in selected)),
        previous=previous_durations(context.instance, ROLLUPS_JOB),
    )
    context.log.info(f"{len(progress.units)} roll-up(s) to build from every committed region")

    started_steps: dict[str, float] = {}

    def report(entry: dg.EventLogEntry) -> None:
        event = entry.get_dagster_event()
        if event.event_type == dg.DagsterEventType.STEP_START:
            started_steps[str(event.step_key)] = entry.timestamp
            return
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = failure_text(event)
            context.log.error(f"roll-up {event.step_key} FAILED: {error.splitlines()[0]}")
            return
        materialization = event.event_specific_data.materialization
        asset = materialization.asset_key.to_user_string()
        took = entry.timestamp - started_steps.get(str(event.step_key), entry.timestamp)
        progress.finish(asset, took)
        metadata = materialization.metadata
        made = [
            f"{int(metadata[key].value):,} {what}"
            for key, what in (("dagster/row_count", "rows"), ("region_count", "regions"))
            if key in metadata
        ]
        outcome = f"ok in {duration(took)}" + (f": {', '.join(made)}" if made else "")
        context.log.info(progress.line(asset, outcome))

    result = watched_run(
        context,
        lambda run_id: child_run(
            context,
            ROLLUPS_JOB,
            (catalog, storage, compute),
            deployment,
            prepared.environment,
            run_id=run_id,
        ),
        report,
    )
    context.add_output_metadata(
        {"roll-up run": dg.MetadataValue.url(deployment.run_url(result.run_id))}
    )
    if not result.success:
        raise deployment_failed(
            context, storage, prepared, f"roll-ups failed: {run_failure(result)}"
        )
    rollups = sorted(
        event.event_specific_data.materialization.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
    )
    context.log.info(
        f"roll-ups ok in {duration(time.perf_counter() - started)} (run {result.run_id[:8]})"
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
    write_record(storage.layout, record)


@dg.job(
    name=DEPLOYMENT_JOB,
    description=(
        "One deployment: the environment's region selection, one child run per region "
        "(skipping regions already in the raster store), then the roll-ups."
    ),
    logger_defs={"console": console_logger},
    # Dagster starts a job's loggers only when the run config names them.
    config=console_config(verbose=False),
    # The ops only launch child runs (in this process) one after another: a process per op
    # would add seconds each and print its own start-up lines.
    executor_def=dg.in_process_executor,
)
def deploy() -> None:
    """The deployment's four steps."""
    build_rollups(process_regions(build_wind(prepare_deployment())))
