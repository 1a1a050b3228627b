// Prefill GEMM for Hopper (sm_90a): Y[M,N] = X[M,K] . W[N,K]^T, bf16 in, fp32 accumulation in
// registers, bf16 out, on wgmma.mma_async. A persistent, warp-specialized kernel: of its three
// warpgroups, the first (producer) has the tensor copy engine (TMA) load K-major 64-wide boxes of
// X and W into a ring of shared-memory stages in the 128-byte-swizzled layout wgmma reads, and the
// other two (consumers) each multiply 64 rows (or half the columns) of the CTA tile. The boxes'
// CUtensorMaps are encoded on the host (TensorMaps.java) and passed by value.
// Stages are handed over with mbarriers: "full" completes when a stage's bytes have landed
// (mbarrier.arrive.expect_tx, then the copies' complete_tx), "empty" when the 8 consumer warps'
// wgmma groups reading the stage have retired.
// (The first version copied with 16-byte cp.async from the producer's 128 threads: on the H100,
// 6-28% slower on each Llama-3-8B projection at 2048 and 8192 rows, kernels/bench/gemm_bench.py.)
// Needs K % 64 == 0 and N even (bf16x2 stores; the backend asks N % 8 == 0); M and N edges are
// zero-filled by the copy engine and masked on store.
// Epilogues (common.cuh): EPI_STORE writes Y; EPI_GLU multiplies two weights, W (gate) and W2 (up),
// both [N, K], and writes silu(X W^T) * (X W2^T): a CTA's BN product columns are four 64-row
// blocks of gate, up, gate, up rows, so each consumer thread holds a gate column and its up column
// 64 apart, and the tile makes BN / 2 output columns.
// Only sm_90a has wgmma: elsewhere these kernels compile to a trap (the backend launches them on
// compute capability 9.0 only).
#pragma once
#include <cuda.h>  // CUtensorMap

#include "gemm.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// D[64 x N] += A[64 x 16] B[16 x N]^T, both from shared memory through descriptors, both K-major
// (no transpose), scale-d 1 (the accumulators are zeroed at the start of a tile). d: N / 2 floats.
#define WG_D8(i)                                                                                      \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])

__device__ __forceinline__ void wgmma_m64n256k16(float* d, uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
      "%128, %129, p, 1, 1, 0, 0;\n}\n"
      : WG_D8(0), WG_D8(8), WG_D8(16), WG_D8(24), WG_D8(32), WG_D8(40), WG_D8(48), WG_D8(56),
        WG_D8(64), WG_D8(72), WG_D8(80), WG_D8(88), WG_D8(96), WG_D8(104), WG_D8(112), WG_D8(120)
      : "l"(a), "l"(b), "r"(1));
}

__device__ __forceinline__ void wgmma_m64n128k16(float* d, uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, 0, 0;\n}\n"
      : WG_D8(0), WG_D8(8), WG_D8(16), WG_D8(24), WG_D8(32), WG_D8(40), WG_D8(48), WG_D8(56)
      : "l"(a), "l"(b), "r"(1));
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}

__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Arrives on the barrier once all of this thread's earlier cp.async copies have landed.
__device__ __forceinline__ void cp_async_arrive(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

// The tensor copy engine (TMA): box (c0 = K, c1 = row) of the map into shared memory, its bytes
// counted against the barrier's expected transaction bytes.
__device__ __forceinline__ void tma_load_2d(uint32_t smem, const CUtensorMap* map, int c0, int c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          smem),
      "l"(map), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}

__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void cp_async16_to(uint32_t smem, const void* gmem, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem), "l"(gmem), "r"(src_bytes) : "memory");
}

// Shared-memory matrix descriptor of a K-major tile stored as rows of 128 bytes (64 bf16) with the
// 128-byte swizzle (16-byte chunk c of row r at chunk c ^ (r % 8)), 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t wg_desc(uint32_t smem) {
  return (uint64_t)((smem & 0x3FFFF) >> 4) | (1ull << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Tells the compiler the accumulators may change here, so it keeps their reads and writes on the
// right side of the asynchronous wgmma issue and wait.
template <int R>
__device__ __forceinline__ void fence_acc(float* d) {
#pragma unroll
  for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i])::"memory");
}

