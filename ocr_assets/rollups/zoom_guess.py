"""tippecanoe's ``-zg`` maximum-zoom guess, computed in parts and combined.

A building archive tiled in shards (:mod:`ocr_assets.rollups.shards`) must stop at the zoom one
tippecanoe run over every feature would choose. tippecanoe 2.72 chooses it from two
statistics of the features as it reads them (in its world coordinates: 32 bits per axis,
Web Mercator):

- *between features*: each feature's index point is encoded as a 64-bit quadkey and the
  quadkeys are sorted; the logarithms of the gaps between neighbours (zero gaps left out)
  give a mean and a standard deviation. "Nearby" features are ``exp(mean - 1.5 sd)`` apart,
  and the zoom is the one whose detail (12 bits per tile) resolves half that distance;
- *within features*: the gaps between each feature's own sorted vertex quadkeys, summed as
  logarithms of distances in feet. The zoom resolving an eighth of their geometric mean wins
  when it is deeper than the first.

The result is then limited so that the polygons' total area does not need more than 2 Mi tiles,
and raised to the minimum zoom. Both statistics add up over disjoint sets of features, and
the quadkeys of the features whose index point lies in one tile of the pyramid are a
contiguous run of the sorted sequence. A shard therefore reports :class:`ZoomStats` for the
features it owns (index point in its tile), and shards combined in quadkey order give the
statistics of the whole set: only the gap between two consecutive shards is added.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import shapely

#: tippecanoe's default tile detail (``--full-detail`` and ``--low-detail``, bits per tile).
FULL_DETAIL = 12
#: Most tiles the polygons' area may need before the guess is lowered.
_MAX_AREA_TILES = 2 * 1024 * 1024
_WORLD = float(1 << 32)
_FEET_PER_UNIT = 33.0


def world_coordinates(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tippecanoe's 32-bit world coordinates of lon/lat degrees (rounded half away from 0)."""
    lat = np.clip(np.asarray(lat, dtype=np.float64), -89.9, 89.9)
    lon = np.clip(np.asarray(lon, dtype=np.float64), -360.0, 360.0)
    rad = np.radians(lat)
    fx = _WORLD * ((lon + 180.0) / 360.0)
    fy = _WORLD * (1.0 - np.log(np.tan(rad) + 1.0 / np.cos(rad)) / math.pi) / 2.0
    return _round_half_away(fx), _round_half_away(fy)


def _round_half_away(values: np.ndarray) -> np.ndarray:
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def quadkeys(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """64-bit quadkeys of 32-bit world coordinates (x bit above y bit, most significant first)."""
    x = np.asarray(x, dtype=np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    y = np.asarray(y, dtype=np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    return _spread(x) << np.uint64(1) | _spread(y)


def _spread(v: np.ndarray) -> np.ndarray:
    """The 32 bits of ``v`` moved to the even bit positions of a 64-bit word."""
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)


def _truncating_division(a: np.ndarray, b: int) -> np.ndarray:
    """C++ integer division (toward zero)."""
    return np.sign(a) * (np.abs(a) // b)


def _fixed_ring(ring: np.ndarray, outer: bool) -> np.ndarray:
    """A ring as tippecanoe stores it: closed, 4 points at least, oriented (outer rings
    counter-clockwise in world coordinates, with y down), and rotated to start at the point
    farthest from the point farthest from its centre."""
    if not np.array_equal(ring[0], ring[-1]):
        ring = np.vstack([ring, ring[:1]])
    while len(ring) < 4:
        ring = np.vstack([ring, ring[:1]])
    x, y = ring[:, 0], ring[:, 1]
    area = float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])) / 2
    if (area > 0) != outer:
        ring = ring[::-1]
    points = ring[:-1]
    centre = _truncating_division(points.sum(axis=0), len(points))
    far = _farthest(points, centre)
    first = _farthest(points, points[far])
    return np.vstack([np.roll(points, -first, axis=0), points[first : first + 1]])


