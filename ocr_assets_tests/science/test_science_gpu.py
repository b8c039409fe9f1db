"""The optional CuPy backend gives the CPU path's results (skipped without a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ocr_assets.science import DIRECTIONS, spread_burn_probability, wind_informed_burn_probability
from ocr_assets.science.gpu import available

needs_gpu = pytest.mark.skipif(not available(), reason="no CUDA device / CuPy here")
ARCSEC = 1.0 / 3600.0


def inputs(h: int, w: int, seed: int) -> tuple[xr.DataArray, xr.DataArray]:
    rng = np.random.default_rng(seed)
    bp = rng.uniform(1e-4, 0.05, (h, w)).astype(np.float32)
    bp[rng.random((h, w)) < 0.4] = 0.0
    bp[h // 2 : h // 2 + 50, w // 3 : w // 3 + 70] = 0.0
    bp[:12, :9] = np.nan
    coords = {"latitude": 40 + np.arange(h) * ARCSEC, "longitude": -110 + np.arange(w) * ARCSEC}
    weights = rng.random((h, w, 8)).astype(np.float32)
    weights[-20:, -20:] = 0.0
    da = xr.DataArray(bp, dims=("latitude", "longitude"), coords=coords)
    dist = xr.DataArray(
        weights,
        dims=("latitude", "longitude", "wind_direction"),
        coords={**coords, "wind_direction": list(DIRECTIONS)},
    )
    return da, dist


def test_unknown_backend_is_rejected() -> None:
    da, dist = inputs(90, 90, 0)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        wind_informed_burn_probability(da, dist, backend="tpu")


@pytest.mark.skipif(available(), reason="a CUDA device is present")
def test_cupy_backend_without_a_gpu_says_so() -> None:
    da, dist = inputs(90, 90, 0)
    with pytest.raises(RuntimeError, match="CuPy or a CUDA device"):
        wind_informed_burn_probability(da, dist, backend="cupy")


@needs_gpu
@pytest.mark.parametrize("shape", [(300, 250), (1001, 777), (20, 30), (40, 90)])
def test_gpu_equals_cpu(shape: tuple[int, int]) -> None:
    da, dist = inputs(*shape, seed=shape[0])
    cpu = wind_informed_burn_probability(da, dist, backend="cpu").values
    gpu = wind_informed_burn_probability(da, dist, backend="cupy").values
    np.testing.assert_array_equal(np.isnan(cpu), np.isnan(gpu))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=0, equal_nan=True)
    spread_cpu = spread_burn_probability(da, backend="cpu")
    spread_gpu = spread_burn_probability(da, backend="cupy")
    for d in DIRECTIONS:
        np.testing.assert_allclose(
            spread_gpu[d].values, spread_cpu[d].values, rtol=1e-6, equal_nan=True
        )
