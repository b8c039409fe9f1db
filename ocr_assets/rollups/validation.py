"""Input validation for the roll-ups: region building files and census polygons.

Every error is a ``ValueError`` whose message starts with the offending file (or source name)
and names the column, so a failed materialization says exactly what to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS

from ocr_assets.rollups.schema import LEVELS, NAME_COLUMNS, REGION_BUILDING_TYPES

_WGS84 = CRS.from_epsg(4326)
# GeoParquet: a missing "crs" key means OGC:CRS84 (longitude/latitude on WGS84).
_DEFAULT_GEOPARQUET_CRS = CRS.from_user_input("OGC:CRS84")
_BLOCK_GEOID_PATTERN = r"^[0-9]{15}$"


def is_wgs84(crs: CRS) -> bool:
    """True for longitude/latitude on WGS84 (EPSG:4326 or OGC:CRS84; axis order ignored)."""
    return crs.equals(_WGS84, ignore_axis_order=True)


def geoparquet_crs(column: dict[str, Any]) -> CRS | None:
    """The CRS of a GeoParquet column entry: absent means OGC:CRS84, null means undefined."""
    if "crs" not in column:
        return _DEFAULT_GEOPARQUET_CRS
    crs = column["crs"]
    if crs is None:
        return None
    return CRS.from_json_dict(crs) if isinstance(crs, dict) else CRS.from_user_input(crs)


def geo_metadata(schema: pa.Schema, source: str) -> dict[str, Any]:
    """The parsed GeoParquet ``geo`` metadata of ``schema``.

    Raises:
        ValueError: ``source`` is not GeoParquet (no or malformed ``geo`` metadata).
    """
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise ValueError(f"{source}: not a GeoParquet file (no 'geo' metadata)")
    try:
        meta = json.loads(raw)
        meta["columns"][meta["primary_column"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{source}: malformed GeoParquet 'geo' metadata ({error})") from error
    return meta


def validate_region_schema(schema: pa.Schema, source: str) -> dict[str, Any]:
    """Check a region building file's schema against the region building table contract.

    Checks, without reading any rows: GeoParquet metadata with WKB column ``geometry`` in
    EPSG:4326, every column of the table present with its type (strings may be any Arrow
    string type; the eight variables must be float32). Other columns are ignored: the roll-ups
    read only the table's columns and write them in the published order. Returns the ``geo``
    metadata.

    Raises:
        ValueError: naming ``source`` and the first offending column.
    """
    meta = geo_metadata(schema, source)
    names = set(schema.names)
    if "geometry" not in names or "geometry" not in meta["columns"]:
        raise ValueError(f"{source}: missing column 'geometry' (the building footprints)")
    column = meta["columns"]["geometry"]
    if column.get("encoding", "").upper() != "WKB":
        raise ValueError(f"{source}: column 'geometry' must be WKB-encoded")
    crs = geoparquet_crs(column)
    if crs is None or not is_wgs84(crs):
        name = "undefined" if crs is None else crs.to_string()
        raise ValueError(f"{source}: column 'geometry' has CRS {name}; expected EPSG:4326")
    for name, expected in REGION_BUILDING_TYPES.items():
        if name not in names:
            raise ValueError(f"{source}: missing column {name!r} (region building table)")
        actual = schema.field(name).type
        if pa.types.is_string(expected):
            ok = pa.types.is_string(actual) or pa.types.is_large_string(actual)
            ok = ok or pa.types.is_string_view(actual)
        else:
            ok = actual == expected
        if not ok:
            raise ValueError(f"{source}: column {name!r} has type {actual}; expected {expected}")
    return meta


def validate_block_geoids(geoids: pa.Array | pa.ChunkedArray, source: str) -> None:
    """Every building ``GEOID`` must be a 15-digit census block GEOID (state, county, ...).

    Raises:
        ValueError: naming ``source``, the column and an offending value.
    """
    valid = pc.fill_null(pc.match_substring_regex(geoids, _BLOCK_GEOID_PATTERN), False)
    if not pc.all(valid).as_py():
        bad = pc.filter(geoids, pc.invert(valid))[0].as_py()
        raise ValueError(
            f"{source}: column 'GEOID' must hold 15-digit census block GEOIDs, found {bad!r}"
        )


@dataclass(frozen=True)
class CensusPolygons:
    """One census level's polygons, validated; build with :func:`census_polygons`.

    Attributes:
        level: One of :data:`~ocr_assets.rollups.schema.LEVELS`.
        frame: ``GEOID`` (str), the level's name columns (``NAME``, ``STUSPS``) and
            ``geometry`` in EPSG:4326, sorted by ``GEOID`` with a fresh index, so a polygon's
            position is its rank by GEOID (the boundary rule of the statistics relies on it).
            Its spatial index is built once and reused by every region.
        source: Where the polygons came from (file name), for messages.
    """

    level: str
    frame: gpd.GeoDataFrame
    source: str

    @cached_property
    def geometries(self) -> np.ndarray:
        """The polygons as an array of shapely geometries, in GEOID order."""
        return self.frame.geometry.to_numpy()

    @cached_property
    def geoids(self) -> pa.Array:
        """The GEOIDs as an Arrow string array, in order."""
        return pa.array(self.frame["GEOID"].to_numpy(dtype=object), type=pa.string())


def census_polygons(frame: gpd.GeoDataFrame, level: str, source: str) -> CensusPolygons:
    """Validate one census level's polygons and return them ready for the roll-ups.

    Raises:
        ValueError: unknown level; a missing ``GEOID`` or name column (``NAME`` for the nation
            and counties, ``STUSPS`` and ``NAME`` for states); null, non-string or duplicate
            GEOIDs; no CRS; null or empty geometries.
    """
    if level not in LEVELS:
        raise ValueError(f"{source}: unknown census level {level!r}; expected one of {LEVELS}")
    for column in ("GEOID", *NAME_COLUMNS[level]):
        if column not in frame.columns:
            raise ValueError(f"{source}: census {level} polygons have no column {column!r}")
    geoids = frame["GEOID"]
    if geoids.isna().any():
        raise ValueError(f"{source}: column 'GEOID' has {int(geoids.isna().sum())} null values")
    if not pd.api.types.is_string_dtype(geoids):
        raise ValueError(
            f"{source}: column 'GEOID' must hold strings (leading zeros matter), got {geoids.dtype}"
        )
    duplicated = geoids[geoids.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{source}: column 'GEOID' has duplicate values, e.g. {duplicated.iloc[0]!r}"
        )
    for column in NAME_COLUMNS[level]:
        if not pd.api.types.is_string_dtype(frame[column]):
            raise ValueError(
                f"{source}: column {column!r} must hold strings, got {frame[column].dtype}"
            )
    if frame.crs is None:
        raise ValueError(f"{source}: column 'geometry' has no CRS; expected EPSG:4326")
    bad_geometry = frame.geometry.isna() | frame.geometry.is_empty
    if bad_geometry.any():
        example = geoids[bad_geometry].iloc[0]
        raise ValueError(f"{source}: column 'geometry' is null or empty for GEOID {example!r}")
    columns = ["GEOID", *NAME_COLUMNS[level], "geometry"]
    out = frame[columns].copy()
    out["GEOID"] = out["GEOID"].astype(str)
    if not is_wgs84(CRS.from_user_input(out.crs)):
        out = out.to_crs(_WGS84)
    out = out.sort_values("GEOID", kind="stable").reset_index(drop=True)
    return CensusPolygons(level=level, frame=out, source=source)
