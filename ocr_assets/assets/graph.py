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
from ocr_assets.assets.regions import build_region_assets
from ocr_assets.assets.tiles import build_tile_assets
from ocr_assets.assets.wind import wind_direction_distribution


def build_assets(
    partitions_def: dg.PartitionsDefinition,
) -> tuple[list[dg.AssetsDefinition | dg.SourceAsset], list[dg.AssetChecksDefinition]]:
    """Every asset of the code location and its checks, regions over ``partitions_def``."""
    regions = build_region_assets(partitions_def)
    aggregation = build_aggregation_assets(partitions_def, regions)
    tiles = build_tile_assets(partitions_def, regions, aggregation.summary_stats)
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
        build_summary_checks(aggregation.summary_stats, partitions_def),
    ]
    return assets, checks
