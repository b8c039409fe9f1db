"""Where every output lives under the storage root.

The layout follows the published Open Climate Risk buckets, so existing readers find things
where they expect them::

    {root}/output/fire-risk/tensor/{env}[/v{version}]/ocr.icechunk
    {root}/intermediate/fire-risk/vector/{env}[/v{version}]/geoparquet-regions/{region_id}.parquet
    {root}/intermediate/fire-risk/tensor/{env}[/v{version}]/wind-direction-distribution.zarr
    {root}/intermediate/fire-risk/vector/{env}[/v{version}]/region-statistics-partials/{region_id}/
    {root}/intermediate/fire-risk/vector/{env}[/v{version}]/region-summary-stats/{level}_summary_stats.parquet
    {root}/intermediate/fire-risk/vector/{env}[/v{version}]/tile-features/{region_id}/
    {root}/output/fire-risk/vector/{env}[/v{version}]/geoparquet/consolidated-buildings.parquet
    {root}/output/fire-risk/vector/{env}[/v{version}]/geoparquet/buildings.parquet/  (hive folder)
    {root}/output/fire-risk/vector/{env}[/v{version}]/region-analysis/{level}/
    {root}/output/fire-risk/vector/{env}[/v{version}]/pmtiles/{regions,buildings,building_centroids}.pmtiles
    {root}/output/fire-risk/pyramid/{env}[/v{version}]/pyramid.zarr

Locations are strings (a local path or an ``s3://`` URI), so the same layout serves both; the
storage helpers turn them into something they can write to.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path


class StorageError(RuntimeError):
    """An output location cannot be used; the message names the location and the reason."""


def is_remote(location: str) -> bool:
    """True for URIs (``s3://...``), False for local paths."""
    return "://" in location


def join(root: str, *parts: str) -> str:
    """Join path segments onto a local path or a URI."""
    if is_remote(root):
        return posixpath.join(root, *parts)
    return str(Path(root).joinpath(*parts))


def local_path(location: str) -> Path:
    """The local path of ``location``.

    Remote roots validate (``OCR_STORAGE_ROOT=s3://...``) but this build writes only to local
    disk; every write funnels through here so object storage slots in at one place.
    """
    if is_remote(location):
        raise StorageError(
            f"{location}: this build writes outputs to local folders only; set OCR_STORAGE_ROOT "
            "to a local folder"
        )
    return Path(location)


@dataclass(frozen=True)
class OutputPaths:
    """The output layout for one environment (and optional version) under one storage root."""

    root: str
    environment: str
    version: str | None = None

    def _scoped(self, *kind: str) -> str:
        parts = [*kind, self.environment]
        if self.version:
            parts.append(f"v{self.version}")
        return join(self.root, *parts)

    @property
    def raster_store(self) -> str:
        """The Icechunk repository holding the 30 m risk rasters of every region."""
        return join(self._scoped("output", "fire-risk", "tensor"), "ocr.icechunk")

    @property
    def wind_distribution(self) -> str:
        """The coarse (CONUS404 grid) fire-weather wind-direction distribution (Zarr)."""
        return join(
            self._scoped("intermediate", "fire-risk", "tensor"), "wind-direction-distribution.zarr"
        )

    @property
    def region_buildings_dir(self) -> str:
        """The folder of per-region building GeoParquet files."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "geoparquet-regions")

    def region_buildings(self, region_id: str) -> str:
        """The GeoParquet file of one region's buildings."""
        return join(self.region_buildings_dir, f"{region_id}.parquet")

    @property
    def region_statistics_partials_dir(self) -> str:
        """The folder of per-region partial aggregates of the summary statistics."""
        return join(
            self._scoped("intermediate", "fire-risk", "vector"), "region-statistics-partials"
        )

    def region_statistics_partial(self, region_id: str) -> str:
        """The folder of one region's partial aggregates (assignments and aggregates)."""
        return join(self.region_statistics_partials_dir, region_id)

    @property
    def region_summary_stats_dir(self) -> str:
        """The folder of the summary statistics, one GeoParquet file per census level."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "region-summary-stats")

    def region_summary_stats(self, level: str) -> str:
        """The summary statistics GeoParquet of one census level (published file name)."""
        return join(self.region_summary_stats_dir, f"{level}_summary_stats.parquet")

    @property
    def tile_features_dir(self) -> str:
        """The folder of per-region tippecanoe inputs (newline-delimited GeoJSON)."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "tile-features")

    def tile_features(self, region_id: str) -> str:
        """The folder of one region's building and building-centroid features."""
        return join(self.tile_features_dir, region_id)

    @property
    def geoparquet_dir(self) -> str:
        """The folder of the published building GeoParquet."""
        return join(self._scoped("output", "fire-risk", "vector"), "geoparquet")

    @property
    def consolidated_buildings(self) -> str:
        """Every building in one GeoParquet file (published name)."""
        return join(self.geoparquet_dir, "consolidated-buildings.parquet")

    @property
    def partitioned_buildings(self) -> str:
        """Every building, hive-partitioned by ``state_fips`` / ``county_fips`` (published name)."""
        return join(self.geoparquet_dir, "buildings.parquet")

    @property
    def region_analysis_dir(self) -> str:
        """The folder of the per-level analysis files."""
        return join(self._scoped("output", "fire-risk", "vector"), "region-analysis")

    def region_analysis(self, level: str) -> str:
        """The folder of one census level's ``stats.csv``, ``stats.geojson``, ``stats.parquet``."""
        return join(self.region_analysis_dir, level)

    @property
    def pmtiles_dir(self) -> str:
        """The folder of the PMTiles archives."""
        return join(self._scoped("output", "fire-risk", "vector"), "pmtiles")

    @property
    def regional_pmtiles(self) -> str:
        """The regional statistics archive (layers per census level)."""
        return join(self.pmtiles_dir, "regions.pmtiles")

    @property
    def building_pmtiles(self) -> str:
        """The building footprint archive."""
        return join(self.pmtiles_dir, "buildings.pmtiles")

    @property
    def building_centroid_pmtiles(self) -> str:
        """The building centroid archive."""
        return join(self.pmtiles_dir, "building_centroids.pmtiles")

    @property
    def risk_pyramid(self) -> str:
        """The multiscale Web-Mercator Zarr of rps_2011 / rps_2047."""
        return join(self._scoped("output", "fire-risk", "pyramid"), "pyramid.zarr")
