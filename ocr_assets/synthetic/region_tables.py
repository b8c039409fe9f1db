"""Region building tables of made-up footprints, for the roll-ups' tests and benchmarks.

:func:`region_buildings_table` gives the table the roll-ups read (the region building table:
the eight variables as float32, ``GEOID``, ``state``, ``county`` and the footprints) for any
footprints, with uniform random values from a seed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ocr_assets.regions import feature_id_base
from ocr_assets.rollups.schema import RISK_VARIABLES
from ocr_assets.rollups.tiles import building_features, centroid_features


def region_buildings_table(
    footprints: np.ndarray,
    seed: int,
    geoid: str = "060010001001000",
    state: str = "CA",
    county: str = "Alameda",
) -> gpd.GeoDataFrame:
    """The region building table of ``footprints`` (shapely polygons, EPSG:4326): every
    variable uniform in [0, 1) from ``seed``, every building in block ``geoid``."""
    rng = np.random.default_rng(seed)
    count = len(footprints)
    columns: dict[str, object] = {
        name: rng.uniform(0, 1, count).astype(np.float32) for name in RISK_VARIABLES
    }
    columns |= {
        "GEOID": pd.Series([geoid] * count, dtype=str),
        "state": pd.Series([state] * count, dtype=str),
        "county": pd.Series([county] * count, dtype=str),
    }
    return gpd.GeoDataFrame(columns, geometry=footprints, crs="EPSG:4326")


def write_feature_table(
    table: gpd.GeoDataFrame, region_id: str, folder: Path, centroids: bool = False
) -> str:
    """Write ``table`` as region ``region_id``'s building GeoParquet and its building tile
    features (``{region_id}.parquet``), or its centroid features when ``centroids``
    (``{region_id}-centroids.parquet``), in ``folder``; the features table's path."""
    buildings = folder / f"{region_id}-buildings.parquet"
    table.to_parquet(buildings, write_covering_bbox=True, schema_version="1.1.0", index=False)
    if centroids:
        features = folder / f"{region_id}-centroids.parquet"
        pq.write_table(centroid_features(str(buildings)), features)
    else:
        features = folder / f"{region_id}.parquet"
        pq.write_table(building_features(str(buildings), feature_id_base(region_id)), features)
    return str(features)
