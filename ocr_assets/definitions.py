"""The code location: ``defs`` for the environment named by ``OCR_ENVIRONMENT``.

:func:`build_definitions` assembles everything from validated :class:`Settings`; the module-level
``defs`` uses the process environment (``dagster dev``, ``dagster-webserver``, the demo). Tests
build their own from temporary roots.

Jobs:

- ``phase01``: the wind distribution and, per region partition, the risk rasters, their checks
  and the region's buildings (the seed's phase 01).
- ``all_assets``: every asset of the code location; new assets join it by being added to the
  list in :func:`build_assets`.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.assets import (
    build_region_assets,
    build_region_checks,
    wind_direction_distribution,
)
from ocr_assets.assets.wind import GROUP as PHASE01_GROUP
from ocr_assets.partitions import region_partitions
from ocr_assets.resources import InputCatalogResource, OutputStorage
from ocr_assets.settings import Settings

PHASE01_JOB = "phase01"
ALL_ASSETS_JOB = "all_assets"


def build_assets(
    partitions_def: dg.PartitionsDefinition,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Every asset of the code location and its checks, regions over ``partitions_def``."""
    regions = build_region_assets(partitions_def)
    assets = [wind_direction_distribution, regions.rasters, regions.buildings]
    checks = [build_region_checks(regions.rasters)]
    return assets, checks


def build_definitions(settings: Settings) -> dg.Definitions:
    """The Definitions of one environment: assets, checks, jobs and resources."""
    assets, checks = build_assets(region_partitions(settings.input_root))
    jobs = [
        dg.define_asset_job(
            PHASE01_JOB,
            selection=dg.AssetSelection.groups(PHASE01_GROUP),
            description="Phase 01: wind distribution, then per region rasters and buildings.",
        ),
        dg.define_asset_job(
            ALL_ASSETS_JOB,
            selection=dg.AssetSelection.all(),
            description="Every asset of the code location.",
        ),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        resources={
            "catalog": InputCatalogResource(root=settings.input_root),
            "storage": OutputStorage.from_settings(settings),
        },
    )


defs = build_definitions(Settings.from_env())
