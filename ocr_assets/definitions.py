"""The code location: ``defs`` for the environment named by ``OCR_ENVIRONMENT``.

:func:`build_definitions` assembles everything from validated :class:`Settings`; the module-level
``defs`` uses the process environment (``dagster dev``, ``dagster-webserver``, the demo). Tests
build their own from temporary roots. Loading does no I/O (:mod:`ocr_assets.partitions`).

A Dagster run targets one partitions definition, so the asset jobs are split by it:

- ``wind``: the (unpartitioned) wind distribution.
- ``phase01``: per region partition the risk rasters, their checks and the region's buildings.
- ``phase02_regions`` / ``phase02``: per region the statistics partials / the consolidated
  building GeoParquet, the summary statistics (with their blocking checks), the analysis
  files, the regional tiles and the pyramid.
- ``phase03_regions`` / ``phase03``: per region the tile features / the building and
  building-centroid tiles.
- ``regions``: every region-partitioned asset (what a deployment runs for each region).
- ``rollups``: every unpartitioned roll-up (what a deployment runs after the regions).
- ``deploy``: one deployment (:mod:`ocr_assets.deployment`), which runs the above as child runs.

Partitioned jobs run one region per run (a partition key, a backfill from the UI, or
``--tags '{"dagster/partition": "y2_x5"}'`` on the command line); unpartitioned ones without.
The optional branches (``risk_pyramid``, ``region_analysis_files``) stay in the graph, but the
jobs select them only when their flags are on (:mod:`ocr_assets.branches`).

Every setting a run reads is validated when this module loads (:meth:`Settings.from_env`), so
``dagster asset materialize``, ``dagster job execute`` and the UI refuse what ``ocr-assets
plan`` refuses. The local code location also has the ``fail_dead_runs`` sensor
(:mod:`ocr_assets.run_monitoring`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

import dagster as dg

from ocr_assets.assets.aggregation import GROUP as PHASE02_GROUP
from ocr_assets.assets.graph import build_assets
from ocr_assets.assets.tiles import GROUP as PHASE03_GROUP
from ocr_assets.assets.wind import ASSET as WIND_ASSET
from ocr_assets.assets.wind import GROUP as PHASE01_GROUP
from ocr_assets.branches import OptionalBranches
from ocr_assets.deploy.compute import RETRY_DELAY_SECONDS
from ocr_assets.deploy.environments import get_policy
from ocr_assets.deployment import REGIONS_JOB, ROLLUPS_JOB, WIND_JOB, build_deploy_job
from ocr_assets.io_managers import pipeline_resources
from ocr_assets.partitions import region_partitions
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.run_monitoring import dead_runs_sensor
from ocr_assets.settings import Settings

PHASE01_JOB = "phase01"
PHASE02_REGIONS_JOB = "phase02_regions"
PHASE02_JOB = "phase02"
PHASE03_REGIONS_JOB = "phase03_regions"
PHASE03_JOB = "phase03"

__all__ = [
    "PHASE01_JOB",
    "PHASE02_JOB",
    "PHASE02_REGIONS_JOB",
    "PHASE03_JOB",
    "PHASE03_REGIONS_JOB",
    "REGIONS_JOB",
    "ROLLUPS_JOB",
    "WIND_JOB",
    "build_definitions",
    "defs",
]


def build_asset_jobs(
    assets: list[dg.AssetsDefinition | dg.SourceAsset], branches: OptionalBranches
) -> list[dg.UnresolvedAssetJobDefinition]:
    """The asset jobs over the materializable ``assets``, one partitions definition per job.

    The inputs' observable source assets are observed, not materialized: no job selects them.
    """
    assets = [asset for asset in assets if isinstance(asset, dg.AssetsDefinition)]
    wind = dg.AssetSelection.assets(WIND_ASSET)
    regions = dg.AssetSelection.assets(*(a for a in assets if a.partitions_def is not None))
    rollups = (
        dg.AssetSelection.assets(*(a for a in assets if a.partitions_def is None)) - wind
    ) & branches.selection()
    phase02 = dg.AssetSelection.groups(PHASE02_GROUP)
    phase03 = dg.AssetSelection.groups(PHASE03_GROUP)
    jobs = {
        WIND_JOB: (wind, "The fire-weather wind distribution (once per deployment)."),
        PHASE01_JOB: (
            dg.AssetSelection.groups(PHASE01_GROUP) & regions,
            "Phase 01 per region: risk rasters (with their blocking checks), then buildings.",
        ),
        PHASE02_REGIONS_JOB: (phase02 & regions, "Phase 02 per region: statistics partials."),
        PHASE02_JOB: (
            phase02 & rollups,
            "Phase 02 roll-ups: building GeoParquet, summary statistics, analysis files, "
            "regional tiles and the pyramid.",
        ),
        PHASE03_REGIONS_JOB: (phase03 & regions, "Phase 03 per region: tile features."),
        PHASE03_JOB: (phase03 & rollups, "Phase 03 roll-ups: building and centroid tiles."),
        REGIONS_JOB: (regions, "Every region-partitioned asset, for one region."),
        ROLLUPS_JOB: (rollups, "Every roll-up (optional branches per their flags)."),
    }
    return [
        dg.define_asset_job(name, selection=selection, description=description)
        for name, (selection, description) in jobs.items()
    ]


def build_definitions(
    settings: Settings,
    branches: OptionalBranches | None = None,
    regions: str | None = None,
    compute: ComputeResource | None = None,
    environ: Mapping[str, str] | None = None,
) -> dg.Definitions:
    """The Definitions of one environment: assets, checks, jobs and resources.

    ``branches`` defaults to the flags of the process environment for ``settings.environment``;
    ``regions`` (``OCR_REGIONS`` syntax) to ``OCR_REGIONS`` or the environment's default
    selection (it narrows the published inputs' static partitions; see
    :mod:`ocr_assets.partitions`). ``compute`` defaults to the environment's clusters (tests
    inject a recording factory). ``environ``, the variables ``settings`` were read from, makes
    the settings set there reach the resources as ``dg.EnvVar`` (the module-level ``defs``).
    """
    if branches is None:
        branches = OptionalBranches.from_env(settings.environment)
    if regions is None:
        regions = os.environ.get("OCR_REGIONS") or get_policy(settings.environment).default_regions
    partitions_def = region_partitions(settings.input_root, regions)
    # Region retries as the environment's policy says (what `ocr-assets plan` shows), after
    # 5 s x attempt.
    retries = get_policy(settings.environment).retries
    assets, checks = build_assets(
        partitions_def,
        dg.RetryPolicy(max_retries=retries, delay=RETRY_DELAY_SECONDS, backoff=dg.Backoff.LINEAR),
    )
    asset_jobs = build_asset_jobs(assets, branches)
    catalog = InputCatalogResource.from_settings(settings, environ)
    storage = OutputStorage.from_settings(settings, environ)
    compute = compute or ComputeResource.from_settings(settings, environ)
    resources = pipeline_resources(catalog, storage, compute)

    @functools.cache
    def child_job(name: str, scheduler_address: str | None) -> dg.JobDefinition:
        """The asset job ``name`` as the deploy job runs it: resolved when it first runs
        (loading stays cheap), its assets and IO managers on the cluster at
        ``scheduler_address`` when given (the deployment's region cluster)."""
        run_compute = compute.on_cluster(scheduler_address) if scheduler_address else compute
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=asset_jobs,
            resources=pipeline_resources(catalog, storage, run_compute),
        ).resolve_job_def(name)

    deploy = build_deploy_job(child_job, partitions_def)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[*asset_jobs, deploy],
        # Process IDs name processes of this host only in the single-host local instance.
        sensors=[dead_runs_sensor] if settings.environment == "local" else [],
        resources=resources,
    )


defs = build_definitions(Settings.from_env(), environ=os.environ)
