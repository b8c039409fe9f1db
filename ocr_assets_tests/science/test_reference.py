"""Tests of the straightforward oracle in ``ocr_assets.science.reference``.

The oracle is checked against hand-computable cases and an explicit per-pixel loop, never
against the fast implementation it is meant to judge.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ocr_assets.science.reference import (
    DIRECTIONS,
    reference_composite,
    reference_spread,
    reference_wind_informed_bp,
)


def _reflect101(index: int, size: int) -> int:
    """Map an out-of-range index into ``[0, size)`` by mirroring without repeating the edge."""
    while not 0 <= index < size:
        index = -index if index < 0 else 2 * (size - 1) - index
    return index


def _loop_correlate(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlation anchored at the kernel centre with reflect-101 borders, pixel by pixel."""
    rows, cols = arr.shape
    kr, kc = kernel.shape
    out = np.zeros(arr.shape, dtype=np.float64)
    for y in range(rows):
        for x in range(cols):
            total = 0.0
            for i in range(kr):
                for j in range(kc):
                    yy = _reflect101(y + i - kr // 2, rows)
                    xx = _reflect101(x + j - kc // 2, cols)
                    total += float(kernel[i, j]) * float(arr[yy, xx])
            out[y, x] = total
    return out


def _loop_spread(bp: np.ndarray, kernel: np.ndarray, iterations: int) -> np.ndarray:
    """The published spreading step written out with the explicit loop correlation."""
    nan = np.isnan(bp)
    arr = np.where(nan, 0.0, bp).astype(np.float64)
    for _ in range(iterations):
        m = _loop_correlate((arr > 0).astype(np.float64), kernel)
        m[m < 1e-11] = 0
        c = _loop_correlate(arr, kernel)
        c[c < 1e-11] = 0
        arr = np.divide(c, m, out=np.zeros_like(c), where=m > 0)
    arr[nan] = np.nan
    return arr


def _sample_bp(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Small burn-probability raster with zeros and a NaN."""
    bp = rng.uniform(1e-4, 0.05, size=shape).astype(np.float32)
    bp[rng.random(shape) < 0.3] = 0
    bp[1, 2] = np.nan
    return bp


def test_box_kernel_matches_explicit_loop() -> None:
    """A normalised 3x3 box kernel gives the loop's result, including edges and NaN."""
    bp = _sample_bp(np.random.default_rng(0), (5, 6))
    kernel = np.full((3, 3), 1 / 9, dtype=np.float32)
    for iterations in (1, 3):
        got = reference_spread(bp, {"box": kernel}, iterations=iterations)["box"]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, _loop_spread(bp, kernel, iterations), rtol=1e-5)


def test_asymmetric_kernel_is_a_correlation_with_reflect101() -> None:
    """A random 5x5 kernel is not flipped and mirrors two pixels deep at the borders."""
    rng = np.random.default_rng(1)
    bp = _sample_bp(rng, (7, 9))
    kernel = rng.random((5, 5)).astype(np.float32)
    kernel /= kernel.sum()
    got = reference_spread(bp, {"k": kernel}, iterations=2)["k"]
    np.testing.assert_allclose(got, _loop_spread(bp, kernel, 2), rtol=1e-5)


def test_single_tap_kernel_shifts_without_flipping() -> None:
    """A kernel whose only tap is one row above the centre reads from the row above."""
    bp = np.arange(1, 21, dtype=np.float32).reshape(4, 5)
    kernel = np.zeros((3, 3), dtype=np.float32)
    kernel[2, 1] = 1  # offset (+1, 0): output[y, x] = input[y + 1, x]
    got = reference_spread(bp, {"k": kernel}, iterations=1)["k"]
    expected = bp[[1, 2, 3, 2], :]  # the last row mirrors onto row 2 (reflect-101)
    np.testing.assert_array_equal(got, expected)


def test_tiny_values_are_clipped() -> None:
    """Value sums below 1e-11 become 0, and so do mask sums (the latter zeroes the output)."""
    bp = np.zeros((3, 3), dtype=np.float32)
    bp[1, 1] = 1e-12  # valid (> 0) but its correlation c = 1e-12 / 9 is clipped
    box = np.full((3, 3), 1 / 9, dtype=np.float32)
    assert np.all(reference_spread(bp, {"box": box}, iterations=1)["box"] == 0)

    bp = np.zeros((1, 3), dtype=np.float32)
    bp[0, 2] = 100
    kernel = np.zeros((1, 3), dtype=np.float32)
    kernel[0, 1] = 1
    kernel[0, 2] = 1e-12  # pixel 1 sees pixel 2 with mask weight 1e-12 (clipped) and c = 1e-10
    got = reference_spread(bp, {"k": kernel}, iterations=1)["k"]
    np.testing.assert_array_equal(got, np.array([[0, 0, 100]], dtype=np.float32))


def test_nan_restored_and_treated_as_zero() -> None:
    """NaN pixels come back NaN; meanwhile they count as invalid zeros for their neighbours."""
    bp = np.full((3, 3), 0.02, dtype=np.float32)
    bp[1, 1] = np.nan
    bp[0, 0] = 0
    box = np.full((3, 3), 1 / 9, dtype=np.float32)
    got = reference_spread(bp, {"box": box}, iterations=1)["box"]
    assert np.isnan(got[1, 1])
    assert np.isnan(got).sum() == 1
    # Every other pixel averages only valid values, all 0.02.
    np.testing.assert_allclose(got[~np.isnan(got)], 0.02, rtol=1e-6)
    assert not np.isnan(bp[0, 1])  # the input is not modified
    assert np.isnan(bp[1, 1])


def test_all_zero_input_stays_zero_without_warnings() -> None:
    """No valid pixel anywhere: the mask is 0 everywhere and the output is 0, with no 0/0."""
    bp = np.zeros((6, 4), dtype=np.float32)
    box = np.full((3, 3), 1 / 9, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = reference_spread(bp, {"box": box}, iterations=3)["box"]
    assert np.all(got == 0)


def test_spread_rejects_non_2d() -> None:
    """A 3-D input is refused."""
    with pytest.raises(ValueError, match="2-D"):
        reference_spread(np.zeros((2, 2, 2)), {"k": np.ones((1, 1), dtype=np.float32)})


def _constant_spread(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Spread arrays whose value is the direction's index + 1."""
    return {d: np.full(shape, i + 1, dtype=np.float32) for i, d in enumerate(DIRECTIONS)}


@pytest.mark.parametrize("index", range(8))
def test_composite_follows_direction_order(index: int) -> None:
    """Weight index i of the last axis selects direction DIRECTIONS[i]."""
    weights = np.zeros((2, 3, 8), dtype=np.float32)
    weights[..., index] = 1
    got = reference_composite(_constant_spread((2, 3)), weights)
    np.testing.assert_array_equal(got, np.full((2, 3), index + 1, dtype=np.float32))


def test_composite_renormalises_and_marks_invalid_weights() -> None:
    """Weights are divided by their sum; a zero sum or any NaN weight gives NaN."""
    weights = np.zeros((1, 4, 8), dtype=np.float32)
    weights[0, 0, [0, 1]] = [1.5, 0.5]  # sums to 2: renormalised to 0.75, 0.25
    weights[0, 1, :] = 0  # no fire weather
    weights[0, 2, [0, 3]] = [1.0, np.nan]  # NaN weight
    weights[0, 3, :] = 0.125  # already normalised
    got = reference_composite(_constant_spread((1, 4)), weights)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[0, 0], 0.75 * 1 + 0.25 * 2, rtol=1e-6)
    assert np.isnan(got[0, 1])
    assert np.isnan(got[0, 2])
    np.testing.assert_allclose(got[0, 3], np.mean(np.arange(1, 9)), rtol=1e-6)


def test_composite_skips_nan_spread() -> None:
    """A NaN spread value is left out of the sum (the rest is not renormalised again)."""
    spread = _constant_spread((1, 2))
    spread["N"][0, 0] = np.nan
    for d in DIRECTIONS:
        spread[d][0, 1] = np.nan
    weights = np.zeros((1, 2, 8), dtype=np.float32)
    weights[..., 0] = 0.5  # N
    weights[..., 1] = 0.5  # NE
    got = reference_composite(spread, weights)
    np.testing.assert_allclose(got[0, 0], 0.5 * 2, rtol=1e-6)
    assert got[0, 1] == 0  # all spread NaN but weights valid: 0, not NaN


def test_composite_rejects_negative_weights_and_bad_shapes() -> None:
    """A negative weight or a mismatched shape is an error."""
    weights = np.full((2, 2, 8), 0.125, dtype=np.float32)
    weights[1, 1, 4] = -0.01
    with pytest.raises(ValueError, match="negative"):
        reference_composite(_constant_spread((2, 2)), weights)
    with pytest.raises(ValueError, match="do not match"):
        reference_composite(_constant_spread((2, 2)), np.full((2, 3, 8), 0.125))


def _coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Ascending 1 arc-second pixel centres near 38 N, 120 W."""
    step = 1 / 3600
    latitude = 38.0 + step * np.arange(shape[0])
    longitude = -120.0 + step * np.arange(shape[1])
    return latitude, longitude


def test_wind_informed_keeps_a_uniform_field() -> None:
    """Spreading a uniform positive field leaves it unchanged, so does the composite."""
    shape = (90, 100)
    bp = np.full(shape, 0.01, dtype=np.float32)
    weights = np.full((*shape, 8), 0.125, dtype=np.float32)
    weights[:10, :10] = 0
    got = reference_wind_informed_bp(bp, weights, *_coordinates(shape))
    assert np.isnan(got[:10, :10]).all()
    np.testing.assert_allclose(got[10:, :], 0.01, rtol=1e-5)
    np.testing.assert_allclose(got[:, 10:], 0.01, rtol=1e-5)


@pytest.mark.parametrize(
    ("direction", "row_sign", "col_sign"),
    [("W", 0, 1), ("E", 0, -1), ("N", -1, 0), ("S", 1, 0), ("SW", 1, 1), ("NE", -1, -1)],
)
def test_fire_spreads_downwind(direction: str, row_sign: int, col_sign: int) -> None:
    """One burning pixel spreads downwind: wind from W carries it east, from N south, etc.

    Rows grow northward, so "south" is a smaller row index. The centre of mass of the pixels
    reached after one iteration moves away from the source in the downwind direction.
    """
    shape = (201, 201)
    bp = np.zeros(shape, dtype=np.float32)
    bp[100, 100] = 0.02
    weights = np.zeros((*shape, 8), dtype=np.float32)
    weights[..., DIRECTIONS.index(direction)] = 1
    got = reference_wind_informed_bp(bp, weights, *_coordinates(shape), iterations=1)
    rows, cols = np.nonzero(got)
    np.testing.assert_allclose(got[rows, cols], 0.02, rtol=1e-5)
    for sign, mean in ((row_sign, rows.mean() - 100), (col_sign, cols.mean() - 100)):
        if sign == 0:
            assert abs(mean) < 1
        else:
            assert sign * mean > 1
