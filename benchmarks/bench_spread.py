"""Benchmark of the wind-informed burn probability: fast path versus the straightforward oracle.

Not part of CI; run by hand from the repository root::

    .venv/bin/python -m benchmarks.bench_spread --sizes 1000,2000,full --repeat 1

For each size a deterministic synthetic region is built once (burn probability at the real grid's pixel size
near 38 N with developed zero patches and NaN water, and a smooth wind-direction distribution
with a few no-fire-weather patches) and written to a temporary folder. Each implementation then
runs in its own child process (``--child``), so that its peak RSS is its own:

* ``fast``: ``ocr_assets.science.wind_informed_burn_probability``, after a small warm-up call
  that pays the numba JIT compilation (timed and reported separately);
* ``reference``: ``ocr_assets.science.reference.reference_wind_informed_bp``.

The child times only the call (``time.perf_counter``), reads the peak RSS with
``getrusage(RUSAGE_SELF).ru_maxrss`` and the current RSS right before the call, saves the
result as ``.npy`` and prints one JSON line. The parent compares the results, prints a table
and writes a JSON report to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numba
import numpy as np
import psutil
import scipy
import xarray as xr

from ocr_assets.catalog.layout import PIXEL_SIZE_DEGREES

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

#: Named sizes (rows, columns); "full" is one buffered region (6000 x 4500 + 2 x 540).
SIZES: dict[str, tuple[int, int]] = {
    "1000": (1000, 1000),
    "2000": (2000, 2000),
    "full": (7080, 5580),
}
IMPLEMENTATIONS = ("fast", "reference")
DIRECTIONS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
PIXEL_DEGREES = PIXEL_SIZE_DEGREES  # the real grid's pixel (about 1.1 arc-seconds)
CENTRE_LATITUDE = 38.0
CENTRE_LONGITUDE = -120.5
SEED = 20250601
WARMUP_SHAPE = (128, 128)
GB = 1024**3


# ---------------------------------------------------------------------------------------------
# Synthetic inputs
# ---------------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Smooth float32 noise in [0, 1] with features about ``scale_px`` pixels across.

    A coarse uniform random grid is upsampled with bicubic interpolation and rescaled.
    """
    coarse = rng.random(
        (max(2, round(shape[0] / scale_px) + 2), max(2, round(shape[1] / scale_px) + 2))
    ).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field -= field.min()
    field /= field.max()
    return field


def _top_fraction(field: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``fraction`` largest values of ``field`` (blobs for smooth fields)."""
    sample = field.ravel()[:: max(1, field.size // 2_000_000)]
    return field > np.quantile(sample, 1 - fraction)


def make_inputs(shape: tuple[int, int], seed: int = SEED) -> dict[str, np.ndarray]:
    """Build a deterministic synthetic region of the given (rows, columns) shape.

    Returns
    -------
    dict[str, np.ndarray]
        ``latitude`` and ``longitude`` (float64, ascending pixel centres of the real grid's size around
        38 N, 120.5 W), ``bp`` (float32 ``(lat, lon)``: smooth, log-uniform 1e-4..0.05, ~20%
        zero "developed" blobs, ~3% NaN "water") and ``wind`` (float32 ``(lat, lon, 8)``:
        smooth, sums to 1, all zero in ~5% "no fire weather" patches).
    """
    rng = np.random.default_rng(seed)
    rows, cols = shape
    latitude = CENTRE_LATITUDE + PIXEL_DEGREES * (np.arange(rows) - rows // 2)
    longitude = CENTRE_LONGITUDE + PIXEL_DEGREES * (np.arange(cols) - cols // 2)

    fine = _smooth_noise(rng, shape, 40)
    broad = _smooth_noise(rng, shape, 400)
    mix = 0.35 * fine + 0.65 * broad
    mix = (mix - mix.min()) / (mix.max() - mix.min())
    log_bp = np.log10(1e-4) + mix * (np.log10(0.05) - np.log10(1e-4))
    bp = np.power(np.float32(10), log_bp, dtype=np.float32)
    del fine, broad, mix, log_bp
    bp[_top_fraction(_smooth_noise(rng, shape, 150), 0.20)] = 0
    bp[_top_fraction(_smooth_noise(rng, shape, 300), 0.03)] = np.nan

    wind = np.empty((rows, cols, len(DIRECTIONS)), dtype=np.float32)
    for k in range(len(DIRECTIONS)):
        wind[..., k] = np.exp(3 * _smooth_noise(rng, shape, 500))
    wind /= wind.sum(axis=-1, keepdims=True)
    wind[_top_fraction(_smooth_noise(rng, shape, 800), 0.05)] = 0
    return {"latitude": latitude, "longitude": longitude, "bp": bp, "wind": wind}


def _describe_inputs(inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """Fractions of zero, NaN and no-fire-weather pixels of a synthetic region."""
    bp = inputs["bp"]
    return {
        "zero_fraction": float((bp == 0).mean()),
        "nan_fraction": float(np.isnan(bp).mean()),
        "no_fire_weather_fraction": float((inputs["wind"].sum(axis=-1) == 0).mean()),
        "bp_min_positive": float(np.nanmin(np.where(bp > 0, bp, np.inf))),
        "bp_max": float(np.nanmax(bp)),
    }


# ---------------------------------------------------------------------------------------------
# Child process: run one implementation
# ---------------------------------------------------------------------------------------------


def _current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    return psutil.Process().memory_info().rss


def _peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _versions() -> dict[str, object]:
    """Library versions and thread settings of this interpreter."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
        "numba": numba.__version__,
        "xarray": xr.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "numba_threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def _as_dataarrays(
    inputs: dict[str, np.ndarray], rows: slice, cols: slice
) -> tuple[xr.DataArray, xr.DataArray]:
    """The fast path's inputs: ``bp`` and ``wind_distribution`` DataArrays (views, no copy)."""
    coords = {"latitude": inputs["latitude"][rows], "longitude": inputs["longitude"][cols]}
    bp = xr.DataArray(inputs["bp"][rows, cols], dims=("latitude", "longitude"), coords=coords)
    wind = xr.DataArray(
        inputs["wind"][rows, cols],
        dims=("latitude", "longitude", "wind_direction"),
        coords={**coords, "wind_direction": list(DIRECTIONS)},
    )
    return bp, wind


