"""Synthetic census polygons and Overture-like building footprints.

Census geography is a nested rectilinear partition of the grid's bounds: two states split by
a longitude line, 3 and 2 counties split by latitude lines, tracts and blocks as grid cells.
Children reuse their parent's edge coordinates exactly, so every level tiles the domain
without gaps or overlaps. GEOIDs nest the way TIGER's do: state (2 digits) + county (3) =
5, + tract (6) = 11, + block (4) = 15. None of the split lines falls on a region border.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

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
        "nation": [{"GEOID": "1", "NAME": "United States", "bounds": grid.total_bounds}],
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


def census_frames(grid: RegionGrid) -> dict[str, gpd.GeoDataFrame]:
    """Census GeoDataFrames (EPSG:4326) per level, columns GEOID, NAME (+ STUSPS), geometry."""
    frames = {}
    for level, records in census_records(grid).items():
        table = pd.DataFrame([{k: v for k, v in r.items() if k != "bounds"} for r in records])
        boxes = shapely.box(*np.array([r["bounds"] for r in records], dtype=np.float64).T)
        frames[level] = gpd.GeoDataFrame(table, geometry=boxes, crs="EPSG:4326")
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

    ids = [row.tobytes().hex() for row in rng.integers(0, 256, (n_buildings, 16), dtype=np.uint8)]
    gdf = gpd.GeoDataFrame({"id": ids}, geometry=geometry, crs="EPSG:4326")
    points = gpd.GeoDataFrame(geometry=shapely.centroid(geometry), crs="EPSG:4326")
    joined = points.sjoin(blocks[["GEOID", "geometry"]], how="left", predicate="intersects")
    geoid = joined.loc[~joined.index.duplicated(keep="first"), "GEOID"].reindex(gdf.index)
    if geoid.isna().any():
        raise ValueError(f"{int(geoid.isna().sum())} buildings fall outside every census block")
    gdf["GEOID"] = geoid.astype(str).to_numpy()
    state_usps = {fips: usps for fips, _, usps, _, _ in STATES}
    county_names = {
        fips + c_fips: name for fips, *_, counties, _ in STATES for c_fips, name in counties
    }
    gdf["state"] = gdf["GEOID"].str[:2].map(state_usps)
    gdf["county"] = gdf["GEOID"].str[:5].map(county_names)
    return gdf[["id", "geometry", "GEOID", "state", "county"]]
