"""The processing-region grid: region IDs <-> pixel windows <-> lat/lon bounds.

CONUS is cut into processing regions that are the chunks of the 30 m (1 arc-second) CRPS
grid (SCIENCE.md, "Processing regions"). A region ID is ``y{row}_x{col}``; row 0 is the
northernmost band and column 0 the westernmost.

Two index conventions meet here, and every method says which one it uses:

- *pixel indices* (``window``, ``buffered_window``, ``window_for_bounds``) count rows from the
  grid's north edge and columns from its west edge, like the region IDs;
- the *coordinate arrays* (``latitude()``, ``longitude()``) and the stores on disk are both
  ascending, so the northernmost row is the *last* latitude. ``latitude_index(rows)`` turns a
  row slice into the matching slice of the ascending latitude axis.

Pixel centres are ``lon_j = west + (j + 0.5) * pixel_size`` and
``lat_i = north - (i + 0.5) * pixel_size`` (``i`` counted from the north).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

#: Bounds as ``(west, south, east, north)`` in degrees.
Bounds = tuple[float, float, float, float]

_REGION_ID = re.compile(r"y(\d+)_x(\d+)")

# Tolerance (in pixels) for snapping a coordinate that lies on a pixel edge up to floating
# point rounding, so that e.g. ``region_at(*bounds(rid)[::3])`` is ``rid``.
_EDGE_TOLERANCE_PX = 1e-6


@dataclass(frozen=True)
class RegionGrid:
    """A regular lat/lon pixel grid cut into equally sized processing regions.

    Attributes:
        west: Longitude of the grid's west edge (pixel edge, degrees).
        north: Latitude of the grid's north edge (pixel edge, degrees).
        pixel_size: Pixel size in degrees (1 arc-second for the real data).
        region_rows: Pixel rows per region.
        region_cols: Pixel columns per region.
        n_region_rows: Number of region rows (north to south).
        n_region_cols: Number of region columns (west to east).
        buffer_degrees: Context added on every side of a region before computing it.
    """

    west: float
    north: float
    pixel_size: float = 1 / 3600
    region_rows: int = 6000
    region_cols: int = 4500
    n_region_rows: int = 15
    n_region_cols: int = 45
    buffer_degrees: float = 0.15

    def __post_init__(self) -> None:
        """Reject grids that cannot be indexed."""
        if not self.pixel_size > 0:
            raise ValueError(f"pixel_size must be > 0, got {self.pixel_size!r}")
        for name in ("region_rows", "region_cols", "n_region_rows", "n_region_cols"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.buffer_degrees < 0:
            raise ValueError(f"buffer_degrees must be >= 0, got {self.buffer_degrees!r}")

    # ------------------------------------------------------------------ sizes and edges
    @property
    def height(self) -> int:
        """Total number of pixel rows."""
        return self.region_rows * self.n_region_rows

    @property
    def width(self) -> int:
        """Total number of pixel columns."""
        return self.region_cols * self.n_region_cols

    @property
    def south(self) -> float:
        """Latitude of the grid's south edge."""
        return self.north - self.height * self.pixel_size

    @property
    def east(self) -> float:
        """Longitude of the grid's east edge."""
        return self.west + self.width * self.pixel_size

    @property
    def total_bounds(self) -> Bounds:
        """``(west, south, east, north)`` of the whole grid (pixel edges)."""
        return (self.west, self.south, self.east, self.north)

    def to_dict(self) -> dict[str, float | int]:
        """The grid parameters as a JSON-friendly dict (the inverse of ``RegionGrid(**d)``)."""
        return {
            "west": float(self.west),
            "north": float(self.north),
            "pixel_size": float(self.pixel_size),
            "region_rows": int(self.region_rows),
            "region_cols": int(self.region_cols),
            "n_region_rows": int(self.n_region_rows),
            "n_region_cols": int(self.n_region_cols),
            "buffer_degrees": float(self.buffer_degrees),
        }

    # ------------------------------------------------------------------ IDs
    def _ranges_text(self) -> str:
        return f"rows 0..{self.n_region_rows - 1}, cols 0..{self.n_region_cols - 1}"

    def parse(self, region_id: str) -> tuple[int, int]:
        """Return ``(row, col)`` of a region ID ``y{row}_x{col}``.

        Raises:
            ValueError: naming the ID, the expected format and the valid ranges, when the ID
                is malformed or outside this grid.
        """
        match = _REGION_ID.fullmatch(region_id) if isinstance(region_id, str) else None
        if match is None:
            raise ValueError(
                f"invalid region ID {region_id!r}: expected the format 'y{{row}}_x{{col}}' "
                f"with {self._ranges_text()}"
            )
        row, col = int(match.group(1)), int(match.group(2))
        if not (0 <= row < self.n_region_rows and 0 <= col < self.n_region_cols):
            raise ValueError(
                f"region ID {region_id!r} is outside the grid: the format is "
                f"'y{{row}}_x{{col}}' with {self._ranges_text()}"
            )
        return row, col

    def region_id(self, row: int, col: int) -> str:
        """Return the ID ``y{row}_x{col}``; ValueError when the indices are outside the grid."""
        if not (0 <= row < self.n_region_rows and 0 <= col < self.n_region_cols):
            raise ValueError(
                f"region row/col ({row}, {col}) is outside the grid: {self._ranges_text()}"
            )
        return f"y{row}_x{col}"

    def all_region_ids(self) -> list[str]:
        """All region IDs, row by row from the north-west corner."""
        return [
            f"y{row}_x{col}"
            for row in range(self.n_region_rows)
            for col in range(self.n_region_cols)
        ]

    # ------------------------------------------------------------------ windows and bounds
    def window(self, region_id: str) -> tuple[slice, slice]:
        """Pixel window ``(row_slice, col_slice)`` of a region, rows counted from the north."""
        row, col = self.parse(region_id)
        return (
            slice(row * self.region_rows, (row + 1) * self.region_rows),
            slice(col * self.region_cols, (col + 1) * self.region_cols),
        )

    def window_bounds(self, rows: slice, cols: slice) -> Bounds:
        """``(west, south, east, north)`` pixel edges of a pixel window (rows from the north)."""
        return (
            self.west + cols.start * self.pixel_size,
            self.north - rows.stop * self.pixel_size,
            self.west + cols.stop * self.pixel_size,
            self.north - rows.start * self.pixel_size,
        )

    def bounds(self, region_id: str) -> Bounds:
        """``(west, south, east, north)`` of a region (outer pixel edges, degrees)."""
        return self.window_bounds(*self.window(region_id))

    def buffered_bounds(self, region_id: str) -> Bounds:
        """Region bounds grown by ``buffer_degrees`` on every side (not clipped to the grid)."""
        west, south, east, north = self.bounds(region_id)
        b = self.buffer_degrees
        return (west - b, south - b, east + b, north + b)

    def window_for_bounds(self, bounds: Bounds) -> tuple[slice, slice]:
        """Pixel window (rows from the north) of all pixels touching ``bounds``, clipped.

        Edges that fall on pixel edges (up to floating point rounding) do not pull in the
        neighbouring pixel. The result may be empty when ``bounds`` misses the grid.
        """
        west, south, east, north = bounds
        if not (west <= east and south <= north):
            raise ValueError(f"bounds must be (west, south, east, north), got {bounds!r}")
        col0 = math.floor(self._snap((west - self.west) / self.pixel_size))
        col1 = math.ceil(self._snap((east - self.west) / self.pixel_size))
        row0 = math.floor(self._snap((self.north - north) / self.pixel_size))
        row1 = math.ceil(self._snap((self.north - south) / self.pixel_size))
        row0, row1 = (min(max(v, 0), self.height) for v in (row0, row1))
        col0, col1 = (min(max(v, 0), self.width) for v in (col0, col1))
        return slice(row0, row1), slice(col0, col1)

    def buffered_window(self, region_id: str) -> tuple[slice, slice]:
        """Pixel window (rows from the north) of the buffered region, clipped to the grid."""
        return self.window_for_bounds(self.buffered_bounds(region_id))

    def latitude_index(self, rows: slice) -> slice:
        """Turn a row slice (rows from the north) into a slice of the ascending ``latitude()``."""
        start, stop, _ = rows.indices(self.height)
        return slice(self.height - stop, self.height - start)

    def region_at(self, lon: float, lat: float) -> str:
        """ID of the region containing the point (west and north edges belong to a region).

        Raises:
            ValueError: when the point lies outside the grid.
        """
        col = math.floor(self._snap((lon - self.west) / self.pixel_size))
        row = math.floor(self._snap((self.north - lat) / self.pixel_size))
        if not (0 <= row < self.height and 0 <= col < self.width):
            raise ValueError(
                f"point (lon={lon!r}, lat={lat!r}) is outside the grid bounds {self.total_bounds!r}"
            )
        return f"y{row // self.region_rows}_x{col // self.region_cols}"

    # ------------------------------------------------------------------ coordinates
    def latitude(self) -> np.ndarray:
        """Latitudes of the pixel centres, float64, ascending (south to north)."""
        i = np.arange(self.height - 1, -1, -1, dtype=np.float64)
        return self.north - (i + 0.5) * self.pixel_size

    def longitude(self) -> np.ndarray:
        """Longitudes of the pixel centres, float64, ascending (west to east)."""
        j = np.arange(self.width, dtype=np.float64)
        return self.west + (j + 0.5) * self.pixel_size

    @staticmethod
    def _snap(pixels: float) -> float:
        nearest = round(pixels)
        return float(nearest) if abs(pixels - nearest) < _EDGE_TOLERANCE_PX else pixels


#: The real 15 x 45 CONUS grid. The origin here is the planning default; the catalog reads the
#: real origin from the CRPS store (``InputCatalog.grid``), which is authoritative.
CONUS_GRID = RegionGrid(west=-125.0, north=50.0)


def demo_grid(
    region_rows: int = 600,
    region_cols: int = 450,
    n_region_rows: int = 3,
    n_region_cols: int = 4,
) -> RegionGrid:
    """The synthetic demo grid: 3 x 4 regions of 600 x 450 px from (-121.0 W, 40.0 N).

    Region size and count are arguments so tests can use a tinier grid; the pixel size
    (1 arc-second) and the 0.15 degree buffer are those of the real grid.
    """
    return RegionGrid(
        west=-121.0,
        north=40.0,
        region_rows=region_rows,
        region_cols=region_cols,
        n_region_rows=n_region_rows,
        n_region_cols=n_region_cols,
        buffer_degrees=0.15,
    )
