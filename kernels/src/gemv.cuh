// Decode GEMV / skinny GEMM, memory-bound: Y[M,N] = X[M,K] . W[N,K]^T for up to 8 rows of X per
// pass. Each warp streams its weight rows once (16-byte loads that bypass L1, 8 to 16 of them in
// flight per lane) and serves every row of X from the same registers, so batch
// 2-8 reads the weights once and an X chunk loaded from L1 feeds every weight row of the warp.
// Blocks of 4 warps; grid (ceil(N / (4R)), ceil(M / MR)); K % 8 == 0 (gemv_bf16_any takes any K).
//
// A decode layer is four launches of these (the small kernels between them folded in, since at
// batch 1 each launch costs more than its work):
//   gemv_norm_*  h = rmsnorm(x) computed by every block from x itself (HF rounding: the normalized
//                value is rounded to bf16 before the weight multiplies it), then up to three
//                products of h (q, k and v: one launch, the blocks split between them);
//   gemv_glu_*   the same norm, then silu(Wgate h) * (Wup h): a warp takes R rows of both;
//   gemv_add_*   x += W y (the residual add in the store);
//   gemv_bf16_*  the plain product.
// Each rounds where the unfused kernels round (every product to bf16 before it is added or
// multiplied), so fused and unfused steps give the same values up to the norm's summation order.
#pragma once
#include "common.cuh"

#define GEMV_ROWS 8
#define GEMV_WARPS 4

// 1 / rms of each of the block's rows of x (all threads of the block must call it).
template <int MR>
__device__ __forceinline__ void gemv_inv_rms(float* inv, const bf16* __restrict__ x, int rows, int k, float eps) {
  __shared__ float part[MR][GEMV_WARPS];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < MR; r++) {
    float ss = 0.f;
    if (r < rows)
      for (int c = threadIdx.x * 8; c < k; c += GEMV_WARPS * 256) {
        float f[8];
        bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(x + (size_t)r * k + c)), f);
#pragma unroll
        for (int i = 0; i < 8; i++) ss = fmaf(f[i], f[i], ss);
      }
    ss = warp_sum(ss);
    if (lane == 0) part[r][warp] = ss;
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < MR; r++) {
    float ss = 0.f;
#pragma unroll
    for (int w = 0; w < GEMV_WARPS; w++) ss += part[r][w];
    inv[r] = rsqrtf(ss / k + eps);
  }
}

// One block's rows against rows r0 .. of x (normalized by gamma first when NORM): with KS = 1,
// weight rows col0 .. col0 + R - 1 of w per warp (and the same rows of w2 for EPI_GLU); with
// KS = 4 (split K, for outputs too few to give every SM enough warps) the block's 4 warps take
// the same R rows, a quarter of K each, and add their sums in shared memory.
template <int R, int MR, int STORE, bool NORM, int KS>
__device__ __forceinline__ void gemv_rows(bf16* __restrict__ y, const bf16* __restrict__ x,
                                          const bf16* __restrict__ gamma, float eps, const bf16* __restrict__ w,
                                          const bf16* __restrict__ w2, int m, int n, int k, int block) {
  constexpr int NW = STORE == EPI_GLU ? 2 * R : R, U = 8 / NW;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int col0 = (KS == 1 ? block * GEMV_WARPS + warp : block) * R, r0 = blockIdx.y * MR;
  const int kslice = KS == 1 ? k : (k + 256 * KS - 1) / (256 * KS) * 256;
  const int kbegin = KS == 1 ? 0 : warp * kslice, kend = min(k, kbegin + kslice);
  const int rows = min(MR, m - r0);
  const bf16* xr = x + (size_t)r0 * k;
  const bf16* wr[NW];
#pragma unroll
  for (int j = 0; j < NW; j++) {  // a clamped row is loaded but not stored
    const int row = min(col0 + (j % R), n - 1);
    wr[j] = (STORE == EPI_GLU && j >= R ? w2 : w) + (size_t)row * k;
  }
  // The first weight loads go out before the norm's pass over x, which they do not need (and before
  // the previous kernel has ended, when launched as its dependent). Then, up
  // to 4 rows of x, two register sets alternate: the next U chunks are requested before the
  // current ones are used, so a warp always has loads in flight (at batch 1 within 2% of a pure
  // read of the same weights).
  int c = kbegin + lane * 8;
  auto full = [&](int c) { return c + (U - 1) * 256 < kend; };
  uint4 wa[U][NW], wb[U][NW];
  auto load = [&](uint4(&wv)[U][NW], int c) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int j = 0; j < NW; j++) wv[u][j] = __ldcs(reinterpret_cast<const uint4*>(wr[j] + c + u * 256));
  };
  pdl_launch_dependents();
  if (col0 < n && full(c)) load(wa, c);
  pdl_wait();  // launched as a dependent (CudaBackend): x and y are the previous kernel's
  float inv[MR];
  if constexpr (NORM) gemv_inv_rms<MR>(inv, xr, rows, k, eps);
  if (col0 >= n) return;
  float acc[NW][MR];
