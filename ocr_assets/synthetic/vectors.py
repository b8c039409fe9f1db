"""Synthetic census polygons and Overture-like building footprints.

Census geography is a nested rectilinear partition of the grid's bounds: two states split by
a longitude line, 3 and 2 counties split by latitude lines, tracts and blocks as grid cells.
Children reuse their parent's edge coordinates exactly, so every level tiles the domain
without gaps or overlaps. GEOIDs nest the way TIGER's do: state (2 digits) + county (3) =
5, + tract (6) = 11, + block (4) = 15. None of the split lines falls on a region border.

The frames carry the columns of the published files: the TIGER/Line census levels (GEOID,
NAME, FIPS parts; STUSPS for states; nation GEOID ``US``), labelled NAD83 (EPSG:4269) like
TIGER's, which is not reprojected; the buildings with the columns of the published
region-tagged Overture file (:func:`tagged_buildings_table`).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ocr_assets.catalog import BUILDINGS_COLUMNS
from ocr_assets.regions import Bounds, RegionGrid
from ocr_assets.synthetic.landscape import BUILDING_WATER_MARGIN_DEG, Landscape

#: (FIPS, name, USPS code, counties as (FIPS, name), county split lines as fractions of the
#: domain height from the north).
STATES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...], tuple[float, ...]], ...] = (
    (
        "06",
        "California",
        "CA",
        (("015", "Del Norte"), ("093", "Siskiyou"), ("089", "Shasta")),
        (0.38, 0.72),
    ),
    ("32", "Nevada", "NV", (("031", "Washoe"), ("019", "Lyon")), (0.45,)),
)
#: The state border, as a fraction of the domain width from the west.
STATE_SPLIT = 0.55
#: Tract columns x rows per county, block columns x rows per tract.
TRACTS_PER_COUNTY = (3, 2)
BLOCKS_PER_TRACT = (4, 4)
#: The county that gets no buildings (and no towns): the north-west one.
EMPTY_COUNTY = "06015"

#: Share of buildings scattered outside towns, and of those snapped onto a region border.
RURAL_SHARE = 0.1
BORDER_SHARE = 0.02

Record = dict[str, object]


def _split(low: float, high: float, n: int) -> np.ndarray:
    """``n + 1`` edges from ``low`` to ``high``; the endpoints are exactly the inputs."""
    edges = np.linspace(low, high, n + 1)
    edges[0], edges[-1] = low, high
    return edges


def _cells(bounds: Bounds, shape: tuple[int, int]) -> list[Bounds]:
    """Split ``bounds`` into ``cols x rows`` cells, row by row from the north-west."""
    west, south, east, north = bounds
    xs = _split(west, east, shape[0])
    ys = _split(north, south, shape[1])
    return [
        (float(xs[i]), float(ys[j + 1]), float(xs[i + 1]), float(ys[j]))
        for j in range(shape[1])
        for i in range(shape[0])
    ]


def census_records(grid: RegionGrid) -> dict[str, list[Record]]:
    """Census units per level (``nation`` .. ``blocks``) as records with GEOID, NAME, bounds."""
    west, south, east, north = grid.total_bounds
    split = west + STATE_SPLIT * (east - west)
    levels: dict[str, list[Record]] = {
        "nation": [{"GEOID": "US", "NAME": "United States", "bounds": grid.total_bounds}],
        "states": [],
        "counties": [],
        "tracts": [],
        "blocks": [],
    }
    state_bounds = ((west, south, split, north), (split, south, east, north))
    for (fips, name, usps, counties, splits), s_bounds in zip(STATES, state_bounds, strict=True):
        levels["states"].append({"GEOID": fips, "NAME": name, "STUSPS": usps, "bounds": s_bounds})
        lat_edges = [north, *(north - f * (north - south) for f in splits), south]
        for k, (county_fips, county_name) in enumerate(counties):
            c_bounds = (s_bounds[0], lat_edges[k + 1], s_bounds[2], lat_edges[k])
            county_geoid = fips + county_fips
            levels["counties"].append(
                {"GEOID": county_geoid, "NAME": county_name, "bounds": c_bounds}
            )
            for t, t_bounds in enumerate(_cells(c_bounds, TRACTS_PER_COUNTY)):
                tract = f"{(t + 1) * 100:06d}"
                levels["tracts"].append(
                    {
                        "GEOID": county_geoid + tract,
                        "NAME": f"Census Tract {t + 1}",
                        "bounds": t_bounds,
                    }
                )
                for b, b_bounds in enumerate(_cells(t_bounds, BLOCKS_PER_TRACT)):
                    block = f"{1000 + b + 1:04d}"
                    levels["blocks"].append(
                        {
                            "GEOID": county_geoid + tract + block,
                            "NAME": f"Block {block}",
                            "bounds": b_bounds,
                        }
                    )
    return levels


#: CRS of the TIGER/Line files (NAD83); the published files keep it.
CENSUS_CRS = "EPSG:4269"


def _fips_parts(geoid: pd.Series, level: str) -> dict[str, pd.Series]:
    """The TIGER FIPS part columns of a level, cut from its GEOIDs."""
    parts = {"counties": 2, "tracts": 3, "blocks": 4}.get(level, 0)
    names = ("STATEFP", "COUNTYFP", "TRACTCE", "BLOCKCE")[:parts]
    edges = (0, 2, 5, 11, 15)
    return {name: geoid.str[edges[k] : edges[k + 1]] for k, name in enumerate(names)}


def census_frames(grid: RegionGrid) -> dict[str, gpd.GeoDataFrame]:
    """Census GeoDataFrames per level, the published columns (EPSG:4326 coordinates).

    Nation ``GEOID, NAME``; states ``GEOID, STUSPS, NAME``; counties, tracts and blocks their
    FIPS parts (``STATEFP``, ``COUNTYFP``, ``TRACTCE``, ``BLOCKCE``), ``GEOID`` and ``NAME``.
    The writer labels them NAD83 (:data:`CENSUS_CRS`) as TIGER's are, with the same numbers.
    """
    frames = {}
    for level, records in census_records(grid).items():
        table = pd.DataFrame([{k: v for k, v in r.items() if k != "bounds"} for r in records])
        columns = {**_fips_parts(table["GEOID"], level), "GEOID": table["GEOID"]}
        if level == "states":
            columns["STUSPS"] = table["STUSPS"]
        columns["NAME"] = table["NAME"]
        boxes = shapely.box(*np.array([r["bounds"] for r in records], dtype=np.float64).T)
        frames[level] = gpd.GeoDataFrame(pd.DataFrame(columns), geometry=boxes, crs="EPSG:4326")
    return frames


def empty_county_bounds(grid: RegionGrid) -> Bounds:
    """Bounds of :data:`EMPTY_COUNTY`, which gets no buildings."""
    (county,) = (c for c in census_records(grid)["counties"] if c["GEOID"] == EMPTY_COUNTY)
    return county["bounds"]


def _rectangles(rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Rectangles of 8-25 m sides centred on the points (some rotated), shapely polygons."""
    n = lon.size
    half_w = rng.uniform(4.0, 12.5, n)
    half_h = rng.uniform(4.0, 12.5, n)
    angle = np.where(rng.random(n) < 0.6, 0.0, rng.uniform(0.0, np.pi / 2, n))
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
    dx = corners[None, :, 0] * half_w[:, None]
    dy = corners[None, :, 1] * half_h[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    east_m, north_m = dx * cos - dy * sin, dx * sin + dy * cos
    coords = np.stack(
        [
            lon[:, None] + east_m / (111_320.0 * np.cos(np.deg2rad(lat[:, None]))),
            lat[:, None] + north_m / 110_540.0,
        ],
        axis=-1,
    )
    return shapely.polygons(coords)


def _snap_to_region_borders(
    grid: RegionGrid, rng: np.random.Generator, lon: np.ndarray
) -> np.ndarray:
    """Move a few points exactly onto the nearest interior region border (longitude)."""
    borders = grid.west + np.arange(1, grid.n_region_cols) * grid.region_cols * grid.pixel_size
    nearest = borders[np.argmin(np.abs(lon[:, None] - borders[None, :]), axis=1)]
    snap = (rng.random(lon.size) < BORDER_SHARE) & (np.abs(lon - nearest) < 0.003)
    return np.where(snap, nearest, lon)


def buildings_frame(
    grid: RegionGrid,
    landscape: Landscape,
    valid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    blocks: gpd.GeoDataFrame,
    rng: np.random.Generator,
    n_buildings: int,
) -> gpd.GeoDataFrame:
    """``n_buildings`` footprints clustered in towns, tagged with block GEOID, state, county.

    Args:
        grid: The region grid (buildings stay inside its bounds).
        landscape: Towns to cluster around, water to avoid.
        valid: ``valid(lon, lat)`` is True where the 30 m rasters have data at that point;
            a building is kept only where it holds at its polygon centroid.
        blocks: Census blocks, to tag each building with the block containing its centroid.
        rng: Random generator.
        n_buildings: How many buildings to make.
    """
    west, south, east, north = grid.total_bounds
    empty = empty_county_bounds(grid)
    towns = landscape.towns
    weights = towns[:, 2] ** 2 * rng.uniform(0.5, 1.5, len(towns))
    weights /= weights.sum()
    kept: list[np.ndarray] = []
    n_kept = 0
    while n_kept < n_buildings:
        n = max(1000, 2 * (n_buildings - n_kept))
        town = rng.choice(len(towns), size=n, p=weights)
        t_lon, t_lat, t_radius = towns[town].T
        spread = 0.8 * t_radius
        lat = t_lat + rng.normal(0.0, 1.0, n) * spread
        lon = t_lon + rng.normal(0.0, 1.0, n) * spread / np.cos(np.deg2rad(t_lat))
        rural = rng.random(n) < RURAL_SHARE
        lon = np.where(rural, rng.uniform(west, east, n), lon)
        lat = np.where(rural, rng.uniform(south, north, n), lat)
        lon = _snap_to_region_borders(grid, rng, lon)
        polygons = _rectangles(rng, lon, lat)
        centroids = shapely.centroid(polygons)
        c_lon, c_lat = shapely.get_x(centroids), shapely.get_y(centroids)
        inside = (c_lon > west) & (c_lon < east) & (c_lat > south) & (c_lat < north)
        in_empty = (
            (c_lon >= empty[0]) & (c_lon <= empty[2]) & (c_lat >= empty[1]) & (c_lat <= empty[3])
        )
        ok = inside & ~in_empty
        ok[ok] = ~landscape.water(c_lon[ok], c_lat[ok], margin=BUILDING_WATER_MARGIN_DEG)
        ok[ok] = valid(c_lon[ok], c_lat[ok])
        kept.append(polygons[ok])
        n_kept += int(ok.sum())
    geometry = np.concatenate(kept)[:n_buildings]

    points = gpd.GeoDataFrame(geometry=shapely.centroid(geometry), crs="EPSG:4326")
    joined = points.sjoin(blocks[["GEOID", "geometry"]], how="left", predicate="intersects")
    geoid = joined.loc[~joined.index.duplicated(keep="first"), "GEOID"].reindex(points.index)
    if geoid.isna().any():
        raise ValueError(f"{int(geoid.isna().sum())} buildings fall outside every census block")
    return gpd.GeoDataFrame(
        building_tags(pd.Series(geoid.astype(str).to_numpy())),
        geometry=geometry,
        crs="EPSG:4326",
    )[["geometry", *TAG_COLUMNS]]


#: The tag columns of the published region-tagged buildings file, in order (after geometry
#: and bbox).
TAG_COLUMNS: tuple[str, ...] = BUILDINGS_COLUMNS[2:]


def building_tags(block_geoid: pd.Series) -> pd.DataFrame:
    """The published tag columns of buildings in the blocks ``block_geoid``.

    The GEOID prefixes of lengths 15, 12, 11, 5 and 2, and the FIPS substrings exactly as the
    published tagging query cuts them, including its quirk: ``tract_fips``,
    ``block_group_fips`` and ``block_fips`` start one character early (SQL ``SUBSTRING(GEOID,
    5, 6)``, ``(11, 1)``, ``(12, 4)``). ``county_name`` is the Census county list's name
    (e.g. ``Shasta County``).
    """
    state_usps = {fips: usps for fips, _, usps, _, _ in STATES}
    county_names = {
        fips + c_fips: f"{name} County"
        for fips, *_, counties, _ in STATES
        for c_fips, name in counties
    }
    g = block_geoid.str
    return pd.DataFrame(
        {
            "block_geoid": block_geoid,
            "block_group_geoid": g[:12],
            "tract_geoid": g[:11],
            "county_geoid": g[:5],
            "state_fips": g[:2],
            "county_fips": g[2:5],
            "tract_fips": g[4:10],
            "block_group_fips": g[10:11],
            "block_fips": g[11:15],
            "state_abbrev": g[:2].map(state_usps),
            "county_name": g[:5].map(county_names),
        }
    )


def _float32_outward(values: np.ndarray, down: bool) -> np.ndarray:
    """``values`` as float32, rounded away from the box so the float32 box still covers it."""
    rounded = values.astype(np.float32)
    if down:
        return np.where(rounded > values, np.nextafter(rounded, np.float32(-np.inf)), rounded)
    return np.where(rounded < values, np.nextafter(rounded, np.float32(np.inf)), rounded)


def tagged_buildings_table(buildings: gpd.GeoDataFrame) -> pa.Table:
    """The buildings as the published region-tagged Overture GeoParquet file holds them.

    Columns ``geometry`` (WKB), ``bbox`` (Overture's struct ``xmin, xmax, ymin, ymax``,
    float32) and the tags; GeoParquet ``geo`` metadata as DuckDB writes it (version 1.0.0, no
    CRS, i.e. OGC:CRS84, no covering declared).
    """
    bounds = shapely.bounds(np.asarray(buildings.geometry.values))
    xmin, ymin, xmax, ymax = bounds.T
    bbox = pa.StructArray.from_arrays(
        [
            pa.array(_float32_outward(xmin, down=True)),
            pa.array(_float32_outward(xmax, down=False)),
            pa.array(_float32_outward(ymin, down=True)),
            pa.array(_float32_outward(ymax, down=False)),
        ],
        names=["xmin", "xmax", "ymin", "ymax"],
    )
    columns = {
        "geometry": pa.array(shapely.to_wkb(np.asarray(buildings.geometry.values)), pa.binary()),
        "bbox": bbox,
        **{name: pa.array(buildings[name].to_numpy(), pa.string()) for name in TAG_COLUMNS},
    }
    total = [float(xmin.min()), float(ymin.min()), float(xmax.max()), float(ymax.max())]
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": sorted(set(buildings.geometry.geom_type)),
                "bbox": total,
            }
        },
    }
    return pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
