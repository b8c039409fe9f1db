"""Thin Dagster assets over the science, catalog and storage layers."""

from ocr_assets.assets.aggregation import AggregationAssets, build_aggregation_assets
from ocr_assets.assets.aggregation_checks import build_summary_checks
from ocr_assets.assets.checks import build_region_checks
from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets, build_region_assets
from ocr_assets.assets.tiles import TileAssets, build_tile_assets
from ocr_assets.assets.wind import wind_direction_distribution

__all__ = [
    "REGION_RETRY_POLICY",
    "AggregationAssets",
    "RegionAssets",
    "TileAssets",
    "build_aggregation_assets",
    "build_region_assets",
    "build_region_checks",
    "build_summary_checks",
    "build_tile_assets",
    "wind_direction_distribution",
]
