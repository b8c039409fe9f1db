"""Time one full processing region, both climates, every step (not part of CI).

A real region is 6000 x 4500 pixels grown by a 0.15 degree buffer (540 px) on every side:
7080 x 5580 pixels of the real grid's size (0.000308 degrees). This builds deterministic synthetic inputs of that size
(Riley 270 m BP in EPSG:5070 for 2011 and 2047, 30 m Riley BP, Scott CRPS/RPS, an 8-direction
wind distribution), then runs ``ocr_assets.science.region_risk`` and reports wall time and peak
RSS (``ru_maxrss``), with the RSS of the inputs alone for reference.

    .venv/bin/python -m benchmarks.bench_region [--rows 7080 --cols 5580]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pyproj
import xarray as xr
from odc.geo.xr import assign_crs

from ocr_assets.catalog.layout import PIXEL_SIZE_DEGREES
from ocr_assets.science import DIRECTIONS, region_risk

ARCSEC = PIXEL_SIZE_DEGREES  # the real grid's pixel (about 1.1 arc-seconds)
BUFFER_PX = 540


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Smooth positive noise: coarse random values upsampled by repetition, then blurred."""
    coarse = rng.random((shape[0] // scale + 2, shape[1] // scale + 2)).astype(np.float32)
    field = np.repeat(np.repeat(coarse, scale, axis=0), scale, axis=1)[: shape[0], : shape[1]]
    return np.ascontiguousarray(field)


def build_inputs(rows: int, cols: int, seed: int = 20251126) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    buffer = min(BUFFER_PX, rows // 4, cols // 4)
    lat = 37.0 + (np.arange(rows) + 0.5) * ARCSEC
    lon = -121.0 + (np.arange(cols) + 0.5) * ARCSEC
    coords = {"latitude": lat, "longitude": lon}

    def grid(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(
            values.astype(np.float32), dims=("latitude", "longitude"), coords=coords
        )

    to5070 = pyproj.Transformer.from_crs(4326, 5070, always_xy=True)
    xs, ys = to5070.transform(
        [lon[0] - 0.05, lon[-1] + 0.05, lon[0] - 0.05, lon[-1] + 0.05],
        [lat[0] - 0.05, lat[0] - 0.05, lat[-1] + 0.05, lat[-1] + 0.05],
    )
    x = np.arange(min(xs), max(xs), 270.0) + 135.0
    y = np.arange(max(ys), min(ys), -270.0) - 135.0
    base = 1e-4 + 0.04 * smooth_field(rng, (y.size, x.size), 8) ** 2
    developed = smooth_field(rng, (y.size, x.size), 6) > 0.8  # ~20% zero "towns"
    water = smooth_field(rng, (y.size, x.size), 10) > 0.97
    riley270 = {}
    for year, factor in ((2011, 1.0), (2047, 1.4)):
        bp = (base * factor).astype(np.float32)
        bp[developed] = 0.0
        bp[water] = np.nan
        da = xr.DataArray(bp, dims=("y", "x"), coords={"y": y, "x": x}, name="BP")
        riley270[year] = assign_crs(da, "EPSG:5070")
    weights = smooth_field(rng, (rows // 50 + 1, cols // 50 + 1), 3)
    dist = np.stack([np.roll(weights, k, axis=1) ** (k % 3 + 1) for k in range(8)], axis=-1)
    dist /= dist.sum(axis=-1, keepdims=True)
    dist[:3, :3] = 0.0  # no fire weather in one corner
    dist = np.repeat(np.repeat(dist, 50, axis=0), 50, axis=1)[:rows, :cols].astype(np.float32)
    wind = xr.DataArray(
        dist,
        dims=("latitude", "longitude", "wind_direction"),
        coords={**coords, "wind_direction": list(DIRECTIONS)},
    )
    crps = grid(100 * smooth_field(rng, (rows, cols), 300))
    return {
        "riley_270m": riley270,
        "riley_30m": {
            2011: grid(0.03 * smooth_field(rng, (rows, cols), 400)),
            2047: grid(0.04 * smooth_field(rng, (rows, cols), 400)),
        },
        "crps": crps,
        "rps": grid(crps.values * 0.01),
        "wind_distribution": wind,
        "bounds": (
            lon[buffer] - ARCSEC / 2,
            lat[buffer] - ARCSEC / 2,
            lon[-buffer - 1] + ARCSEC / 2,
            lat[-buffer - 1] + ARCSEC / 2,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=7080)
    parser.add_argument("--cols", type=int, default=5580)
    args = parser.parse_args()
    warm = build_inputs(240, 240)
    t0 = time.perf_counter()
    region_risk(**warm)
    jit_s = time.perf_counter() - t0
    inputs = build_inputs(args.rows, args.cols)
    rss_inputs = peak_rss_gb()
    t0 = time.perf_counter()
    ds = region_risk(**inputs)
    wall = time.perf_counter() - t0
    result = {
        "pixels": f"{args.rows} x {args.cols}",
        "region_pixels": f"{ds.sizes['latitude']} x {ds.sizes['longitude']}",
        "wall_s": round(wall, 2),
        "warmup_s (numba JIT / cache load)": round(jit_s, 2),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "rss_after_inputs_gb": round(rss_inputs, 2),
        "bp_2011_mean": float(ds["bp_2011"].mean()),
        "nan_share": float(np.isnan(ds["bp_2011"].values).mean()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
