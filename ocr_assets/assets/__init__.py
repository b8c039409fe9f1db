"""Thin Dagster assets over the science, catalog and storage layers."""

from ocr_assets.assets.checks import build_region_checks
from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets, build_region_assets
from ocr_assets.assets.wind import wind_direction_distribution

__all__ = [
    "REGION_RETRY_POLICY",
    "RegionAssets",
    "build_region_assets",
    "build_region_checks",
    "wind_direction_distribution",
]
