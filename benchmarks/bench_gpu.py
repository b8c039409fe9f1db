"""GPU (CuPy) vs CPU spreading + composite on a full buffered region (not part of CI).

Runs ``wind_informed_burn_probability`` for both climates of one full buffered region
(7080 x 5580 px) with ``backend="cupy"`` and ``backend="cpu"`` on the same inputs, reports wall
times (GPU timed after a warm-up that compiles the kernels, transfers included) and checks the
two backends agree.

    python -m benchmarks.bench_gpu [--rows 7080 --cols 5580]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import xarray as xr

from ocr_assets.catalog.layout import PIXEL_SIZE_DEGREES
from ocr_assets.science import DIRECTIONS, wind_informed_burn_probability

ARCSEC = PIXEL_SIZE_DEGREES  # the real grid's pixel (about 1.1 arc-seconds)


def build(rows: int, cols: int, seed: int = 7) -> tuple[dict[int, xr.DataArray], xr.DataArray]:
    rng = np.random.default_rng(seed)
    coords = {
        "latitude": 37.0 + (np.arange(rows) + 0.5) * ARCSEC,
        "longitude": -121.0 + (np.arange(cols) + 0.5) * ARCSEC,
    }

    def blocks(scale: int, n: int = 1) -> np.ndarray:
        coarse = rng.random((rows // scale + 2, cols // scale + 2, n)).astype(np.float32)
        full = np.repeat(np.repeat(coarse, scale, axis=0), scale, axis=1)
        return np.ascontiguousarray(full[:rows, :cols].squeeze())

    base = 1e-4 + 0.04 * blocks(9) ** 2
    base[blocks(7) > 0.8] = 0.0
    base[blocks(11) > 0.97] = np.nan
    bps = {
        year: xr.DataArray(
            (base * f).astype(np.float32), dims=("latitude", "longitude"), coords=coords
        )
        for year, f in ((2011, 1.0), (2047, 1.4))
    }
    weights = blocks(60, 8)
    weights /= weights.sum(axis=-1, keepdims=True)
    weights[:100, :100] = 0.0
    dist = xr.DataArray(
        weights.astype(np.float32),
        dims=("latitude", "longitude", "wind_direction"),
        coords={**coords, "wind_direction": list(DIRECTIONS)},
    )
    return bps, dist


def run(bps: dict[int, xr.DataArray], dist: xr.DataArray, backend: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = {
        year: wind_informed_burn_probability(bp, dist, backend=backend).values
        for year, bp in bps.items()
    }
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=7080)
    parser.add_argument("--cols", type=int, default=5580)
    args = parser.parse_args()
    warm_bps, warm_dist = build(200, 200)
    run(warm_bps, warm_dist, "cupy")
    run(warm_bps, warm_dist, "cpu")
    bps, dist = build(args.rows, args.cols)
    gpu_s, gpu = run(bps, dist, "cupy")
    gpu_s2, _ = run(bps, dist, "cupy")
    cpu_s, cpu = run(bps, dist, "cpu")
    diffs = {}
    for year in bps:
        a, b = gpu[year], cpu[year]
        same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        ok = ~np.isnan(b)
        diffs[year] = {
            "identical_nan": same_nan,
            "bitwise_equal_share": float(np.mean(a[ok] == b[ok])),
            "max_abs": float(np.max(np.abs(a[ok] - b[ok]))),
        }
    print(
        json.dumps(
            {
                "pixels": f"{args.rows} x {args.cols}",
                "cpu_cores": os.cpu_count(),
                "gpu_both_climates_s": round(gpu_s, 3),
                "gpu_both_climates_second_run_s": round(gpu_s2, 3),
                "cpu_both_climates_s": round(cpu_s, 2),
                "speedup": round(cpu_s / min(gpu_s, gpu_s2), 1),
                "agreement": diffs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
