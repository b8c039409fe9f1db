"""Reading the vector inputs (GeoParquet): columns, encodings, CRS and bounding-box queries.

Filtering uses the file's bounding-box struct column (the GeoParquet covering, else ``bbox``), so
it works on GeoPandas-written files and on DuckDB-written ones alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import shapely
from pyproj import CRS

from ocr_assets.catalog.layout import BBOX_QUERY_MARGIN_DEG
from ocr_assets.regions import Bounds


def check_bbox(bbox: Bounds | None) -> Bounds | None:
    """``bbox`` as four floats, or a ValueError unless it is (west, south, east, north)."""
    if bbox is None:
        return None
    if len(bbox) != 4 or not (bbox[0] <= bbox[2] and bbox[1] <= bbox[3]):
        raise ValueError(f"bbox must be (west, south, east, north), got {bbox!r}")
    west, south, east, north = (float(v) for v in bbox)
    return west, south, east, north


def bbox_column(geo: Mapping[str, Any], geometry: str) -> str:
    """The bounding-box struct column: the GeoParquet 1.1 covering, else ``bbox``."""
    covering = geo.get("columns", {}).get(geometry, {}).get("covering", {}).get("bbox", {})
    return covering.get("xmin", ["bbox"])[0]


def bbox_filter(file: object, schema: pa.Schema, column: str, bbox: Bounds) -> pc.Expression:
    """Rows whose ``column`` box intersects ``bbox`` grown by :data:`BBOX_QUERY_MARGIN_DEG`."""
    fields = ("xmin", "ymin", "xmax", "ymax")
    kind = schema.field(column).type if column in schema.names else None
    if not isinstance(kind, pa.StructType) or any(kind.get_field_index(f) < 0 for f in fields):
        found = "no such column" if kind is None else str(kind)
        raise ValueError(
            f"{file}: a bbox query needs a column {column!r} of struct<xmin, ymin, xmax, ymax> "
            f"(GeoParquet covering), found {found}"
        )
    margin = BBOX_QUERY_MARGIN_DEG
    west, south, east, north = bbox
    return (
        (pc.field(column, "xmin") <= east + margin)
        & (pc.field(column, "xmax") >= west - margin)
        & (pc.field(column, "ymin") <= north + margin)
        & (pc.field(column, "ymax") >= south - margin)
    )


def parse_crs(crs: object) -> CRS | None:
    """A GeoParquet ``crs`` value (PROJJSON, a string, or null for unknown).

    Longitude/latitude on WGS 84 (GeoParquet's default ``OGC:CRS84``) becomes EPSG:4326.
    """
    if crs is None:
        return None
    parsed = CRS.from_json_dict(crs) if isinstance(crs, dict) else CRS.from_user_input(crs)
    wgs84 = CRS.from_epsg(4326)
    return wgs84 if parsed.equals(wgs84, ignore_axis_order=True) else parsed


def read_geoparquet(
    fs: Any,
    path: str,
    name: str,
    required: Sequence[str],
    bbox: Bounds | None = None,
    columns: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Rows of the GeoParquet file at ``path`` on ``fs`` (those whose box intersects ``bbox``).

    ``columns`` (default: every column but the bounding box) are returned with the geometry;
    ``name`` names the file in errors.

    Raises:
        ValueError: naming the file and the column, when the file is not Parquet, lacks a
            ``required`` column or the bounding-box column a ``bbox`` query needs.
    """
    try:
        dataset = pads.dataset(path, filesystem=fs, format="parquet")
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(
            f"{name}: expected a GeoParquet file, found something else ({error})"
        ) from error
    schema = dataset.schema
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    geometry = geo.get("primary_column", "geometry")
    box = bbox_column(geo, geometry)
    if columns is None:
        wanted = [c for c in schema.names if c != box]
    else:
        wanted = list(dict.fromkeys([geometry, *columns]))
    for column in dict.fromkeys([geometry, *required, *wanted]):
        if column not in schema.names:
            raise ValueError(f"{name}: expected a column {column!r}, found {schema.names}")
    encoding = geo.get("columns", {}).get(geometry, {}).get("encoding", "WKB")
    if encoding != "WKB":
        raise ValueError(f"{name}: column {geometry!r} must be WKB-encoded, found {encoding!r}")
    row_filter = None if bbox is None else bbox_filter(name, schema, box, bbox)
    table = dataset.to_table(columns=wanted, filter=row_filter)
    crs = parse_crs(geo.get("columns", {}).get(geometry, {}).get("crs", "OGC:CRS84"))
    frame = gpd.GeoDataFrame(
        table.drop_columns([geometry]).to_pandas(),
        geometry=shapely.from_wkb(table[geometry].to_numpy(zero_copy_only=False)),
        crs=crs,
    )
    return frame.rename_geometry(geometry)[wanted] if geometry != "geometry" else frame[wanted]
