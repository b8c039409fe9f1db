"""Optional CuPy backend for the spreading and the composite (selected by configuration).

The same algorithm as the CPU path (``_filters``): prefix sums along the run axis of the
reflect-101 padded raster (float64 values, int32 valid counts, accumulated sequentially in the
same order), then per pixel the run differences, in the same order, with IEEE float32 casts and
division, and a composite without fused multiply-adds. The result is therefore the CPU path's,
bit for bit, which the tests check where a GPU is present. The CPU path never imports this.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ._filters import CLIP, Footprint

_SOURCE = r"""
__device__ __forceinline__ int reflect101(int i, int n) {
    // repeated mirroring, as OpenCV's borderInterpolate (rasters smaller than the kernel)
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

extern "C" __global__ void prefix_rows(const float* arr, int h, int w, int pad,
                                       double* sums, int* counts) {
    // axis 1: one thread per padded row, sequential like the CPU path
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int hp = h + 2 * pad, wp = w + 2 * pad;
    if (r >= hp) return;
    int sr = reflect101(r - pad, h);
    long long base = (long long)r * (wp + 1);
    double acc = 0.0; int cnt = 0;
    sums[base] = 0.0; counts[base] = 0;
    for (int c = 0; c < wp; c++) {
        float v = arr[(long long)sr * w + reflect101(c - pad, w)];
        acc += (double)v;
        if (v > 0.0f) cnt += 1;
        sums[base + c + 1] = acc; counts[base + c + 1] = cnt;
    }
}

extern "C" __global__ void prefix_cols(const float* arr, int h, int w, int pad,
                                       double* sums, int* counts) {
    // axis 0: one thread per padded column (coalesced), sequential down the rows
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int hp = h + 2 * pad, wp = w + 2 * pad;
    if (c >= wp) return;
    int sc = reflect101(c - pad, w);
    double acc = 0.0; int cnt = 0;
    sums[c] = 0.0; counts[c] = 0;
    for (int r = 0; r < hp; r++) {
        float v = arr[(long long)reflect101(r - pad, h) * w + sc];
        acc = acc + (double)v;
        if (v > 0.0f) cnt += 1;
        sums[(long long)(r + 1) * wp + c] = acc; counts[(long long)(r + 1) * wp + c] = cnt;
    }
}

extern "C" __global__ void normalised_correlation(
        const double* sums, const int* counts, long long stride,
        const long long* hi_r, const long long* hi_c, const long long* lo_r,
        const long long* lo_c, int nruns, double weight, float clip, int h, int w,
        float* out) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y;
    if (x >= w) return;
    double acc = 0.0; int cnt = 0;
    for (int t = 0; t < nruns; t++) {
        long long ih = (y + hi_r[t]) * stride + x + hi_c[t];
        long long il = (y + lo_r[t]) * stride + x + lo_c[t];
        acc = __dadd_rn(acc, __dsub_rn(sums[ih], sums[il]));
        cnt += counts[ih] - counts[il];
    }
    float m = (float)__dmul_rn((double)cnt, weight);
    if (m < clip) m = 0.0f;
    float cv = (float)__dmul_rn(acc, weight);
    if (cv < clip) cv = 0.0f;
    out[(long long)y * w + x] = m > 0.0f ? __fdiv_rn(cv, m) : 0.0f;
}

extern "C" __global__ void accumulate(float* composite, const float* spread,
                                      const bool* nan, const float* weights,
                                      const long long* order, int d, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* wv = weights + i * 8;
    float total = __fadd_rn(
        __fadd_rn(__fadd_rn(wv[order[0]], wv[order[1]]), __fadd_rn(wv[order[2]], wv[order[3]])),
        __fadd_rn(__fadd_rn(wv[order[4]], wv[order[5]]), __fadd_rn(wv[order[6]], wv[order[7]])));
    if (!(total > 0.0f)) { composite[i] = __int_as_float(0x7fc00000); return; }
    float term = 0.0f;
    if (!nan[i]) term = __fmul_rn(spread[i], __fdiv_rn(wv[order[d]], total));
    composite[i] = d == 0 ? term : __fadd_rn(composite[i], term);
}
"""


def available() -> bool:
    """True when CuPy is importable and sees a CUDA device."""
    if importlib.util.find_spec("cupy") is None:
        return False
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False


class GpuSpreader:
    """Spreads one raster on the GPU in all directions; optionally folds in the composite."""

    def __init__(self, arr: np.ndarray):
        if not available():
            raise RuntimeError(
                "the cupy backend was requested but CuPy or a CUDA device is not available; "
                "use backend='cpu'"
            )
        import cupy

        self.cp = cupy
        self.module = cupy.RawModule(code=_SOURCE, options=("--fmad=false",))
        self.arr = cupy.asarray(np.ascontiguousarray(arr, dtype=np.float32))
        self.h, self.w = arr.shape
        self._buffers: dict[tuple[int, int], tuple[object, object]] = {}

    def _prefix(self, current: object, fp: Footprint) -> tuple[object, object, int]:
        cp, h, w, pad = self.cp, self.h, self.w, fp.pad
        shape = (h + 2 * pad, w + 2 * pad + 1) if fp.axis == 1 else (h + 2 * pad + 1, w + 2 * pad)
        key = (pad, fp.axis)
        if key not in self._buffers:
            self._buffers.clear()
            self._buffers[key] = (cp.empty(shape, cp.float64), cp.empty(shape, cp.int32))
        sums, counts = self._buffers[key]
        n = shape[0] if fp.axis == 1 else shape[1]
        kernel = self.module.get_function("prefix_rows" if fp.axis == 1 else "prefix_cols")
        kernel(
            ((n + 127) // 128,),
            (128,),
            (current, np.int32(h), np.int32(w), np.int32(pad), sums, counts),
        )
        return sums, counts, shape[1]

    def spread(self, fp: Footprint, iterations: int) -> object:
        """One direction's spread, as a CuPy float32 array."""
        cp = self.cp
        work = cp.empty_like(self.arr)
        if iterations == 0:
            work[...] = self.arr
            return work
        runs = [cp.asarray(v) for v in (fp.hi_r, fp.hi_c, fp.lo_r, fp.lo_c)]
        kernel = self.module.get_function("normalised_correlation")
        current = self.arr
        for _ in range(iterations):
            sums, counts, stride = self._prefix(current, fp)
            kernel(
                ((self.w + 255) // 256, self.h),
                (256,),
                (
                    sums,
                    counts,
                    np.int64(stride),
                    *runs,
                    np.int32(fp.runs),
                    np.float64(fp.weight),
                    np.float32(CLIP),
                    np.int32(self.h),
                    np.int32(self.w),
                    work,
                ),
            )
            current = work
        return work

    def accumulate(
        self,
        composite: object,
        spread: object,
        nan: object,
        weights: object,
        order: np.ndarray,
        d: int,
    ) -> None:
        """Fold direction ``d`` into the composite (same rules and rounding as the CPU path)."""
        n = self.h * self.w
        self.module.get_function("accumulate")(
            ((n + 255) // 256,),
            (256,),
            (composite, spread, nan, weights, self.cp.asarray(order), np.int32(d), np.int64(n)),
        )