def run_child(implementation: str, input_dir: Path, output: Path, iterations: int) -> None:
    """Run one implementation on the saved inputs, save its result, print a JSON line."""
    from ocr_assets.science import wind_informed_burn_probability
    from ocr_assets.science.reference import reference_wind_informed_bp

    inputs = {
        name: np.load(input_dir / f"{name}.npy") for name in ("latitude", "longitude", "bp", "wind")
    }
    everything = slice(None)
    warmup_s = None
    if implementation == "fast":
        tiny = (slice(0, WARMUP_SHAPE[0]), slice(0, WARMUP_SHAPE[1]))
        start = time.perf_counter()
        wind_informed_burn_probability(*_as_dataarrays(inputs, *tiny), iterations=iterations)
        warmup_s = time.perf_counter() - start
        bp, wind = _as_dataarrays(inputs, everything, everything)

        def call() -> np.ndarray:
            result = wind_informed_burn_probability(bp, wind, iterations=iterations)
            return result.transpose("latitude", "longitude").values

    elif implementation == "reference":

        def call() -> np.ndarray:
            return reference_wind_informed_bp(
                inputs["bp"],
                inputs["wind"],
                inputs["latitude"],
                inputs["longitude"],
                iterations=iterations,
            )

    else:
        raise ValueError(f"unknown implementation {implementation!r}")

    gc.collect()
    rss_before = _current_rss()
    peak_before = _peak_rss()
    start = time.perf_counter()
    result = call()
    wall_s = time.perf_counter() - start
    peak = _peak_rss()
    np.save(output, np.asarray(result, dtype=np.float32))
    print(
        json.dumps(
            {
                "implementation": implementation,
                "wall_s": wall_s,
                "warmup_s": warmup_s,
                "rss_before_bytes": rss_before,
                "peak_before_bytes": peak_before,
                "peak_rss_bytes": peak,
                "increment_bytes": peak - rss_before,
                "versions": _versions(),
            }
        )
    )


# ---------------------------------------------------------------------------------------------
# Parent process: build inputs, spawn children, compare
# ---------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """How a fast result differs from the reference."""

    max_abs_diff: float
    max_rel_diff: float
    allclose: bool
    nan_pattern_identical: bool

    @classmethod
    def of(cls, fast: np.ndarray, reference: np.ndarray) -> Comparison:
        """Compare ``fast`` with ``reference`` (rtol 1e-5, atol 0, NaN positions equal)."""
        if fast.shape != reference.shape:
            return cls(float("inf"), float("inf"), False, False)
        both = ~np.isnan(fast) & ~np.isnan(reference)
        diff = np.abs(fast[both].astype(np.float64) - reference[both])
        ref = np.abs(reference[both].astype(np.float64))
        significant = ref > 1e-12
        return cls(
            max_abs_diff=float(diff.max(initial=0.0)),
            max_rel_diff=float((diff[significant] / ref[significant]).max(initial=0.0)),
            allclose=bool(np.allclose(fast, reference, rtol=1e-5, atol=0, equal_nan=True)),
            nan_pattern_identical=bool(np.array_equal(np.isnan(fast), np.isnan(reference))),
        )