def _farthest(points: np.ndarray, origin: np.ndarray) -> int:
    """Index of the point farthest from ``origin`` in tippecanoe's 1/16 units; ties go to the
    smallest (y, x)."""
    d = _truncating_division(points - origin, 16)
    d2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]
    best = np.flatnonzero(d2 == d2.max())
    return int(best[np.lexsort((points[best, 0], points[best, 1]))[0]])


def _geometry_points(geometry: dict) -> tuple[np.ndarray, float, bool]:
    """A geometry's points as tippecanoe reads them, its polygon area, and whether it is a
    point geometry."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind in ("Point", "MultiPoint"):
        flat = np.asarray([coordinates] if kind == "Point" else coordinates, dtype=np.float64)
        return np.column_stack(world_coordinates(flat[:, 0], flat[:, 1])), 0.0, True
    if kind in ("LineString", "MultiLineString"):
        lines = [coordinates] if kind == "LineString" else coordinates
        flat = np.asarray([p[:2] for line in lines for p in line], dtype=np.float64)
        return np.column_stack(world_coordinates(flat[:, 0], flat[:, 1])), 0.0, False
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"unsupported geometry type {kind!r}")
    rings = []
    for polygon in [coordinates] if kind == "Polygon" else coordinates:
        for index, ring in enumerate(polygon):
            if not ring:
                continue
            flat = np.asarray([p[:2] for p in ring], dtype=np.float64)
            xy = np.column_stack(world_coordinates(flat[:, 0], flat[:, 1]))
            rings.append(_fixed_ring(xy, outer=index == 0))
    area = sum(float(np.sum(r[:-1, 0] * r[1:, 1] - r[1:, 0] * r[:-1, 1])) / 2 for r in rings)
    return np.vstack(rings), area, False


@dataclass(frozen=True)
class FeatureStats:
    """What the guess needs of one feature.

    Attributes:
        index: The quadkey of its index point (a vertex; the middle of a point set's box).
        detail_count: Non-zero gaps between its sorted vertex quadkeys.
        detail_log_sum: ``detail_count * log(feet)`` of their geometric mean distance.
        area: Its polygon area in world units squared (0 for points and lines).
    """

    index: int
    detail_count: int
    detail_log_sum: float
    area: float

    def tile(self, zoom: int) -> int:
        """The quadkey of the tile at ``zoom`` holding the index point (see :func:`tile_key`)."""
        return self.index >> (64 - 2 * zoom) if zoom else 0


def tile_key(zoom: int, x: int, y: int) -> int:
    """The quadkey of tile ``zoom/x/y``: the order of tiles in the features' quadkey order."""
    if not zoom:
        return 0
    shift = 32 - zoom
    return int(quadkeys(np.array([x << shift]), np.array([y << shift]))[0]) >> (64 - 2 * zoom)


def feature_stats(text: str) -> FeatureStats:
    """:class:`FeatureStats` of one GeoJSON ``Feature`` text."""
    points, area, is_point = _geometry_points(json.loads(text)["geometry"])
    if is_point:
        mid = _truncating_division(points.min(axis=0), 2) + _truncating_division(
            points.max(axis=0), 2
        )
    else:
        mid = points[int(points.sum()) % (1 << 64) % len(points)]
    index = int(quadkeys(mid[:1], mid[1:])[0])
    keys = np.unique(quadkeys(points[:, 0], points[:, 1]))
    if len(keys) < 2:
        return FeatureStats(index, 0, 0.0, area)
    gaps = np.diff(keys).astype(np.float64)
    n = len(gaps)
    feet = math.sqrt(math.exp(float(np.log(gaps).sum()) / n)) / _FEET_PER_UNIT
    return FeatureStats(index, n, math.log(feet) * n, area)


@dataclass(frozen=True)
class FeatureArrays:
    """:class:`FeatureStats` of many features, as arrays (one entry per feature)."""

    index: np.ndarray
    detail_count: np.ndarray
    detail_log_sum: np.ndarray
    area: np.ndarray

    @classmethod
    def of(cls, features: Sequence[FeatureStats]) -> FeatureArrays:
        """The arrays of single features' statistics."""
        return cls(
            np.array([f.index for f in features], dtype=np.uint64),
            np.array([f.detail_count for f in features], dtype=np.int64),
            np.array([f.detail_log_sum for f in features], dtype=np.float64),
            np.array([f.area for f in features], dtype=np.float64),
        )

    def tiles(self, zoom: int) -> np.ndarray:
        """Each feature's :meth:`FeatureStats.tile` at ``zoom``."""
        if not zoom:
            return np.zeros(len(self.index), dtype=np.uint64)
        return self.index >> np.uint64(64 - 2 * zoom)

    def select(self, mask: np.ndarray) -> FeatureArrays:
        """The features where ``mask`` is true."""
        return FeatureArrays(
            self.index[mask], self.detail_count[mask], self.detail_log_sum[mask], self.area[mask]
        )


def point_stats(features: Sequence[str]) -> FeatureArrays:
    """:func:`feature_stats` of many ``Point`` feature texts at once (vectorised).

    A point's index is the middle of its one-point box as tippecanoe computes it (each
    coordinate halved toward zero, twice); a point has no detail and no area.

    Raises:
        ValueError: a feature is not a Point.
    """
    geometries = shapely.from_geojson(list(features))
    if not (shapely.get_type_id(geometries) == 0).all():
        raise ValueError("point_stats takes Point features only")
    coordinates = shapely.get_coordinates(geometries)
    x, y = world_coordinates(coordinates[:, 0], coordinates[:, 1])
    mid_x = 2 * _truncating_division(x, 2)
    mid_y = 2 * _truncating_division(y, 2)
    count = len(coordinates)
    return FeatureArrays(
        quadkeys(mid_x, mid_y),
        np.zeros(count, dtype=np.int64),
        np.zeros(count, dtype=np.float64),
        np.zeros(count, dtype=np.float64),
    )


def polygon_stats(features: Sequence[str]) -> FeatureArrays:
    """:func:`feature_stats` of many (multi)polygon ``Feature`` texts at once (compiled; about
    ten times faster).

    Raises:
        ValueError: a feature is not a Polygon or MultiPolygon.
    """
    geometries = shapely.from_geojson(list(features))
    kinds = shapely.get_type_id(geometries)
    if not np.isin(kinds, (3, 6)).all():
        raise ValueError("polygon_stats takes Polygon and MultiPolygon features only")
    polygons, polygon_feature = shapely.get_parts(geometries, return_index=True)
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    coordinates, point_ring = shapely.get_coordinates(rings, return_index=True)
    ring_starts = np.searchsorted(point_ring, np.arange(len(rings) + 1))
    outer = np.r_[True, ring_polygon[1:] != ring_polygon[:-1]]
    ring_feature = polygon_feature[ring_polygon]
    feature_starts = np.searchsorted(ring_feature, np.arange(len(geometries) + 1))
    x, y = world_coordinates(coordinates[:, 0], coordinates[:, 1])
    return FeatureArrays(*_polygon_kernel(x, y, ring_starts, outer, feature_starts))


@numba.njit(cache=True)
def _fixed_ring_kernel(x: np.ndarray, y: np.ndarray, outer: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_fixed_ring` on one ring's coordinates (compiled)."""
    n = len(x)
    closed = x[0] == x[n - 1] and y[0] == y[n - 1]
    size = n if closed else n + 1
    size = max(size, 4)
    rx = np.empty(size, np.int64)
    ry = np.empty(size, np.int64)
    for k in range(size):
        source = k if k < n else 0
        rx[k], ry[k] = x[source], y[source]
    twice_area = 0
    for k in range(size - 1):
        twice_area += rx[k] * ry[k + 1] - rx[k + 1] * ry[k]
    if (twice_area > 0) != outer:
        rx, ry = rx[::-1].copy(), ry[::-1].copy()
    m = size - 1
    sx, sy = 0, 0
    for k in range(m):
        sx += rx[k]
        sy += ry[k]
    cx = _c_div(sx, m)
    cy = _c_div(sy, m)
    far = _farthest_kernel(rx, ry, m, cx, cy)
    first = _farthest_kernel(rx, ry, m, rx[far], ry[far])
    ox = np.empty(size, np.int64)
    oy = np.empty(size, np.int64)
    for k in range(m):
        ox[k], oy[k] = rx[(k + first) % m], ry[(k + first) % m]
    ox[m], oy[m] = ox[0], oy[0]
    return ox, oy


@numba.njit(cache=True)
def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@numba.njit(cache=True)
def _farthest_kernel(rx: np.ndarray, ry: np.ndarray, m: int, ox: int, oy: int) -> int:
    best, best_d2 = 0, -1
    for k in range(m):
        dx = _c_div(rx[k] - ox, 16)
        dy = _c_div(ry[k] - oy, 16)
        d2 = dx * dx + dy * dy
        if d2 > best_d2 or (
            d2 == best_d2 and (ry[k] < ry[best] or (ry[k] == ry[best] and rx[k] < rx[best]))
        ):
            best, best_d2 = k, d2
    return best


@numba.njit(cache=True)
def _spread_kernel(v: np.uint64) -> np.uint64:
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)


@numba.njit(cache=True)
def _quadkey_kernel(x: int, y: int) -> np.uint64:
    mask = np.uint64(0xFFFFFFFF)
    return (_spread_kernel(np.uint64(x) & mask) << np.uint64(1)) | _spread_kernel(
        np.uint64(y) & mask
    )


@numba.njit(cache=True)
def _polygon_kernel(
    x: np.ndarray,
    y: np.ndarray,
    ring_starts: np.ndarray,
    outer: np.ndarray,
    feature_starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    features = len(feature_starts) - 1
    index = np.zeros(features, np.uint64)
    count = np.zeros(features, np.int64)
    logs = np.zeros(features, np.float64)
    area = np.zeros(features, np.float64)
    for f in range(features):
        first_ring, last_ring = feature_starts[f], feature_starts[f + 1]
        total = 0
        fixed_x = []
        fixed_y = []
        feature_area = 0.0
        for r in range(first_ring, last_ring):
            a, b = ring_starts[r], ring_starts[r + 1]
            if b == a:
                continue
            rx, ry = _fixed_ring_kernel(x[a:b], y[a:b], outer[r])
            twice = 0
            for k in range(len(rx) - 1):
                twice += rx[k] * ry[k + 1] - rx[k + 1] * ry[k]
            feature_area += twice / 2
            fixed_x.append(rx)
            fixed_y.append(ry)
            total += len(rx)
        px = np.empty(total, np.int64)
        py = np.empty(total, np.int64)
        at = 0
        for part in range(len(fixed_x)):
            n = len(fixed_x[part])
            px[at : at + n] = fixed_x[part]
            py[at : at + n] = fixed_y[part]
            at += n
        area[f] = feature_area
        if total == 0:
            continue
        s = np.uint64(0)
        for k in range(total):
            s += np.uint64(px[k] + py[k])
        pick = s % np.uint64(total)
        index[f] = _quadkey_kernel(px[pick], py[pick])
        keys = np.empty(total, np.uint64)
        for k in range(total):
            keys[k] = _quadkey_kernel(px[k], py[k])
        keys = np.sort(keys)
        n_gaps, log_sum = 0, 0.0
        for k in range(1, total):
            if keys[k] != keys[k - 1]:
                log_sum += math.log(float(keys[k] - keys[k - 1]))
                n_gaps += 1
        if n_gaps:
            feet = math.sqrt(math.exp(log_sum / n_gaps)) / 33.0
            count[f] = n_gaps
            logs[f] = math.log(feet) * n_gaps
    return index, count, logs, area


@dataclass(frozen=True)
class ZoomStats:
    """What tippecanoe's guess needs of a set of features, in quadkey order.

    Attributes:
        features: Features counted.
        first: Smallest index quadkey (``None`` without features).
        last: Largest index quadkey.
        gaps: Non-zero gaps between consecutive sorted index quadkeys.
        gap_log_sum: Sum of the gaps' natural logarithms.
        gap_log_squares: Sum of their squares.
        detail_log_sum: Sum over features of ``n * log(feet between the feature's vertices)``.
        detail_count: Sum over features of ``n``, the feature's non-zero vertex gaps.
        area: Sum of the polygons' areas (world units squared).
    """

    features: int = 0
    first: int | None = None
    last: int | None = None
    gaps: int = 0
    gap_log_sum: float = 0.0
    gap_log_squares: float = 0.0
    detail_log_sum: float = 0.0
    detail_count: int = 0
    area: float = 0.0

    @classmethod
    def of(cls, features: FeatureArrays | Sequence[FeatureStats]) -> ZoomStats:
        """The statistics of features (any order)."""
        if not isinstance(features, FeatureArrays):
            features = FeatureArrays.of(features)
        keys = np.sort(features.index)
        gaps = np.diff(keys)
        logs = np.log(gaps[gaps != 0].astype(np.float64))
        return cls(
            features=len(keys),
            first=int(keys[0]) if len(keys) else None,
            last=int(keys[-1]) if len(keys) else None,
            gaps=len(logs),
            gap_log_sum=float(logs.sum()),
            gap_log_squares=float((logs * logs).sum()),
            detail_log_sum=float(features.detail_log_sum.sum()),
            detail_count=int(features.detail_count.sum()),
            area=float(features.area.sum()),
        )

    def then(self, following: ZoomStats) -> ZoomStats:
        """These statistics followed by those of features whose quadkeys all come after."""
        if not following.features:
            return self
        if not self.features:
            return following
        assert self.last is not None and following.first is not None
        if following.first < self.last:
            raise ValueError("ZoomStats combined out of quadkey order")
        gap = following.first - self.last
        log_gap = math.log(gap) if gap else 0.0
        return ZoomStats(
            features=self.features + following.features,
            first=self.first,
            last=following.last,
            gaps=self.gaps + following.gaps + (1 if gap else 0),
            gap_log_sum=self.gap_log_sum + following.gap_log_sum + log_gap,
            gap_log_squares=self.gap_log_squares + following.gap_log_squares + log_gap**2,
            detail_log_sum=self.detail_log_sum + following.detail_log_sum,
            detail_count=self.detail_count + following.detail_count,
            area=self.area + following.area,
        )


def combined(parts: Sequence[ZoomStats]) -> ZoomStats:
    """Statistics of parts given in quadkey order (shards sorted by tile quadkey)."""
    total = ZoomStats()
    for part in parts:
        total = total.then(part)
    return total


def _zoom_resolving(feet: float) -> int:
    return math.ceil(math.log(360 / (0.00000274 * feet)) / math.log(2) - FULL_DETAIL)


def guess_max_zoom(stats: ZoomStats, min_zoom: int = 0) -> int:
    """The maximum zoom ``tippecanoe -zg -Z min_zoom`` chooses for features with ``stats``."""
    max_zoom: int | None = None
    if stats.gaps:
        mean = stats.gap_log_sum / stats.gaps
        variance = max(stats.gap_log_squares / stats.gaps - mean * mean, 0.0)
        nearby_feet = math.sqrt(math.exp(mean - 1.5 * math.sqrt(variance))) / _FEET_PER_UNIT
        max_zoom = max(_zoom_resolving(nearby_feet / 2), 0)
    elif not stats.detail_count:
        max_zoom = 0
    if stats.detail_count:
        within = _zoom_resolving(math.exp(stats.detail_log_sum / stats.detail_count) / 8)
        if max_zoom is None or within > max_zoom:
            max_zoom = within
    assert max_zoom is not None
    max_zoom = max(0, min(max_zoom, 32 - FULL_DETAIL))
    tiles = 0.0
    for zoom in range(1, max_zoom + 1):
        tiles += math.ceil(stats.area / float(1 << (32 - zoom)) ** 2)
        if tiles > _MAX_AREA_TILES:
            max_zoom = zoom - 1
            break
    return max(max_zoom, min_zoom)