template <int WN>
__device__ __forceinline__ void wgmma_k16(float* d, uint64_t a, uint64_t b) {
  if constexpr (WN == 256) wgmma_m64n256k16(d, a, b);
  else wgmma_m64n128k16(d, a, b);
}

// Tile t of the grid in groups of GROUP_M tile rows: consecutive tiles walk down a group's rows
// before moving right, so the CTAs running together share their X rows and W columns in L2.
template <int GROUP_M>
__device__ __forceinline__ void tile_origin(int t, int tiles_m, int tiles_n, int& tm, int& tn) {
  const int span = GROUP_M * tiles_n, g = t / span, first = g * GROUP_M;
  const int rows = min(tiles_m - first, GROUP_M), r = t - g * span;
  tm = first + r % rows;
  tn = r / rows;
}

// CTA tile BM x BN (BM 128: each consumer warpgroup takes 64 rows; BM 64: half the columns),
// k step 64, STAGES-deep ring. 384 threads; grid: at most one CTA per SM, each looping over tiles.
template <int BM, int BN, int STAGES, int GROUP_M, int EPI>
__device__ __forceinline__ void gemm_wgmma(bf16* __restrict__ y, const CUtensorMap* tx, const CUtensorMap* tw,
                                           const CUtensorMap* tw2, int m, int n, int k) {
  constexpr int WN = BM == 128 ? BN : BN / 2;  // columns of one consumer's m64nWN products
  constexpr int TN = EPI == EPI_GLU ? BN / 2 : BN;  // output columns of a tile
  constexpr int A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128;
  extern __shared__ __align__(1024) unsigned char smem_dyn[];
  const uint32_t base = (smem_u32(smem_dyn) + 1023) & ~1023u;  // the swizzle repeats every 1024 bytes
  const uint32_t full = base + STAGES * STAGE_BYTES, empty = full + 8 * STAGES;
  const int wg = threadIdx.x >> 7;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) {
      mbar_init(full + 8 * s, 1);
      mbar_init(empty + 8 * s, 8);
    }
  }
  __syncthreads();
  const int tiles_m = (m + BM - 1) / BM, tiles_n = (n + TN - 1) / TN, tiles = tiles_m * tiles_n, ktiles = k / 64;
  int stage = 0;
  uint32_t phase = 0;
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x != 0) return;  // one thread issues every copy
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      int tm, tn;
      tile_origin<GROUP_M>(tile, tiles_m, tiles_n, tm, tn);
      for (int kt = 0; kt < ktiles; kt++) {
        mbar_wait(empty + 8 * stage, phase ^ 1);
        const uint32_t sa = base + stage * STAGE_BYTES, sb = sa + A_BYTES, bar = full + 8 * stage;
        mbar_expect_tx(bar, STAGE_BYTES);
        tma_load_2d(sa, tx, kt * 64, tm * BM, bar);
        if constexpr (EPI == EPI_GLU) {
          // Block b of 64 rows: rows 64 (b / 2) + r of the tile's gate (b even) or up rows.
#pragma unroll
          for (int b = 0; b < 4; b++) tma_load_2d(sb + b * 8192, b & 1 ? tw2 : tw, kt * 64, tn * TN + (b >> 1) * 64, bar);
        } else {
          tma_load_2d(sb, tw, kt * 64, tn * BN, bar);
        }
        if (++stage == STAGES) stage = 0, phase ^= 1;
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = wg - 1, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    const uint32_t a_off = BM == 128 ? cw * 64 * 128 : 0, b_off = A_BYTES + (BM == 128 ? 0 : cw * WN * 128);
    float d[WN / 2];
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      int tm, tn;
      tile_origin<GROUP_M>(tile, tiles_m, tiles_n, tm, tn);
#pragma unroll
      for (int i = 0; i < WN / 2; i++) d[i] = 0.f;
      int held = 0;  // the stage the wgmma group still in flight reads
      for (int kt = 0; kt < ktiles; kt++) {
        mbar_wait(full + 8 * stage, phase);
        const uint32_t s = base + stage * STAGE_BYTES;
        fence_acc<WN / 2>(d);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wgmma_k16<WN>(d, wg_desc(s + a_off + kk * 32), wg_desc(s + b_off + kk * 32));
        wgmma_commit();
        wgmma_wait<1>();  // the previous step's group has retired: its stage can be refilled
        fence_acc<WN / 2>(d);
        if (kt > 0 && lane == 0) mbar_arrive(empty + 8 * held);
        held = stage;
        if (++stage == STAGES) stage = 0, phase ^= 1;
      }
      wgmma_wait<0>();
      fence_acc<WN / 2>(d);
      if (lane == 0) mbar_arrive(empty + 8 * held);
      // Accumulator d[4 j + 2 h + e]: row 16 warp + lane / 4 + 8 h, product column 8 j + 2 (lane % 4)
      // + e of the consumer's WN. Under EPI_GLU gate column 8 j (j % 16 < 8) pairs with up column
      // 8 j + 64 and makes output column 64 (j / 16) + 8 (j % 16) of the consumer's WN / 2.
      const int row0 = tm * BM + (BM == 128 ? cw * 64 : 0) + warp * 16 + (lane >> 2);
      const int col0 = tn * TN + (BM == 128 ? 0 : cw * WN * TN / BN) + (lane & 3) * 2;
#pragma unroll
      for (int jo = 0; jo < WN * TN / BN / 8; jo++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int j = EPI == EPI_GLU ? jo / 8 * 16 + jo % 8 : jo, row = row0 + 8 * h, col = col0 + 8 * jo;
          if (row >= m || col >= n) continue;
          __nv_bfloat162* out = reinterpret_cast<__nv_bfloat162*>(y + (size_t)row * n + col);
          const float v0 = d[4 * j + 2 * h], v1 = d[4 * j + 2 * h + 1];
          if constexpr (EPI == EPI_STORE) *out = __floats2bfloat162_rn(v0, v1);
          if constexpr (EPI == EPI_GLU)
            *out = __floats2bfloat162_rn(silu_mul(bf16_round(v0), bf16_round(d[4 * j + 32 + 2 * h])),
                                         silu_mul(bf16_round(v1), bf16_round(d[4 * j + 33 + 2 * h])));
        }
    }
  }
}
#else
template <int BM, int BN, int STAGES, int GROUP_M, int EPI>
__device__ __forceinline__ void gemm_wgmma(bf16*, const CUtensorMap*, const CUtensorMap*, const CUtensorMap*, int, int,
                                           int) {
  __trap();
}
#endif

