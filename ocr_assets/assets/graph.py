"""The asset graph of the code location, for a given region partitioning.

One composition, used by the Definitions (:mod:`ocr_assets.definitions`) and by tests that
build the graph over their own region partitions.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.assets.aggregation import build_aggregation_assets
from ocr_assets.assets.aggregation_checks import build_summary_checks
from ocr_assets.assets.checks import build_region_checks
from ocr_assets.assets.inputs import REGION_INPUT_ASSETS
from ocr_assets.assets.regions import REGION_RETRY_POLICY, build_region_assets
from ocr_assets.assets.tiles import build_tile_assets
from ocr_assets.assets.wind import wind_direction_distribution


def build_assets(
    partitions_def: dg.PartitionsDefinition,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> tuple[list[dg.AssetsDefinition | dg.SourceAsset], list[dg.AssetChecksDefinition]]:
    """Every asset of the code location and its checks, regions over ``partitions_def``.

    ``retry_policy`` is the region-partitioned assets' (the environment's retries per region).
    """
    regions = build_region_assets(partitions_def, retry_policy)
    aggregation = build_aggregation_assets(partitions_def, regions, retry_policy)
    tiles = build_tile_assets(partitions_def, regions, aggregation.summary_stats, retry_policy)
    assets = [
        *REGION_INPUT_ASSETS,
        wind_direction_distribution,
        regions.rasters,
        regions.buildings,
        *aggregation.all,
        *tiles.all,
    ]
    checks = [
        build_region_checks(regions.rasters),
        build_summary_checks(aggregation.summary_stats, aggregation.statistics_partials),
    ]
    return assets, checks
