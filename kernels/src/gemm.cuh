// Prefill GEMM on tensor cores: Y[M,N] = X[M,K] . W[N,K]^T (Hugging Face Linear weights are
// [out, in], so both operands are K-major: the "TN" case). bf16 in, fp32 accumulation, bf16 out.
// mma.sync m16n8k16 fed by ldmatrix.x4 from shared memory filled by a multi-stage cp.async
// pipeline; shared rows padded by 16 bytes so ldmatrix is conflict-free.
// Needs K % 8 == 0 (16-byte chunks); M and N edges are zero-filled and masked.
#pragma once
#include "common.cuh"

#define GEMM_BM 128
#define GEMM_BK 32
#define GEMM_LDS (GEMM_BK + 8)

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  const uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* smem) {
  const uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

__device__ __forceinline__ void mma_bf16(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// CTA tile 128 x BN x 32, 8 warps as 2 (M) x 4 (N), warp tile 64 x BN/4, STAGES-deep cp.async
// ring; (STAGES * (128 + BN) * 40 * 2) bytes of dynamic shared memory.
template <int BN, int STAGES>
__device__ __forceinline__ void gemm_tc(bf16* __restrict__ y, const bf16* __restrict__ x, const bf16* __restrict__ w,
                                        int m, int n, int k) {
  constexpr int WN = BN / 4, NT = WN / 8;  // warp columns, n8 tiles per warp
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* sa = reinterpret_cast<bf16*>(smem);
  bf16* sb = sa + STAGES * GEMM_BM * GEMM_LDS;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 2, wn = warp & 3;
  const int m0 = blockIdx.y * GEMM_BM, n0 = blockIdx.x * BN;
  const int ktiles = (k + GEMM_BK - 1) / GEMM_BK;

  auto load = [&](int stage, int kt) {
    const int k0 = kt * GEMM_BK;
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int idx = tid + i * 256, r = idx >> 2, col = (idx & 3) * 8, gk = k0 + col;
      const bool v = m0 + r < m && gk < k;
      cp_async16(sa + (stage * GEMM_BM + r) * GEMM_LDS + col, v ? x + (size_t)(m0 + r) * k + gk : x, v ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < BN / 64; i++) {
      const int idx = tid + i * 256, r = idx >> 2, col = (idx & 3) * 8, gk = k0 + col;
      const bool v = n0 + r < n && gk < k;
      cp_async16(sb + (stage * BN + r) * GEMM_LDS + col, v ? w + (size_t)(n0 + r) * k + gk : w, v ? 16 : 0);
    }
  };

  float acc[4][NT][4];
#pragma unroll
  for (int a = 0; a < 4; a++)
#pragma unroll
    for (int b = 0; b < NT; b++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[a][b][c] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < ktiles) load(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; kt++) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // stage kt has landed for all threads, and stage kt - 1 is free to refill
    const int next = kt + STAGES - 1;
    if (next < ktiles) load(next % STAGES, next);
    cp_async_commit();
    const int stage = kt % STAGES;
    const bf16* ta = sa + stage * GEMM_BM * GEMM_LDS;
    const bf16* tb = sb + stage * BN * GEMM_LDS;
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; kk += 16) {
      uint32_t af[4][4], bfr[NT / 2][4];
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
        ldmatrix_x4(af[mi], ta + (wm * 64 + mi * 16 + (lane & 15)) * GEMM_LDS + kk + (lane >> 4) * 8);
#pragma unroll
      for (int nj = 0; nj < NT / 2; nj++)
        ldmatrix_x4(bfr[nj], tb + (wn * WN + nj * 16 + (lane & 7) + (lane >> 4) * 8) * GEMM_LDS + kk + ((lane >> 3) & 1) * 8);
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < NT; ni++) mma_bf16(acc[mi][ni], af[mi], bfr[ni >> 1][(ni & 1) * 2], bfr[ni >> 1][(ni & 1) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mi = 0; mi < 4; mi++)
#pragma unroll
    for (int ni = 0; ni < NT; ni++)
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int row = m0 + wm * 64 + mi * 16 + (lane >> 2) + half * 8;
        const int col = n0 + wn * WN + ni * 8 + (lane & 3) * 2;
        if (row >= m) continue;
        const float v0 = acc[mi][ni][2 * half], v1 = acc[mi][ni][2 * half + 1];
        bf16* dst = y + (size_t)row * n + col;
        if (col + 1 < n && (n & 1) == 0) {
          *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(v0, v1);
        } else {
          if (col < n) dst[0] = __float2bfloat16(v0);
          if (col + 1 < n) dst[1] = __float2bfloat16(v1);
        }
      }
}

// 128 x 128 tiles, 3 stages (61,440 bytes of shared memory): grid (ceil(N/128), ceil(M/128)).
extern "C" __global__ void __launch_bounds__(256) gemm_bf16_tc(bf16* __restrict__ y, const bf16* __restrict__ x,
                                                               const bf16* __restrict__ w, int m, int n, int k) {
  gemm_tc<128, 3>(y, x, w, m, n, k);
}

// 128 x 256 tiles, 4 stages (122,880 bytes): for shapes with enough tiles to fill the GPU.
extern "C" __global__ void __launch_bounds__(256, 1) gemm_bf16_tc_wide(bf16* __restrict__ y,
                                                                     const bf16* __restrict__ x,
                                                                     const bf16* __restrict__ w, int m, int n, int k) {
  gemm_tc<256, 4>(y, x, w, m, n, k);
}

// The same product on CUDA cores for shapes the tensor-core kernel cannot take (K % 8 != 0):
// 16x16 output tiles, one thread per output. Grid (ceil(N/16), ceil(M/16)), 256 threads.
extern "C" __global__ void gemm_bf16_simple(bf16* __restrict__ y, const bf16* __restrict__ x,
                                            const bf16* __restrict__ w, int m, int n, int k) {
  __shared__ float xs[16][17], ws[16][17];
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const int row = blockIdx.y * 16 + ty, col = blockIdx.x * 16 + tx;
  float acc = 0.f;
  for (int k0 = 0; k0 < k; k0 += 16) {
    const int xr = blockIdx.y * 16 + ty, wr = blockIdx.x * 16 + ty;
    xs[ty][tx] = xr < m && k0 + tx < k ? __bfloat162float(x[(size_t)xr * k + k0 + tx]) : 0.f;
    ws[ty][tx] = wr < n && k0 + tx < k ? __bfloat162float(w[(size_t)wr * k + k0 + tx]) : 0.f;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 16; i++) acc = fmaf(xs[ty][i], ws[tx][i], acc);
    __syncthreads();
  }
  if (row < m && col < n) y[(size_t)row * n + col] = __float2bfloat16(acc);
}
