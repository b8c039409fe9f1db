"""The synthetic landscape: ocean, lakes and towns, as functions of longitude and latitude.

Every raster and the buildings are derived from one :class:`Landscape`, so water is NaN in
all rasters, towns are the zero-valued "developed" patches of the burn probability, and
buildings cluster in towns and never stand in water.

The coastline is laid out in *region units* (``x`` columns of regions east of the grid's west
edge, ``y`` rows of regions north of its south edge, the numbering of the region IDs) so that
whatever the region size, every region of column 0 except the northernmost row is entirely
ocean, and the coast then bends westwards in the last (possibly partial) row. On the demo grid
(3 x 4) that makes ``y0_x0`` and ``y1_x0`` ocean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ocr_assets.regions import Bounds, RegionGrid

#: Keep buildings at least this far (degrees) from any water, so a 270 m NaN pixel of the
#: coarse burn probability or the published blur (about 9 pixels) rarely drops them.
BUILDING_WATER_MARGIN_DEG = 0.004


def smoothstep(t: np.ndarray) -> np.ndarray:
    """Cubic ease from 0 (t <= 0) to 1 (t >= 1)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Landscape:
    """Ocean, lakes and towns of a synthetic domain.

    Attributes:
        grid: The region grid the landscape is laid out on.
        lakes: ``(k, 4)`` array of lake ellipses: centre lon, centre lat, semi-axes (degrees)
            along longitude and latitude.
        towns: ``(t, 3)`` array of towns: centre lon, centre lat, radius in degrees of
            latitude (the developed, zero burn-probability patch).
    """

    grid: RegionGrid
    lakes: np.ndarray
    towns: np.ndarray

    def _region_units(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = self.grid
        x = (np.asarray(lon) - g.west) / (g.region_cols * g.pixel_size)
        y = (np.asarray(lat) - g.south) / (g.region_rows * g.pixel_size)
        return x, y

    def coast_x(self, y: np.ndarray) -> np.ndarray:
        """Coastline position (region units east of the west edge) at ``y`` region rows north.

        At least 1.07 (column 0 all ocean) up to the last region row, where it bends westwards
        (to 0.35 across a whole last row, 0.75 across a half one).
        """
        base = 1.15 + 0.08 * np.sin(2.0 * np.pi * np.asarray(y) / 0.9)
        return base - 0.8 * smoothstep(np.asarray(y) - (self.grid.n_region_rows - 1))

    def water(self, lon: np.ndarray, lat: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True over ocean or lakes, grown by ``margin`` degrees; ``lon``/``lat`` broadcast."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        x, y = self._region_units(lon, lat)
        margin_x = margin / (self.grid.region_cols * self.grid.pixel_size)
        wet = x < self.coast_x(y) + margin_x
        for lake_lon, lake_lat, a, b in self.lakes:
            wet = wet | (
                ((lon - lake_lon) / (a + margin)) ** 2 + ((lat - lake_lat) / (b + margin)) ** 2
                <= 1.0
            )
        return wet

    def developed(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True inside a town's developed patch; ``lon``/``lat`` broadcast."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        inside = np.zeros(np.broadcast_shapes(lon.shape, lat.shape), dtype=bool)
        for town_lon, town_lat, radius in self.towns:
            dx = (lon - town_lon) * np.cos(np.deg2rad(town_lat))
            inside |= dx**2 + (lat - town_lat) ** 2 <= radius**2
        return inside


def _inside(lon: float, lat: float, bounds: Bounds, pad: float) -> bool:
    west, south, east, north = bounds
    return west - pad <= lon <= east + pad and south - pad <= lat <= north + pad


def make_landscape(grid: RegionGrid, rng: np.random.Generator, no_town_bounds: Bounds) -> Landscape:
    """Place lakes and towns on land, deterministically from ``rng``.

    The number of lakes and towns grows with the number of regions; lake and town sizes
    follow the region size but stay at least a few 270 m pixels wide. No town is placed in
    (or within its radius of) ``no_town_bounds``, the county meant to stay without buildings.
    """
    width = grid.region_cols * grid.pixel_size
    height = grid.region_rows * grid.pixel_size
    n_regions = grid.n_region_rows * grid.n_region_cols
    west, south, east, north = grid.total_bounds
    coast_only = Landscape(grid, np.empty((0, 4)), np.empty((0, 3)))

    lakes: list[tuple[float, float, float, float]] = []
    for _ in range(200 * n_regions):
        if len(lakes) >= max(2, n_regions // 3):
            break
        a = max(0.004, width * rng.uniform(0.10, 0.22))
        b = max(0.003, height * rng.uniform(0.08, 0.18))
        lon, lat = rng.uniform(west + a, east - a), rng.uniform(south + b, north - b)
        if not coast_only.water(lon, lat, margin=max(a, b) + 0.004):
            lakes.append((lon, lat, a, b))
    land = Landscape(grid, np.array(lakes, dtype=np.float64).reshape(-1, 4), np.empty((0, 3)))

    towns: list[tuple[float, float, float]] = []
    n_towns = max(4, round(1.5 * n_regions))
    for _ in range(500 * n_towns):
        if len(towns) >= n_towns:
            break
        radius = max(0.004, width * rng.uniform(0.04, 0.1))
        lon = rng.uniform(west + radius, east - radius)
        lat = rng.uniform(south + radius, north - radius)
        clear_of_others = all(
            np.hypot(lon - t_lon, lat - t_lat) > radius + t_radius
            for t_lon, t_lat, t_radius in towns
        )
        if (
            clear_of_others
            and not _inside(lon, lat, no_town_bounds, radius)
            and not land.water(lon, lat, margin=2 * radius + BUILDING_WATER_MARGIN_DEG)
        ):
            towns.append((lon, lat, radius))
    if not towns:
        raise ValueError(f"could not place any town on the land of grid {grid.to_dict()}")
    return Landscape(grid, land.lakes, np.array(towns, dtype=np.float64))
