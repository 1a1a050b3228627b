// Decode GEMV / skinny GEMM, memory-bound: Y[M,N] = X[M,K] . W[N,K]^T for up to 8 rows of X per
// pass. Each warp streams R weight rows once (16-byte loads that bypass L1, R x U of them in flight
// per lane before the first is used) and serves every row of X from the same registers, so batch
// 2-8 reads the weights once and an X chunk loaded from L1 feeds R rows of W. Blocks of 4 warps;
// grid (ceil(N / (4R)), ceil(M / MR)). gemv_bf16_r{R}_m{MR} needs K % 8 == 0; gemv_bf16_any takes
// any K.
#pragma once
#include "common.cuh"

#define GEMV_ROWS 8
#define GEMV_WARPS 4

template <int R, int MR, int U>
__device__ __forceinline__ void gemv_rows(bf16* __restrict__ y, const bf16* __restrict__ x,
                                          const bf16* __restrict__ w, int m, int n, int k) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col0 = (blockIdx.x * GEMV_WARPS + warp) * R, r0 = blockIdx.y * MR;
  if (col0 >= n) return;
  const int rows = min(MR, m - r0);
  float acc[R][MR];
#pragma unroll
  for (int j = 0; j < R; j++)
#pragma unroll
    for (int r = 0; r < MR; r++) acc[j][r] = 0.f;
  const bf16* wr[R];
#pragma unroll
  for (int j = 0; j < R; j++) wr[j] = w + (size_t)min(col0 + j, n - 1) * k;  // a clamped row is not stored
  const bf16* xr = x + (size_t)r0 * k;
  int c = lane * 8;
  for (; c + (U - 1) * 256 < k; c += U * 256) {
    uint4 wv[R][U];
#pragma unroll
    for (int j = 0; j < R; j++)
#pragma unroll
      for (int u = 0; u < U; u++) wv[j][u] = __ldcs(reinterpret_cast<const uint4*>(wr[j] + c + u * 256));
#pragma unroll
    for (int u = 0; u < U; u++) {
#pragma unroll
      for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        float xf[8];
        bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(xr + (size_t)r * k + c + u * 256)), xf);
#pragma unroll
        for (int j = 0; j < R; j++) {
          float wf[8];
          bf16x8_to_float(wv[j][u], wf);
#pragma unroll
          for (int i = 0; i < 8; i++) acc[j][r] = fmaf(wf[i], xf[i], acc[j][r]);
        }
      }
    }
  }
  for (; c < k; c += 256) {
    uint4 wv[R];
#pragma unroll
    for (int j = 0; j < R; j++) wv[j] = __ldcs(reinterpret_cast<const uint4*>(wr[j] + c));
#pragma unroll
    for (int r = 0; r < MR; r++) {
      if (r >= rows) break;
      float xf[8];
      bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(xr + (size_t)r * k + c)), xf);
#pragma unroll
      for (int j = 0; j < R; j++) {
        float wf[8];
        bf16x8_to_float(wv[j], wf);
#pragma unroll
        for (int i = 0; i < 8; i++) acc[j][r] = fmaf(wf[i], xf[i], acc[j][r]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < R; j++)
#pragma unroll
    for (int r = 0; r < MR; r++) {
      const float s = warp_sum(acc[j][r]);
      if (lane == 0 && r < rows && col0 + j < n) y[(size_t)(r0 + r) * n + col0 + j] = __float2bfloat16(s);
    }
}

// R weight rows per warp, 8 / R loads of each in flight: 8 x 16 bytes per lane.
#define GEMV_ENTRY(R, MR)                                                                                     \
  extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_bf16_r##R##_m##MR(                       \
      bf16* __restrict__ y, const bf16* __restrict__ x, const bf16* __restrict__ w, int m, int n, int k) {    \
    gemv_rows<R, MR, 8 / R>(y, x, w, m, n, k);                                                                \
  }
#define GEMV_ENTRIES(R) GEMV_ENTRY(R, 1) GEMV_ENTRY(R, 2) GEMV_ENTRY(R, 4) GEMV_ENTRY(R, 8)
GEMV_ENTRIES(1)
GEMV_ENTRIES(2)
GEMV_ENTRIES(4)

extern "C" __global__ void __launch_bounds__(256) gemv_bf16_any(bf16* __restrict__ y, const bf16* __restrict__ x,
                                                                const bf16* __restrict__ w, int m, int n, int k) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col = blockIdx.x * 8 + warp, r0 = blockIdx.y * GEMV_ROWS;
  if (col >= n) return;
  const int rows = min(GEMV_ROWS, m - r0);
  float acc[GEMV_ROWS];
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.f;
  const bf16* wr = w + (size_t)col * k;
  for (int c = lane; c < k; c += 32) {
    const float wf = __bfloat162float(wr[c]);
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++)
      if (r < rows) acc[r] = fmaf(wf, __bfloat162float(x[(size_t)(r0 + r) * k + c]), acc[r]);
  }
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) {
    const float s = warp_sum(acc[r]);
    if (lane == 0 && r < rows) y[(size_t)(r0 + r) * n + col] = __float2bfloat16(s);
  }
}
