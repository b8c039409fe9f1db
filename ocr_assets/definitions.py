"""The code location: ``defs`` for the environment named by ``OCR_ENVIRONMENT``.

:func:`build_definitions` assembles everything from validated :class:`Settings`; the module-level
``defs`` uses the process environment (``dagster dev``, ``dagster-webserver``, the demo). Tests
build their own from temporary roots.

Jobs:

- ``phase01``: the wind distribution and, per region partition, the risk rasters, their checks
  and the region's buildings (the seed's phase 01).
- ``phase02``: per region the statistics partials; then the consolidated building GeoParquet,
  the summary statistics (with their blocking checks), the analysis files, the regional tiles
  and the pyramid (the seed's phase 02 and the optional pyramid step).
- ``phase03``: per region the tile features; then the building and building-centroid tiles.
- ``all_assets``: every asset of the code location (the optional ones per their flags); new
  assets join it by being added to the list in :func:`build_assets`.

The optional branches (``risk_pyramid``, ``region_analysis_files``) stay in the graph, but the
jobs select them only when their flags are on (:mod:`ocr_assets.branches`).

Every setting a run reads is validated when this module loads (:meth:`Settings.from_env`), so
``dagster asset materialize``, ``dagster job execute`` and the UI refuse what ``ocr-assets
plan`` refuses. The local code location also has the ``fail_dead_runs`` sensor
(:mod:`ocr_assets.run_monitoring`).
"""

from __future__ import annotations

import os

import dagster as dg

from ocr_assets.assets.aggregation import GROUP as PHASE02_GROUP
from ocr_assets.assets.graph import build_assets
from ocr_assets.assets.tiles import GROUP as PHASE03_GROUP
from ocr_assets.assets.wind import GROUP as PHASE01_GROUP
from ocr_assets.branches import OptionalBranches
from ocr_assets.deploy.environments import get_policy
from ocr_assets.deployment import build_deploy_job
from ocr_assets.partitions import region_partitions
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.run_monitoring import dead_runs_sensor
from ocr_assets.settings import Settings

PHASE01_JOB = "phase01"
PHASE02_JOB = "phase02"
PHASE03_JOB = "phase03"
ALL_ASSETS_JOB = "all_assets"


def build_definitions(
    settings: Settings,
    branches: OptionalBranches | None = None,
    regions: str | None = None,
    compute: ComputeResource | None = None,
) -> dg.Definitions:
    """The Definitions of one environment: assets, checks, jobs and resources.

    ``branches`` defaults to the flags of the process environment for ``settings.environment``;
    ``regions`` (``OCR_REGIONS`` syntax) to ``OCR_REGIONS`` or the environment's default
    selection: the region partitions are the selected regions holding input data.
    ``compute`` defaults to the environment's clusters (tests inject a recording factory).
    """
    if branches is None:
        branches = OptionalBranches.from_env(settings.environment)
    if regions is None:
        regions = os.environ.get("OCR_REGIONS") or get_policy(settings.environment).default_regions
    enabled = branches.selection()
    assets, checks = build_assets(region_partitions(settings.input_root, regions))
    rollups = [
        asset
        for asset in assets
        if isinstance(asset, dg.AssetsDefinition)
        and asset.partitions_def is None
        and asset.key != dg.AssetKey("wind_direction_distribution")
    ]
    jobs = [
        dg.define_asset_job(
            PHASE01_JOB,
            selection=dg.AssetSelection.groups(PHASE01_GROUP),
            description="Phase 01: wind distribution, then per region rasters and buildings.",
        ),
        dg.define_asset_job(
            PHASE02_JOB,
            selection=dg.AssetSelection.groups(PHASE02_GROUP) & enabled,
            description=(
                "Phase 02: per region the statistics partials, then building GeoParquet, "
                "summary statistics, analysis files, regional tiles and the pyramid."
            ),
        ),
        dg.define_asset_job(
            PHASE03_JOB,
            selection=dg.AssetSelection.groups(PHASE03_GROUP) & enabled,
            description="Phase 03: per region the tile features, then the building tiles.",
        ),
        dg.define_asset_job(
            ALL_ASSETS_JOB,
            selection=enabled,
            description="Every asset of the code location (optional branches per their flags).",
        ),
        build_deploy_job(rollups, checks, branches),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        # Process IDs name processes of this host only in the single-host local instance.
        sensors=[dead_runs_sensor] if settings.environment == "local" else [],
        resources={
            "catalog": InputCatalogResource(root=settings.input_root),
            "storage": OutputStorage.from_settings(settings),
            "compute": compute or ComputeResource.from_settings(settings),
        },
    )


defs = build_definitions(Settings.from_env())