// Entries NAME and NAME_glu, both with the arguments (y, tx, tw, tw2, m, n, k): the tensor maps of
// X (boxes of 64 x BM), W and W2 (boxes of 64 x BN, under _glu 64 x 64; NAME ignores tw2).
// Dynamic shared memory: the stages, their two mbarriers each, and 1024 bytes to align the ring.
// (An _add epilogue, the residual add in the store, was timed on the H100 and dropped: its loads of
// the residual stall the consumers, 2-6% slower than the product and add_bf16 apart.)
#define GEMM_WGMMA_EPI(name, BM, BN, STAGES, GROUP_M, EPI)                                                       \
  extern "C" __global__ void __launch_bounds__(384, 1)                                                           \
      name(bf16* __restrict__ y, const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, \
           const __grid_constant__ CUtensorMap tw2, int m, int n, int k) {                                       \
    gemm_wgmma<BM, BN, STAGES, GROUP_M, EPI>(y, &tx, &tw, &tw2, m, n, k);                                        \
  }
#define GEMM_WGMMA(name, BM, BN, STAGES, GROUP_M)          \
  GEMM_WGMMA_EPI(name, BM, BN, STAGES, GROUP_M, EPI_STORE) \
  GEMM_WGMMA_EPI(name##_glu, BM, BN, STAGES, GROUP_M, EPI_GLU)

// 128 x 256 tiles, 4 stages; 64 x 256, 5 stages, for shapes whose 128-row tiles leave SMs idle.
// (Timed on the H100 and dropped: 128 x 128 with 6 stages, ~20% slower than 128 x 256 at every
// shape; 3 stages or groups of 8 tile rows, within the run-to-run spread of this one.)
GEMM_WGMMA(gemm_bf16_wgmma_128x256, 128, 256, 4, 16)
GEMM_WGMMA(gemm_bf16_wgmma_64x256, 64, 256, 5, 16)
