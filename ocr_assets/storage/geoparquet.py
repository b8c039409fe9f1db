"""GeoParquet 1.1 output: zstd, WKB geometries and a covering ``bbox`` column."""

from __future__ import annotations

import geopandas as gpd

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output


def write_geoparquet(frame: gpd.GeoDataFrame, location: str) -> int:
    """Write ``frame`` atomically as GeoParquet 1.1 and return the file size in bytes.

    The covering bbox column lets readers filter by extent (``read_parquet(bbox=...)``) without
    decoding geometries.
    """
    with atomic_output(location) as tmp:
        frame.to_parquet(
            tmp,
            compression="zstd",
            geometry_encoding="WKB",
            write_covering_bbox=True,
            schema_version="1.1.0",
            index=False,
        )
    return objects.size(location)
