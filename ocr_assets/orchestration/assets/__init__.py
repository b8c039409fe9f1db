"""The assets and asset checks of the code location, by domain (one module each).

=============================  ===================================================================
module                         assets
=============================  ===================================================================
:mod:`.inputs`                 the region inputs as observable source assets (group ``inputs``)
:mod:`.wind`                   ``wind_direction_distribution`` (phase 01)
:mod:`.regions`                ``region_risk_rasters``, ``region_buildings`` (phase 01, per region)
:mod:`.region_checks`          the four blocking checks of ``region_risk_rasters``, per region
:mod:`.statistics`             ``region_statistics_partials`` (per region), ``region_summary_stats``,
                               ``region_analysis_files`` (phase 02)
:mod:`.statistics_checks`      the three blocking checks of ``region_summary_stats``
:mod:`.geoparquet`             ``buildings_geoparquet`` (phase 02)
:mod:`.pyramid`                ``risk_pyramid`` (phase 02)
:mod:`.tiles`                  ``regional_pmtiles`` (phase 02), ``region_tile_features`` (per
                               region), ``building_pmtiles``, ``building_centroid_pmtiles``
                               (phase 03)
:mod:`.rollups`                what the roll-ups share; :mod:`.metadata`: materialization metadata
=============================  ===================================================================

Every asset is a module-level definition over one partitions definition; an asset's body does
its work on its own cluster through the ``compute`` resource.
"""

import dagster as dg

from ocr_assets.orchestration.assets.geoparquet import buildings_geoparquet
from ocr_assets.orchestration.assets.inputs import REGION_INPUT_ASSETS, ROW_INPUT_ASSETS
from ocr_assets.orchestration.assets.pyramid import risk_pyramid
from ocr_assets.orchestration.assets.region_checks import region_risk_raster_checks
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.statistics import (
    region_analysis_files,
    region_statistics_partials,
    region_summary_stats,
)
from ocr_assets.orchestration.assets.statistics_checks import region_summary_stats_checks
from ocr_assets.orchestration.assets.tiles import (
    building_centroid_pmtiles,
    building_pmtiles,
    region_tile_features,
    regional_pmtiles_archive,
)
from ocr_assets.orchestration.assets.wind import wind_direction_distribution

#: Every asset of the code location (the inputs' source assets first), in dependency order.
ASSETS: list[dg.AssetsDefinition | dg.SourceAsset] = [
    *REGION_INPUT_ASSETS,
    *ROW_INPUT_ASSETS.values(),
    wind_direction_distribution,
    region_risk_rasters,
    region_buildings,
    region_statistics_partials,
    buildings_geoparquet,
    region_summary_stats,
    region_analysis_files,
    regional_pmtiles_archive,
    risk_pyramid,
    region_tile_features,
    building_pmtiles,
    building_centroid_pmtiles,
]

#: Every asset check of the code location.
CHECKS: list[dg.AssetChecksDefinition] = [region_risk_raster_checks, region_summary_stats_checks]

__all__ = ["ASSETS", "CHECKS"]