def _spawn(
    python: str, implementation: str, input_dir: Path, output: Path, iterations: int
) -> dict:
    """Run one child process and return its JSON report."""
    command = [
        python,
        "-m",
        "benchmarks.bench_spread",
        "--child",
        implementation,
        "--input-dir",
        str(input_dir),
        "--output",
        str(output),
        "--iterations",
        str(iterations),
    ]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{implementation} child failed (exit {completed.returncode}):\n{completed.stderr}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _benchmark_size(
    name: str, repeat: int, iterations: int, reference_python: str, workdir: Path
) -> dict:
    """Benchmark both implementations on one size; return the size's report."""
    shape = SIZES[name]
    start = time.perf_counter()
    inputs = make_inputs(shape)
    build_s = time.perf_counter() - start
    description = _describe_inputs(inputs)
    input_dir = workdir / name
    input_dir.mkdir()
    for key, value in inputs.items():
        np.save(input_dir / f"{key}.npy", value)
    del inputs
    gc.collect()

    runs: dict[str, list[dict]] = {impl: [] for impl in IMPLEMENTATIONS}
    outputs = {impl: input_dir / f"result_{impl}.npy" for impl in IMPLEMENTATIONS}
    for _ in range(repeat):
        for impl in IMPLEMENTATIONS:
            python = reference_python if impl == "reference" else sys.executable
            runs[impl].append(_spawn(python, impl, input_dir, outputs[impl], iterations))
    comparison = Comparison.of(np.load(outputs["fast"]), np.load(outputs["reference"]))
    return {
        "size": name,
        "shape": list(shape),
        "input_build_s": build_s,
        "inputs": description,
        "runs": runs,
        "comparison": comparison.__dict__,
    }


def _best(runs: list[dict]) -> dict:
    """Summary of repeated runs: fastest wall time, largest peak and increment."""
    return {
        "wall_s": min(r["wall_s"] for r in runs),
        "peak_gb": max(r["peak_rss_bytes"] for r in runs) / GB,
        "increment_gb": max(r["increment_bytes"] for r in runs) / GB,
        "warmup_s": runs[0]["warmup_s"],
    }


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, infinite when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("inf")


def _print_table(reports: list[dict]) -> None:
    """Print the results table."""
    header = (
        f"{'size':>11} {'impl':>9} {'wall s':>8} {'peak GB':>8} {'incr GB':>8} "
        f"{'speed x':>8} {'mem x':>6} {'incr x':>6} {'max abs':>9} {'max rel':>9} "
        f"{'allclose':>8} {'NaN=':>5}"
    )
    print(header)
    print("-" * len(header))
    for report in reports:
        size = "x".join(str(n) for n in report["shape"])
        fast, ref = (_best(report["runs"][impl]) for impl in IMPLEMENTATIONS)
        cmp = report["comparison"]
        print(
            f"{size:>11} {'fast':>9} {fast['wall_s']:8.2f} {fast['peak_gb']:8.2f} "
            f"{fast['increment_gb']:8.2f} {_ratio(ref['wall_s'], fast['wall_s']):8.1f} "
            f"{_ratio(ref['peak_gb'], fast['peak_gb']):6.1f} "
            f"{_ratio(ref['increment_gb'], fast['increment_gb']):6.1f} "
            f"{cmp['max_abs_diff']:9.2e} "
            f"{cmp['max_rel_diff']:9.2e} {cmp['allclose']!s:>8} "
            f"{cmp['nan_pattern_identical']!s:>5}"
        )
        print(
            f"{size:>11} {'reference':>9} {ref['wall_s']:8.2f} {ref['peak_gb']:8.2f} "
            f"{ref['increment_gb']:8.2f} {1.0:8.1f} {1.0:6.1f} {1.0:6.1f}"
        )
    print()
    for report in reports:
        fast = _best(report["runs"]["fast"])
        print(
            f"{report['size']}: numba JIT warm-up {fast['warmup_s']:.2f} s "
            f"(fast path, {WARMUP_SHAPE[0]}x{WARMUP_SHAPE[1]} call); inputs built in "
            f"{report['input_build_s']:.1f} s; "
            + ", ".join(f"{k} {v:.3g}" for k, v in report["inputs"].items())
        )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (parent mode, or ``--child`` mode used internally)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,full", help="comma list of 1000,2000,full")
    parser.add_argument("--repeat", type=int, default=1, help="runs per implementation")
    parser.add_argument("--iterations", type=int, default=3, help="spreading iterations")
    parser.add_argument(
        "--reference-python",
        default=sys.executable,
        help="interpreter for the reference child (e.g. a venv with another OpenCV)",
    )
    parser.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--input-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        run_child(args.child, args.input_dir, args.output, args.iterations)
        return

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {sorted(SIZES)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    reports = []
    with tempfile.TemporaryDirectory(prefix="bench_spread_") as tmp:
        for name in sizes:
            print(f"running {name} ...", flush=True)
            reports.append(
                _benchmark_size(
                    name, args.repeat, args.iterations, args.reference_python, Path(tmp)
                )
            )

    versions = {impl: reports[0]["runs"][impl][0]["versions"] for impl in IMPLEMENTATIONS}
    print()
    for impl, v in versions.items():
        print(f"{impl}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print(f"platform: {platform.platform()}, os.cpu_count() = {os.cpu_count()}")
    print()
    _print_table(reports)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"bench_spread_{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "created": stamp,
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "versions": versions,
                "results": reports,
            },
            indent=2,
        )
    )
    print(f"\nwrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