#pragma unroll
  for (int j = 0; j < NW; j++)
#pragma unroll
    for (int r = 0; r < MR; r++) acc[j][r] = 0.f;
  // One 8-wide chunk of every row of x (normalized when NORM) against the warp's weight rows.
  auto fma_chunk = [&](const uint4* wv, int c) {
    float gf[8];
    if constexpr (NORM) bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(gamma + c)), gf);
#pragma unroll
    for (int r = 0; r < MR; r++) {  // rows past the last reuse it (not stored): no branch between the loads
      float xf[8];
      bf16x8_to_float(__ldg(reinterpret_cast<const uint4*>(xr + (size_t)min(r, rows - 1) * k + c)), xf);
      if constexpr (NORM) {
#pragma unroll
        for (int i = 0; i < 8; i++) xf[i] = bf16_round(bf16_round(xf[i] * inv[r]) * gf[i]);
      }
#pragma unroll
      for (int j = 0; j < NW; j++) {
        float wf[8];
        bf16x8_to_float(wv[j], wf);
#pragma unroll
        for (int i = 0; i < 8; i++) acc[j][r] = fmaf(wf[i], xf[i], acc[j][r]);
      }
    }
  };
  auto fma_stage = [&](uint4(&wv)[U][NW], int c) {
#pragma unroll
    for (int u = 0; u < U; u++) fma_chunk(wv[u], c + u * 256);
  };
  while (full(c)) {
    if constexpr (MR <= 4) {
      if (full(c + U * 256)) load(wb, c + U * 256);
      fma_stage(wa, c);
      c += U * 256;
      if (!full(c)) break;
      if (full(c + U * 256)) load(wa, c + U * 256);
      fma_stage(wb, c);
      c += U * 256;
    } else {  // 8 rows of x: the second set would cost the registers of 2 of 4 resident blocks
      fma_stage(wa, c);
      c += U * 256;
      if (full(c)) load(wa, c);
    }
  }
  for (; c < kend; c += 256) {
    uint4 wv[NW];
#pragma unroll
    for (int j = 0; j < NW; j++) wv[j] = __ldcs(reinterpret_cast<const uint4*>(wr[j] + c));
    fma_chunk(wv, c);
  }
  if constexpr (KS > 1) {  // the warps' partial sums of the same rows, added in warp order
    __shared__ float red[KS][NW][MR];
#pragma unroll
    for (int j = 0; j < NW; j++)
#pragma unroll
      for (int r = 0; r < MR; r++) {
        const float s = warp_sum(acc[j][r]);
        if (lane == 0) red[warp][j][r] = s;
      }
    __syncthreads();
    if (warp != 0) return;
#pragma unroll
    for (int j = 0; j < NW; j++)
#pragma unroll
      for (int r = 0; r < MR; r++) {
        float s = 0.f;
#pragma unroll
        for (int w = 0; w < KS; w++) s += red[w][j][r];
        acc[j][r] = s;
      }
  } else {
#pragma unroll
    for (int j = 0; j < NW; j++)
#pragma unroll
      for (int r = 0; r < MR; r++) acc[j][r] = warp_sum(acc[j][r]);
  }
#pragma unroll
  for (int j = 0; j < R; j++)
