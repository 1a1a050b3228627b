// Prefill attention on tensor cores (FlashAttention-2 style): one block per (tile of up to 64
// consecutive query rows of one sequence, query head); 4 warps of 16 rows. The block walks the
// key pages the tile can see, one 64-token page per step (K and V of a (page, head) are one
// contiguous block of the pool, dequantized to bf16 in shared memory when the cache is int8/int4),
// S = Q K^T and O += P V with mma.sync m16n8k16 (ldmatrix, ldmatrix.trans for V), online softmax
// in registers. bf16 pages are double-buffered: the next page's cp.async runs during this one's math. Streaming heads walk only the pages that meet the Λ mask of some row of the tile
// (the sink pages and the window), so skipped pages are never loaded; dense heads walk all pages
// before the tile. Each row sees keys strictly before it: its own key and value are added,
// unquantized, by attn_merge from this kernel's (o, m, l), written as split 0 of `splits`.
#pragma once
#include "gemm.cuh"
#include "kv_layout.cuh"

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* smem) {
  const uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

__device__ __forceinline__ uint32_t pack_bf16(float a, float b) {
  __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<uint32_t*>(&h);
}

// Copies one (page, head) block of 64 vectors into shared memory as bf16 rows of stride LDS; rows
// from `valid` on are zeroed (never-written slots may hold NaN, and 0 * NaN would reach P V).
template <int BITS, int D, int LDS>
__device__ __forceinline__ void load_page(bf16* dst, const void* codes, const __half* params, size_t vec0, int valid) {
  for (int i = threadIdx.x; i < PAGE_TOKENS * D / 8; i += blockDim.x) {
    const int t = i / (D / 8), c = (i % (D / 8)) * 8;
    if constexpr (BITS == 16) {
      const bf16* src = static_cast<const bf16*>(codes) + (vec0 + t) * D + c;
      cp_async16(dst + t * LDS + c, t < valid ? src : static_cast<const bf16*>(codes), t < valid ? 16 : 0);
    } else {
      float f[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      if (t < valid) load8<BITS>(codes, params, vec0 + t, D, c, f);
      *reinterpret_cast<uint4*>(dst + t * LDS + c) = float_to_bf16x8(f);
    }
  }
  if constexpr (BITS == 16) cp_async_commit();
}

template <int BITS, int D>
__device__ void attn_prefill(float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits,
                             const int* tiles, const int* slice_info, const int* page_tables, const int* rings,
                             int sink_pages, const int* head_slot, KvPool ret, KvPool str, int sink,
                             int prefill_window, float scale) {
  constexpr int LDS = D + 8;  // 16-byte row padding: ldmatrix rows fall in distinct banks
  extern __shared__ __align__(16) unsigned char prefill_smem[];
  bf16* sq = reinterpret_cast<bf16*>(prefill_smem);
  bf16* skv = sq + 64 * LDS;  // [buffer 0, 1][K, V][64][LDS]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, h = head / (heads / kv_heads);
  const int* info = slice_info + tiles[3 * blockIdx.x] * SLICE_STRIDE;
  const int row0 = tiles[3 * blockIdx.x + 1], nrows = tiles[3 * blockIdx.x + 2];
  const int p0 = info[SLICE_START] + row0 - info[SLICE_ROW];  // position of the tile's first row
  const int slot = head_slot[h];
  const bool retrieval = slot >= 0;
  const KvPool pool = retrieval ? ret : str;
  const int pool_head = retrieval ? slot : -1 - slot;

  // The tile's queries; rows past nrows are zero and their results dropped.
  for (int i = threadIdx.x; i < 64 * D / 8; i += blockDim.x) {
    const int r = i / (D / 8), c = (i % (D / 8)) * 8;
    uint4 u = make_uint4(0, 0, 0, 0);
    if (r < nrows) u = *reinterpret_cast<const uint4*>(q + ((size_t)(row0 + r) * heads + head) * D + c);
    *reinterpret_cast<uint4*>(sq + r * LDS + c) = u;
  }
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) ldmatrix_x4(qf[kk], sq + (warp * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) o[i][j] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const int qpos[2] = {p0 + warp * 16 + (lane >> 2), p0 + warp * 16 + (lane >> 2) + 8};
  const int last = p0 + nrows - 1;  // keys of the tile lie before `last`

  // Pages to walk: [0, pages) for a retrieval head; the sink pages then the window's for a streaming head.
  const int window = prefill_window;
  const int sink_end = min(sink, last);
  const int sink_blocks = (sink_end + PAGE_TOKENS - 1) / PAGE_TOKENS;
  const int w0 = max(sink_end, p0 - window);  // the earliest window key of the tile's first row
  const int nb = retrieval ? (last + PAGE_TOKENS - 1) / PAGE_TOKENS
                           : sink_blocks + (w0 < last ? (last - 1) / PAGE_TOKENS - w0 / PAGE_TOKENS + 1 : 0);
  auto logical_of = [&](int b) { return retrieval || b < sink_blocks ? b : w0 / PAGE_TOKENS + b - sink_blocks; };
  // Loads page b's keys and values into buffer buf; keys past `last` are zeroed.
  auto load = [&](int b, int buf) {
    const int logical = logical_of(b);
    const int page = retrieval ? page_tables[info[SLICE_TABLE] + logical]
                               : ring_page(rings, info[SLICE_RING], info[SLICE_RING_LEN], sink_pages, logical);
    const size_t vec0 = kv_vector(page, pool.heads, pool_head, 0);
    const int valid = min(PAGE_TOKENS, last - logical * PAGE_TOKENS);
    load_page<BITS, D, LDS>(skv + (2 * buf) * 64 * LDS, pool.keys, pool.key_params, vec0, valid);
    load_page<BITS, D, LDS>(skv + (2 * buf + 1) * 64 * LDS, pool.values, pool.value_params, vec0, valid);
  };
  if (BITS == 16 && nb > 0) load(0, 0);
  for (int b = 0; b < nb; b++) {
    const int buf = BITS == 16 ? b & 1 : 0;
    if constexpr (BITS == 16) {
      if (b + 1 < nb) {
        load(b + 1, buf ^ 1);  // its buffer was last read in iteration b - 1, before that one's final barrier
        cp_async_wait<2>();    // page b's two groups have landed
      } else {
        cp_async_wait<0>();
      }
    } else {
      load(b, 0);
    }
    __syncthreads();
    const bf16* sk = skv + (2 * buf) * 64 * LDS;
    const bf16* sv = skv + (2 * buf + 1) * 64 * LDS;
    const int logical = logical_of(b);
    float s[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[i][j] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
#pragma unroll
      for (int nj = 0; nj < 4; nj++) {
        uint32_t kf[4];
        ldmatrix_x4(kf, sk + (nj * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(s[2 * nj], qf[kk], kf[0], kf[1]);
        mma_bf16(s[2 * nj + 1], qf[kk], kf[2], kf[3]);
      }
    // Mask and online softmax; thread holds rows qpos[0] (c0, c1) and qpos[1] (c2, c3).
    const int kbase = logical * PAGE_TOKENS;
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int ni = 0; ni < 8; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = kbase + ni * 8 + (lane & 3) * 2 + (e & 1), r = e >> 1;
        const bool visible = key < qpos[r] && (retrieval || key < sink || key >= qpos[r] - window);
        s[ni][e] = visible ? s[ni][e] * scale : -INFINITY;
        mx[r] = fmaxf(mx[r], s[ni][e]);
      }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      alpha[r] = mx[r] == -INFINITY ? 1.f : expf(m[r] - mx[r]);
      m[r] = mx[r];
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int ni = 0; ni < 8; ni++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int r = e >> 1;
        const float p = s[ni][e] == -INFINITY ? 0.f : expf(s[ni][e] - m[r]);
        s[ni][e] = p;
        l[r] += p;
      }
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      o[i][0] *= alpha[0];
      o[i][1] *= alpha[0];
      o[i][2] *= alpha[1];
      o[i][3] *= alpha[1];
    }
#pragma unroll
    for (int t = 0; t < 4; t++) {
      uint32_t pa[4] = {pack_bf16(s[2 * t][0], s[2 * t][1]), pack_bf16(s[2 * t][2], s[2 * t][3]),
                        pack_bf16(s[2 * t + 1][0], s[2 * t + 1][1]), pack_bf16(s[2 * t + 1][2], s[2 * t + 1][3])};
#pragma unroll
      for (int nd = 0; nd < D / 16; nd++) {
        uint32_t vf[4];
        ldmatrix_x4_trans(vf, sv + (t * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + nd * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * nd], pa, vf[0], vf[1]);
        mma_bf16(o[2 * nd + 1], pa, vf[2], vf[3]);
      }
    }
    __syncthreads();  // this buffer is refilled next iteration (bf16) or right away (quantized)
  }

  // Rows' sums over the quad; write (o, m, l) as split 0 and empty states for the other splits.
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int row = warp * 16 + (lane >> 2) + 8 * r;
    if (row >= nrows) continue;
    const size_t at = ((size_t)(row0 + row) * heads + head) * splits;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      const int c = i * 8 + (lane & 3) * 2;
      part_o[at * D + c] = o[i][2 * r];
      part_o[at * D + c + 1] = o[i][2 * r + 1];
    }
    if ((lane & 3) == 0) {
      part_ml[2 * at] = m[r];
      part_ml[2 * at + 1] = l[r];
      for (int s = 1; s < splits; s++) {
        part_ml[2 * (at + s)] = -INFINITY;
        part_ml[2 * (at + s) + 1] = 0.f;
      }
    }
  }
}

#define PREFILL_ENTRY(BITS, D)                                                                                     \
  extern "C" __global__ void __launch_bounds__(128) attn_prefill_b##BITS##_d##D(                                   \
      float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits, const int* tiles,          \
      const int* slice_info, const int* page_tables, const int* rings, int sink_pages, const int* head_slot,        \
      void* rk, void* rv, __half* rkp, __half* rvp, int r_heads, void* sk, void* sv, __half* skp, __half* svp,      \
      int s_heads, int sink, int prefill_window, float scale) {                                                    \
    attn_prefill<BITS, D>(part_o, part_ml, q, heads, kv_heads, splits, tiles, slice_info, page_tables, rings,       \
                          sink_pages, head_slot, KvPool{rk, rv, rkp, rvp, r_heads}, KvPool{sk, sv, skp, svp, s_heads}, \
                          sink, prefill_window, scale);                                                             \
  }
PREFILL_ENTRY(16, 64)
PREFILL_ENTRY(16, 128)
PREFILL_ENTRY(8, 64)
PREFILL_ENTRY(8, 128)
PREFILL_ENTRY(4, 64)
PREFILL_ENTRY(4, 128)
