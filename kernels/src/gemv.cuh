// Decode GEMV / skinny GEMM, memory-bound: Y[M,N] = X[M,K] . W[N,K]^T for a few rows. One warp
// per output feature streams its weight row once with 16-byte loads that bypass L1 and serves up
// to 8 rows of X (read through the cache, they are shared by every warp). Grid
// (ceil(N/8), ceil(M/8)), 256 threads. gemv_bf16 needs K % 8 == 0; gemv_bf16_any takes any K.
#pragma once
#include "common.cuh"

#define GEMV_ROWS 8

extern "C" __global__ void __launch_bounds__(256) gemv_bf16(bf16* __restrict__ y, const bf16* __restrict__ x,
                                                            const bf16* __restrict__ w, int m, int n, int k) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col = blockIdx.x * 8 + warp, r0 = blockIdx.y * GEMV_ROWS;
  if (col >= n) return;
  const int rows = min(GEMV_ROWS, m - r0);
  float acc[GEMV_ROWS];
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.f;
  const bf16* wr = w + (size_t)col * k;
  // Four 16-byte weight loads in flight per lane before the first is used.
  int c = lane * 8;
  for (; c + 3 * 256 < k; c += 4 * 256) {
    uint4 wv[4];
#pragma unroll
    for (int u = 0; u < 4; u++) wv[u] = __ldcs(reinterpret_cast<const uint4*>(wr + c + u * 256));
#pragma unroll
    for (int u = 0; u < 4; u++) {
      float wf[8];
      bf16x8_to_float(wv[u], wf);
#pragma unroll
      for (int r = 0; r < GEMV_ROWS; r++) {
        if (r >= rows) break;
        float xf[8];
        bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(x + (size_t)(r0 + r) * k + c + u * 256)), xf);
#pragma unroll
        for (int i = 0; i < 8; i++) acc[r] = fmaf(wf[i], xf[i], acc[r]);
      }
    }
  }
  for (; c < k; c += 256) {
    float wf[8];
    bf16x8_to_float(__ldcs(reinterpret_cast<const uint4*>(wr + c)), wf);
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
      if (r >= rows) break;
      float xf[8];
      bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(x + (size_t)(r0 + r) * k + c)), xf);
#pragma unroll
      for (int i = 0; i < 8; i++) acc[r] = fmaf(wf[i], xf[i], acc[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) {
    const float s = warp_sum(acc[r]);
    if (lane == 0 && r < rows) y[(size_t)(r0 + r) * n + col] = __float2bfloat16(s);
  }
}

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