#pragma unroll
    for (int r = 0; r < MR; r++) {
      if (lane != 0 || r >= rows || col0 + j >= n) continue;
      const float s = acc[j][r];
      bf16* out = y + (size_t)(r0 + r) * n + col0 + j;
      if constexpr (STORE == EPI_STORE) *out = __float2bfloat16(s);
      if constexpr (STORE == EPI_ADD) *out = __float2bfloat16(__bfloat162float(*out) + bf16_round(s));
      if constexpr (STORE == EPI_GLU) *out = __float2bfloat16(silu_mul(bf16_round(s), bf16_round(acc[j + R][r])));
    }
}

// Entries gemv[_add|_norm]_bf16_r{R}_m{MR} (KS = 1) and _r2k4_m{MR} (split K), gemv_glu_bf16_r{R}_m{MR}.
#define GEMV_ENTRY(R, MR, KS, NAME)                                                                              \
  extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_bf16_##NAME(                                \
      bf16* __restrict__ y, const bf16* __restrict__ x, const bf16* __restrict__ w, int m, int n, int k) {       \
    gemv_rows<R, MR, EPI_STORE, false, KS>(y, x, nullptr, 0.f, w, nullptr, m, n, k, blockIdx.x);                \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_add_bf16_##NAME(                            \
      bf16* __restrict__ y, const bf16* __restrict__ x, const bf16* __restrict__ w, int m, int n, int k) {       \
    gemv_rows<R, MR, EPI_ADD, false, KS>(y, x, nullptr, 0.f, w, nullptr, m, n, k, blockIdx.x);                  \
  }                                                                                                              \
  /* Up to three products of one normalized x: blocks [0, b0) make y0, then y1, then y2 (n1, n2 may be 0). */   \
  extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_norm_bf16_##NAME(                           \
      bf16* y0, const bf16* __restrict__ w0, int n0, bf16* y1, const bf16* __restrict__ w1, int n1, bf16* y2,    \
      const bf16* __restrict__ w2, int n2, const bf16* __restrict__ x, const bf16* __restrict__ gamma, float eps, \
      int m, int k) {                                                                                            \
    const int per = (KS == 1 ? GEMV_WARPS : 1) * R, b0 = (n0 + per - 1) / per, b1 = (n1 + per - 1) / per;       \
    int b = blockIdx.x;                                                                                          \
    if (b < b0)                                                                                                  \
      gemv_rows<R, MR, EPI_STORE, true, KS>(y0, x, gamma, eps, w0, nullptr, m, n0, k, b);                       \
    else if ((b -= b0) < b1)                                                                                     \
      gemv_rows<R, MR, EPI_STORE, true, KS>(y1, x, gamma, eps, w1, nullptr, m, n1, k, b);                       \
    else                                                                                                         \
      gemv_rows<R, MR, EPI_STORE, true, KS>(y2, x, gamma, eps, w2, nullptr, m, n2, k, b - b1);                  \
  }
#define EPI_GLU_ENTRY(R, MR)                                                                                    \
  extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_glu_bf16_r##R##_m##MR(                      \
      bf16* __restrict__ y, const bf16* __restrict__ x, const bf16* __restrict__ gamma, float eps,               \
      const bf16* __restrict__ wg, const bf16* __restrict__ wu, int m, int n, int k) {                           \
    gemv_rows<R, MR, EPI_GLU, true, 1>(y, x, gamma, eps, wg, wu, m, n, k, blockIdx.x);                          \
  }
#define GEMV_ENTRIES(R) \
  GEMV_ENTRY(R, 1, 1, r##R##_m1) GEMV_ENTRY(R, 2, 1, r##R##_m2) GEMV_ENTRY(R, 4, 1, r##R##_m4) GEMV_ENTRY(R, 8, 1, r##R##_m8)
GEMV_ENTRIES(1)
GEMV_ENTRIES(2)
GEMV_ENTRIES(4)
GEMV_ENTRY(2, 1, 4, r2k4_m1) GEMV_ENTRY(2, 2, 4, r2k4_m2) GEMV_ENTRY(2, 4, 4, r2k4_m4) GEMV_ENTRY(2, 8, 4, r2k4_m8)
EPI_GLU_ENTRY(1, 1) EPI_GLU_ENTRY(1, 2) EPI_GLU_ENTRY(1, 4) EPI_GLU_ENTRY(1, 8)
EPI_GLU_ENTRY(2, 1) EPI_GLU_ENTRY(2, 2) EPI_GLU_ENTRY(2, 4) EPI_GLU_ENTRY(2, 8)

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
