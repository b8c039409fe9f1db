"""CONUS roll-ups of the region outputs (Phases 02 and 03), free of Dagster.

Pure functions that read region building files, census polygons, statistics or rasters from
the locations they are given and write their outputs atomically to the locations they are
given; the Dagster assets are thin wrappers around them.

=========================  ===================================================================
module                     output
=========================  ===================================================================
:mod:`.buildings`          consolidated building GeoParquet + hive copy with _common_metadata
:mod:`.stats`              per-region partial aggregates; per-level summary statistics
:mod:`.checks`             data-quality checks on the statistics (asset checks)
:mod:`.analysis_files`     per-level stats.csv / stats.geojson / stats.parquet
:mod:`.schema`             published columns, types, tile properties and metadata dicts
:mod:`.tiles`              regional, building and building-centroid PMTiles (tippecanoe)
:mod:`.pyramid`            multiscale Web-Mercator Zarr of rps_2011 / rps_2047
:mod:`.validation`         input validation (region building files, census polygons)
=========================  ===================================================================
"""

from ocr_assets.rollups.analysis_files import AnalysisFiles, write_analysis_files
from ocr_assets.rollups.buildings import ConsolidatedBuildings, consolidate_buildings
from ocr_assets.rollups.checks import (
    CheckOutcome,
    check_county_membership,
    check_histograms,
    check_means_in_range,
)
from ocr_assets.rollups.pyramid import PyramidSummary, level_for_resolution, write_risk_pyramid
from ocr_assets.rollups.schema import LEVELS, DatasetMetadata
from ocr_assets.rollups.stats import (
    RegionPartial,
    SummaryStatistics,
    assign_to_polygons,
    summary_statistics,
    write_region_partial,
    write_summary_statistics,
)
from ocr_assets.rollups.tiles import (
    BUILDING_TILES,
    CENTROID_TILES,
    REGION_TILES,
    PMTilesSummary,
    Tileset,
    building_centroid_pmtiles,
    building_pmtiles,
    regional_pmtiles,
    tile_features,
    write_building_features,
    write_centroid_features,
    write_region_features,
)
from ocr_assets.rollups.validation import CensusPolygons, census_polygons

__all__ = [
    "BUILDING_TILES",
    "CENTROID_TILES",
    "LEVELS",
    "REGION_TILES",
    "AnalysisFiles",
    "CensusPolygons",
    "CheckOutcome",
    "ConsolidatedBuildings",
    "DatasetMetadata",
    "PMTilesSummary",
    "PyramidSummary",
    "RegionPartial",
    "SummaryStatistics",
    "Tileset",
    "assign_to_polygons",
    "building_centroid_pmtiles",
    "building_pmtiles",
    "census_polygons",
    "check_county_membership",
    "check_histograms",
    "check_means_in_range",
    "consolidate_buildings",
    "level_for_resolution",
    "regional_pmtiles",
    "summary_statistics",
    "tile_features",
    "write_analysis_files",
    "write_building_features",
    "write_centroid_features",
    "write_region_features",
    "write_region_partial",
    "write_risk_pyramid",
    "write_summary_statistics",
]
