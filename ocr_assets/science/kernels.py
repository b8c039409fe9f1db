"""Elliptical wind-spreading kernels for the directional spreading of burn probability.

The published kernels are 81 x 81 binary ellipses, one per wind direction, normalised to sum 1.
Row index grows northward (latitude ascending) and column index eastward, so a kernel is laid
out exactly like the burn-probability rasters it is applied to.
"""

from __future__ import annotations

import math

import numpy as np

DIRECTIONS: tuple[str, ...] = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
"""Wind-direction labels, in the order of the classes 0..7."""

DIRECTION_DIM = "wind_direction"
"""Name of the dimension that holds the 8 directions in distributions."""

KERNEL_SIZE = 81
KERNEL_ANCHOR = KERNEL_SIZE // 2  # (40, 40): the published filter anchors at the centre cell
EARTH_RADIUS_M = 6_371_000.0
SEMI_MAJOR_M = 400.0
SEMI_MINOR_M = 200.0
UPWIND_SHIFT_M = 110.0
MIN_FOOTPRINT = 200  # exclusive bounds, as the published assertion
MAX_FOOTPRINT = 500

_DIAGONAL_SHIFT = UPWIND_SHIFT_M / math.sqrt(2.0)

# (x shift, y shift) of the ellipse centre towards the upwind side, metres.
_CENTRE_SHIFT: dict[str, tuple[float, float]] = {
    "N": (0.0, UPWIND_SHIFT_M),
    "NE": (_DIAGONAL_SHIFT, _DIAGONAL_SHIFT),
    "E": (UPWIND_SHIFT_M, 0.0),
    "SE": (_DIAGONAL_SHIFT, -_DIAGONAL_SHIFT),
    "S": (0.0, -UPWIND_SHIFT_M),
    "SW": (-_DIAGONAL_SHIFT, -_DIAGONAL_SHIFT),
    "W": (-UPWIND_SHIFT_M, 0.0),
    "NW": (-_DIAGONAL_SHIFT, _DIAGONAL_SHIFT),
}

# Semi-axes (A along x, B along y) before the 45-degree rotation of the diagonals.
_MAJOR_ALONG_X = {"W", "E", "NE", "SW"}


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees (R = 6371 km)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def pixel_size_m(
    latitude: float, longitude: float, latitude_increment: float, longitude_increment: float
) -> tuple[float, float]:
    """Pixel width (east-west) and height (north-south) in metres at a point."""
    dx = haversine_m(latitude, longitude, latitude, longitude + longitude_increment)
    dy = haversine_m(latitude, longitude, latitude + latitude_increment, longitude)
    return dx, dy


def _ellipse(direction: str, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    xc, yc = _CENTRE_SHIFT[direction]
    a, b = (
        (SEMI_MAJOR_M, SEMI_MINOR_M)
        if direction in _MAJOR_ALONG_X
        else (SEMI_MINOR_M, SEMI_MAJOR_M)
    )
    dx = xx - xc
    dy = yy - yc
    if len(direction) == 1:
        return (dx / a) ** 2 + (dy / b) ** 2 <= 1.0
    return (dx + dy) ** 2 / (2.0 * a**2) + (dy - dx) ** 2 / (2.0 * b**2) <= 1.0


def kernel_footprints(dx_m: float, dy_m: float) -> dict[str, np.ndarray]:
    """The 8 boolean 81 x 81 ellipse footprints for pixels of ``dx_m`` x ``dy_m`` metres.

    Sample positions along each axis are 81 points evenly spaced from -41 to +40 pixel units
    inclusive (spacing 81/80: the published layout, reproduced on purpose), times the pixel size.
    """
    steps = np.linspace(-41.0, 40.0, KERNEL_SIZE)
    xx, yy = np.meshgrid(steps * dx_m, steps * dy_m)  # xx varies along columns, yy along rows
    return {direction: _ellipse(direction, xx, yy) for direction in DIRECTIONS}


def wind_kernels(
    latitude: float,
    longitude: float,
    latitude_increment: float,
    longitude_increment: float,
) -> dict[str, np.ndarray]:
    """The 8 normalised 81 x 81 float32 spreading kernels keyed ``N, NE, E, SE, S, SW, W, NW``.

    ``latitude``/``longitude`` locate the grid's centre pixel and the increments are the pixel
    spacing in degrees. Pixel sizes in metres come from the haversine distance of one pixel step
    there (see :func:`kernel_footprints` for the layout). The published code asserts
    ``200 < cells < 500`` for every kernel; a footprint outside that open range (500 cells
    included) means the grid spacing is not a 30 m grid, and raises ``ValueError``.
    """
    for name, value in (
        ("latitude", latitude),
        ("longitude", longitude),
        ("latitude_increment", latitude_increment),
        ("longitude_increment", longitude_increment),
    ):
        if not np.isfinite(value):
            raise ValueError(f"wind_kernels: {name} must be finite, got {value!r}")
    if not -90.0 <= latitude <= 90.0:
        raise ValueError(f"wind_kernels: latitude {latitude!r} is outside [-90, 90]")
    if latitude_increment == 0 or longitude_increment == 0:
        raise ValueError(
            "wind_kernels: pixel increments must be non-zero, got "
            f"latitude_increment={latitude_increment!r}, longitude_increment={longitude_increment!r}"
        )
    dx, dy = pixel_size_m(latitude, longitude, latitude_increment, longitude_increment)
    kernels: dict[str, np.ndarray] = {}
    for direction, inside in kernel_footprints(dx, dy).items():
        count = int(inside.sum())
        if not MIN_FOOTPRINT < count < MAX_FOOTPRINT:
            raise ValueError(
                f"wind_kernels: the {direction} kernel covers {count} cells, not strictly between "
                f"{MIN_FOOTPRINT} and {MAX_FOOTPRINT}; pixel size {dx:.2f} m x {dy:.2f} m at "
                f"({latitude}, {longitude}) does not look like a 30 m grid"
            )
        weights = inside.astype(np.float32)
        kernels[direction] = weights / np.float32(count)
    return kernels
