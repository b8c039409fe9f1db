"""The ``deploy`` job: one deployment of an environment, as GitHub Actions runs it.

``dagster job execute -m ocr_assets.definitions -j deploy --tags '{"ocr/deployment": "qa"}'``
runs three ops:

1. ``prepare_deployment`` validates the deployment (:func:`ocr_assets.deploy.plan.build_plan`
   over the process environment and the code location's storage: ``OCR_REGIONS``,
   ``OCR_WIPE``, ``OCR_FORCE``, the optional branches), wipes the environment's outputs when
   asked (refused in production by the plan), records the run's start
   (:attr:`~ocr_assets.deploy.layout.Layout.deployment_record`), builds the wind distribution
   when it is missing, and works out which selected regions still need processing. The raster
   store is the source of truth: a region whose commit is in the store and whose per-region
   outputs exist is skipped unless wiping or forced, so an ephemeral CI runner with no run
   history skips it too.
2. ``process_regions`` maps the per-region work over the compute resource's cluster (Coiled when
   deployed, the seed's "map over remaining regions"), retrying failed regions after 5 s x
   attempt and failing with the list of regions that still failed. Each region invokes the
   region-partitioned assets themselves for its partition (:class:`RegionTask`), and every
   processed partition is recorded as an ``AssetMaterialization`` of that asset, so the UI
   shows it.
3. ``build_rollups`` materializes the CONUS roll-ups (with their blocking checks) from the
   asset graph itself, honouring the optional pyramid and analysis-files branches, then tags a
   versioned deployment's raster store ``v{version}`` and marks the record complete.

Why an op job and not an asset job: one Dagster run may not mix region-partitioned and
unpartitioned assets, and a deployment is a *selection* of region partitions followed by
roll-ups. Running each region as its own Dagster run (a backfill) would start a Coiled cluster
per region; a single-run backfill policy would force every per-region asset to handle
partition ranges. Here one step fans the regions out on one cluster, as the published pipeline
does, and reports per-partition materializations; the roll-ups then run as the graph's own
assets (a child run in the same instance, tagged with the deployment and the parent run), so
neither the per-region nor the roll-up logic is copied.
"""

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from ocr_assets.assets.graph import build_assets
from ocr_assets.assets.wind import wind_distribution
from ocr_assets.branches import OptionalBranches
from ocr_assets.deploy.compute import COILED_POOL, RegionRetriesExhausted
from ocr_assets.deploy.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets.deploy.layout import Layout
from ocr_assets.deploy.plan import build_plan
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.storage import atomic_output, objects

#: Run tag naming the deploy run that started a roll-up child run.
PARENT_RUN_TAG = "ocr/parent_run"


def region_partition_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The region-partitioned assets of the graph over ``partitions_def``, upstream first.

    ``region_risk_rasters``, ``region_buildings``, ``region_statistics_partials`` and
    ``region_tile_features``: what a deployment runs for each region.
    """
    assets, _checks = build_assets(partitions_def)
    return [asset for asset in assets if asset.partitions_def is not None]


def region_outputs(layout: Layout, region_id: str) -> tuple[str, ...]:
    """The files and folders a region's partitions write besides its raster-store commit."""
    return (
        layout.region_buildings(region_id),
        layout.region_statistics_partial(region_id),
        layout.tile_features(region_id),
    )


