"""The processing-region grid: region IDs <-> pixel windows <-> lat/lon bounds.

CONUS is cut into processing regions that are the chunks of the 30 m CRPS grid of the Scott
store (``docs/published-interface.md``, "Region grid"). A region ID is ``y{row}_x{col}``; row 0
is the *southernmost* band and column 0 the westernmost, as in the published numbering.

Pixel rows count from the grid's south edge and columns from its west edge, so they index the
stores' ascending ``latitude`` and ``longitude`` axes directly: a region's window is a slice of
both. Pixel centres are ``lon_j = west + (j + 0.5) * pixel_size`` and
``lat_i = south + (i + 0.5) * pixel_size``.

Regions are the chunks of the grid: ``region_rows`` x ``region_cols`` pixels, except that the
last region row and column hold what is left of the shape (partial chunks, as on the real grid:
97579 x 208881 pixels in chunks of 6000 x 4500 give 17 x 47 regions).

Every point of the grid lies in exactly one region: a region owns the half-open box
``[west, east) x [south, north)`` of its pixel edges, and the grid's outer east and north
edges are closed (they belong to the last column and row).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

#: Bounds as ``(west, south, east, north)`` in degrees.
Bounds = tuple[float, float, float, float]

# Canonical IDs only: ASCII digits, no leading zeros (``y01_x2`` and IDs written with other
# scripts' digits, which `\d` and `int` would accept, are refused).
_REGION_ID = re.compile(r"y(0|[1-9][0-9]*)_x(0|[1-9][0-9]*)", re.ASCII)

# Tolerance (in pixels) for snapping a coordinate that lies on a pixel edge up to floating
# point rounding, so that e.g. ``region_at(*bounds(rid)[:2])`` is ``rid``.
_EDGE_TOLERANCE_PX = 1e-6


def region_sort_key(region_id: str) -> tuple[int, int, str]:
    """Sorts region IDs in grid order (south-west first: by row, then column); IDs that are
    not canonical sort after, by their text."""
    match = _REGION_ID.fullmatch(region_id)
    if match is None:
        return (2**31, 2**31, region_id)
    return (int(match.group(1)), int(match.group(2)), "")


#: Bits of a building feature ID below the region's part: rows of one region file.
FEATURE_ROW_BITS = 32
_FEATURE_REGION_AXIS_BITS = 10


def feature_id_base(region_id: str) -> int:
    """The first building feature ID of region ``region_id``; its buildings are ``base + row``.

    ``(y << 10 | x) << 32``: unique across regions, independent of how the tiling is split
    or of tippecanoe's threads, and below 2**52, so a JavaScript client (MapLibre) reads it
    exactly.

    Raises:
        ValueError: ``region_id`` is not a canonical ``y<row>_x<col>`` ID, or its row or column
            is 1024 or more.
    """
    match = _REGION_ID.fullmatch(region_id)
    if match is None:
        raise ValueError(f"region ID {region_id!r} is not of the form y<row>_x<col>")
    y, x = int(match.group(1)), int(match.group(2))
    limit = 1 << _FEATURE_REGION_AXIS_BITS
    if y >= limit or x >= limit:
        raise ValueError(f"region ID {region_id!r}: row and column must be below {limit}")
    return ((y << _FEATURE_REGION_AXIS_BITS) | x) << FEATURE_ROW_BITS


@dataclass(frozen=True)
class RegionGrid:
    """A regular lat/lon pixel grid cut into processing regions (its chunks).

    Attributes:
        west: Longitude of the grid's west edge (pixel edge, degrees).
        south: Latitude of the grid's south edge (pixel edge, degrees).
        pixel_size: Pixel size in degrees, the same along both axes.
        height: Pixel rows of the grid (latitude).
        width: Pixel columns of the grid (longitude).
        region_rows: Pixel rows per region (the chunk size along latitude).
        region_cols: Pixel columns per region (the chunk size along longitude).
        buffer_degrees: Context added on every side of a region before computing it.
    """

    west: float
    south: float
    pixel_size: float
    height: int
    width: int
    region_rows: int = 6000
    region_cols: int = 4500
    buffer_degrees: float = 0.15

    def __post_init__(self) -> None:
        """Reject grids that cannot be indexed."""
        for name in ("west", "south"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if not self.pixel_size > 0:
            raise ValueError(f"pixel_size must be > 0, got {self.pixel_size!r}")
        for name in ("height", "width", "region_rows", "region_cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.buffer_degrees >= 0:
            raise ValueError(f"buffer_degrees must be >= 0, got {self.buffer_degrees!r}")

    # ------------------------------------------------------------------ sizes and edges
    @property
    def n_region_rows(self) -> int:
        """Number of region rows (south to north); the last one may be partial."""
        return -(-self.height // self.region_rows)

    @property
    def n_region_cols(self) -> int:
        """Number of region columns (west to east); the last one may be partial."""
        return -(-self.width // self.region_cols)

    @property
    def north(self) -> float:
        """Latitude of the grid's north edge."""
        return self.south + self.height * self.pixel_size

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
            "south": float(self.south),
            "pixel_size": float(self.pixel_size),
            "height": int(self.height),
            "width": int(self.width),
            "region_rows": int(self.region_rows),
            "region_cols": int(self.region_cols),
            "buffer_degrees": float(self.buffer_degrees),
        }

    # ------------------------------------------------------------------ IDs
    def _ranges_text(self) -> str:
        return f"rows 0..{self.n_region_rows - 1}, cols 0..{self.n_region_cols - 1}"

    def parse(self, region_id: str) -> tuple[int, int]:
        """Return ``(row, col)`` of a canonical region ID ``y{row}_x{col}``.

        Raises:
            ValueError: naming the ID, the expected format and the valid ranges, when the ID
                is not canonical (ASCII digits, no leading zeros) or lies outside this grid.
        """
        match = _REGION_ID.fullmatch(region_id) if isinstance(region_id, str) else None
        if match is None:
            raise ValueError(
                f"invalid region ID {region_id!r}: expected the format 'y{{row}}_x{{col}}' "
                f"with ASCII digits and no leading zeros, {self._ranges_text()}"
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
        """All region IDs, row by row from the south-west corner."""
        return [
            f"y{row}_x{col}"
            for row in range(self.n_region_rows)
            for col in range(self.n_region_cols)
        ]

    # ------------------------------------------------------------------ windows and bounds
    def window(self, region_id: str) -> tuple[slice, slice]:
        """Pixel window ``(row_slice, col_slice)`` of a region: slices of the ascending
        latitude and longitude axes; the last row and column of regions may be partial."""
        row, col = self.parse(region_id)
        return (
            slice(row * self.region_rows, min((row + 1) * self.region_rows, self.height)),
            slice(col * self.region_cols, min((col + 1) * self.region_cols, self.width)),
        )

    def window_bounds(self, rows: slice, cols: slice) -> Bounds:
        """``(west, south, east, north)`` pixel edges of a pixel window."""
        return (
            self.west + cols.start * self.pixel_size,
            self.south + rows.start * self.pixel_size,
            self.west + cols.stop * self.pixel_size,
            self.south + rows.stop * self.pixel_size,
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
        """Pixel window of all pixels touching ``bounds``, clipped to the grid.

        Edges that fall on pixel edges (up to floating point rounding) do not pull in the
        neighbouring pixel. The result may be empty when ``bounds`` misses the grid.
        """
        west, south, east, north = bounds
        if not (west <= east and south <= north):
            raise ValueError(f"bounds must be (west, south, east, north), got {bounds!r}")
        col0 = math.floor(self._snap((west - self.west) / self.pixel_size))
        col1 = math.ceil(self._snap((east - self.west) / self.pixel_size))
        row0 = math.floor(self._snap((south - self.south) / self.pixel_size))
        row1 = math.ceil(self._snap((north - self.south) / self.pixel_size))
        row0, row1 = (min(max(v, 0), self.height) for v in (row0, row1))
        col0, col1 = (min(max(v, 0), self.width) for v in (col0, col1))
        return slice(row0, row1), slice(col0, col1)

    def buffered_window(self, region_id: str) -> tuple[slice, slice]:
        """Pixel window of the buffered region, clipped to the grid."""
        return self.window_for_bounds(self.buffered_bounds(region_id))

    # ------------------------------------------------------------------ points
    def region_indices(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Region ``(row, col)`` of each point, ``-1`` for both where it lies outside the grid.

        A region owns ``[west, east) x [south, north)`` of its pixel edges; the grid's own east
        and north edges are closed. Points within a millionth of a pixel of a pixel edge count
        as on it, so every point belongs to exactly one region (or none).
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        col = self._pixel_index((lon - self.west) / self.pixel_size, self.width)
        row = self._pixel_index((lat - self.south) / self.pixel_size, self.height)
        inside = (col >= 0) & (row >= 0)
        return (
            np.where(inside, row // self.region_rows, -1),
            np.where(inside, col // self.region_cols, -1),
        )

    def contains(self, region_id: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True for the points that belong to the region (see :meth:`region_indices`)."""
        row, col = self.parse(region_id)
        rows, cols = self.region_indices(lon, lat)
        return (rows == row) & (cols == col)

    def region_at(self, lon: float, lat: float) -> str:
        """ID of the region containing the point (see :meth:`region_indices`).

        Raises:
            ValueError: when the point lies outside the grid.
        """
        rows, cols = self.region_indices(np.array([lon]), np.array([lat]))
        if rows[0] < 0:
            raise ValueError(
                f"point (lon={lon!r}, lat={lat!r}) is outside the grid bounds {self.total_bounds!r}"
            )
        return f"y{int(rows[0])}_x{int(cols[0])}"

    # ------------------------------------------------------------------ coordinates
    def latitude(self) -> np.ndarray:
        """Latitudes of the pixel centres, float64, ascending (south to north)."""
        return self.south + (np.arange(self.height, dtype=np.float64) + 0.5) * self.pixel_size

    def longitude(self) -> np.ndarray:
        """Longitudes of the pixel centres, float64, ascending (west to east)."""
        return self.west + (np.arange(self.width, dtype=np.float64) + 0.5) * self.pixel_size

    @staticmethod
    def _snap(pixels: float) -> float:
        nearest = round(pixels)
        return float(nearest) if abs(pixels - nearest) < _EDGE_TOLERANCE_PX else pixels

    @staticmethod
    def _pixel_index(pixels: np.ndarray, size: int) -> np.ndarray:
        """Pixel index of fractional pixel coordinates; ``size`` (the closed outer edge) maps
        to the last pixel, anything else outside ``[0, size)`` to -1."""
        nearest = np.round(pixels)
        snapped = np.where(np.abs(pixels - nearest) < _EDGE_TOLERANCE_PX, nearest, pixels)
        index = np.floor(np.nan_to_num(snapped, nan=-1.0, posinf=-1.0)).astype(np.int64)
        index = np.where(snapped == size, size - 1, index)
        return np.where((index >= 0) & (index < size), index, -1)


#: The published CONUS grid of the Scott et al. 2024 30 m EPSG:4326 store: 97579 x 208881
#: pixels of 0.00030799387843671866 degrees from (128.3876 W, 22.4281 N), in regions of
#: 6000 x 4500 pixels with partial last chunks (17 x 47 regions).
CONUS_GRID = RegionGrid(
    west=-128.3875562194317,
    south=22.428114227623333,
    pixel_size=0.00030799387843671866,
    height=97579,
    width=208881,
    region_rows=6000,
    region_cols=4500,
)

#: Pixel offset of the demo grid's south-west corner from the published grid's origin: the demo
#: lies on the published pixel lattice, around 121 W, 38.5 N (northern California).
DEMO_ORIGIN_PIXELS = (52000, 23000)


def demo_grid(
    region_rows: int = 600,
    region_cols: int = 450,
    n_region_rows: int = 3,
    n_region_cols: int = 4,
    partial: bool = True,
) -> RegionGrid:
    """The synthetic demo grid: 3 x 4 regions of 600 x 450 px on the published pixel lattice.

    With ``partial`` (the default) the last region row and column are partial chunks of half a
    region (rounded up), as on the real grid; without it every region is whole. Region size and
    count are arguments so tests can use a tinier grid; the pixel size, the pixel lattice and
    the 0.15 degree buffer are those of the real grid.
    """
    if partial:
        height = (n_region_rows - 1) * region_rows + -(-region_rows // 2)
        width = (n_region_cols - 1) * region_cols + -(-region_cols // 2)
    else:
        height, width = n_region_rows * region_rows, n_region_cols * region_cols
    row0, col0 = DEMO_ORIGIN_PIXELS
    return RegionGrid(
        west=CONUS_GRID.west + col0 * CONUS_GRID.pixel_size,
        south=CONUS_GRID.south + row0 * CONUS_GRID.pixel_size,
        pixel_size=CONUS_GRID.pixel_size,
        height=height,
        width=width,
        region_rows=region_rows,
        region_cols=region_cols,
        buffer_degrees=CONUS_GRID.buffer_degrees,
    )