@dataclass(frozen=True)
class RegionTask:
    """The per-region work of one deployment run, picklable for cluster workers.

    A worker rebuilds the resources from these plain settings and the region-partitioned assets
    for the one region (:func:`region_partition_assets`), then invokes each asset directly for
    that partition, upstream first: the very code a partitioned materialization runs.
    """

    input_root: str
    storage_root: str
    environment: str
    version: str | None
    commit_attempts: int

    def __call__(self, region_id: str) -> dict[str, dict[str, Any]]:
        """Materialize ``region_id``'s partitions; return asset key -> metadata."""
        resources = {
            "catalog": InputCatalogResource(root=self.input_root),
            "storage": OutputStorage(
                root=self.storage_root,
                environment=self.environment,
                version=self.version,
                commit_attempts=self.commit_attempts,
            ),
            # Already on a worker of the region cluster: each asset's work runs in place.
            "compute": ComputeResource(environment=self.environment),
        }
        metadata: dict[str, dict[str, Any]] = {}
        # One throwaway instance per task, closed in the thread that opened it.
        with dg.DagsterInstance.ephemeral() as instance:
            for asset in region_partition_assets(dg.StaticPartitionsDefinition([region_id])):
                needed = {k: v for k, v in resources.items() if k in asset.required_resource_keys}
                context = dg.build_asset_context(partition_key=region_id, instance=instance)
                result = asset(context, **needed)
                metadata[asset.key.to_user_string()] = dict(result.metadata or {})
        return metadata


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
        branches: Optional asset -> whether it runs.
    """

    environment: str
    version: str | None
    started_at: str
    regions: tuple[str, ...]
    remaining: tuple[str, ...]
    skipped: tuple[str, ...]
    wiped: bool
    branches: dict[str, bool] = field(default_factory=dict)


def write_record(storage: OutputStorage, record: dict[str, Any]) -> None:
    """Write the deployment record (one PUT / atomic rename)."""
    with atomic_output(storage.paths.deployment_record) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")


def _deployment_variables(storage: OutputStorage) -> dict[str, str]:
    """The process's variables with the code location's storage settings over them."""
    variables = dict(os.environ)
    variables.update(OCR_ENVIRONMENT=storage.environment, OCR_STORAGE_ROOT=storage.root)
    variables["OCR_VERSION"] = storage.version or ""
    return variables


@dg.op(description="Validate the deployment, wipe if asked, record the start, pick the regions.")
def prepare_deployment(
    context: dg.OpExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
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
    except ValueError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
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
    if plan.wipe or plan.force or not objects.exists(layout.wind_distribution):
        metadata = wind_distribution(catalog, storage, compute, context.log.info)
        context.log_event(dg.AssetMaterialization("wind_direction_distribution", metadata=metadata))
    committed = set() if plan.wipe else set(storage.raster_store().committed_regions())
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
        raise dg.Failure(
            description=(
                f"version {plan.version} is already published (raster store tag {tag}); "
                f"region(s) {', '.join(remaining)} would change it: publish a new version"
            ),
            allow_retries=False,
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
        branches=dict(plan.branches),
    )


def _record_regions(context: dg.OpExecutionContext, results: dict[str, Any]) -> None:
    for region_id, result in results.items():
        for key, metadata in result.items():
            context.log_event(dg.AssetMaterialization(key, partition=region_id, metadata=metadata))


@dg.op(pool=COILED_POOL, description="Map the per-region work over the cluster, with retries.")
def process_regions(
    context: dg.OpExecutionContext,
    prepared: PreparedDeployment,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
) -> PreparedDeployment:
    """Process the remaining regions; record a materialization per asset and region."""
    task = RegionTask(
        input_root=catalog.root,
        storage_root=storage.root,
        environment=storage.environment,
        version=storage.version,
        commit_attempts=storage.commit_attempts,
    )
    try:
        results = compute.map_regions(
            "region_risk_rasters", task, prepared.remaining, log=context.log
        )
    except RegionRetriesExhausted as error:
        _record_regions(context, error.succeeded)
        raise dg.Failure(description=str(error), allow_retries=False) from error
    _record_regions(context, results)
    return prepared


def build_deploy_job(
    rollups: Sequence[dg.AssetsDefinition],
    checks: Sequence[dg.AssetChecksDefinition],
    branches: OptionalBranches,
) -> dg.JobDefinition:
    """The ``deploy`` job over the code location's roll-up assets and their checks.

    Args:
        rollups: The unpartitioned roll-up assets (everything after the regions).
        checks: Their asset checks (blocking checks gate the downstream roll-ups).
        branches: Which optional branches run; switched-off assets are left out.
    """
    disabled = set(branches.disabled_assets)
    selected = [asset for asset in rollups if not set(asset.keys) & disabled]

    @dg.op(description="Materialize the roll-ups, tag a versioned raster store, close the record.")
    def build_rollups(
        context: dg.OpExecutionContext,
        prepared: PreparedDeployment,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> None:
        """Run the roll-up assets as a child run of this deployment."""
        result = dg.materialize(
            [*selected, *checks],
            selection=dg.AssetSelection.assets(*selected),
            instance=context.instance,
            resources={"catalog": catalog, "storage": storage, "compute": compute},
            tags={DEPLOYMENT_RUN_TAG: prepared.environment, PARENT_RUN_TAG: context.run_id},
        )
        context.log.info(f"roll-ups materialized in run {result.run_id}")
        record: dict[str, Any] = {
            "run_id": context.run_id,
            "rollup_run_id": result.run_id,
            **{
                key: value
                for key, value in asdict(prepared).items()
                if key not in ("remaining", "skipped")
            },
            "processed": list(prepared.remaining),
            "skipped": list(prepared.skipped),
            "rollups": sorted(key.to_user_string() for a in selected for key in a.keys),
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
            "One deployment: the environment's region selection on its cluster (skipping "
            "regions already in the raster store), then the roll-ups and optional branches."
        ),
    )
    def deploy() -> None:
        build_rollups(process_regions(prepare_deployment()))

    return deploy
