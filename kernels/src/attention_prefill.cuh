// Prefill attention on tensor cores (FlashAttention-2 style, mma.sync m16n8k16 bf16).
//
// A CTA of 8 warps takes one tile of T consecutive query rows of one sequence and HPC query heads
// of one GQA group (HPC the largest power of two dividing the group, at most 8; T = 128 / HPC):
// warp w holds 16 rows of head w % HPC, so the 128 M-rows of the CTA share every K/V tile it
// loads. The CTA walks the key pages its rows can see, one 64-token page per step, through a
// cp.async pipeline (4 stages for bf16 pages, 3 for quantized), one barrier per page. bf16 pages:
// S = Q K^T of page b + 1 is computed while page b's softmax and P V run, so that one warp's
// tensor-core and FP32 work overlap. int8/int4 pages travel as raw codes and (scale, zero) pairs
// and are dequantized to bf16 in shared memory once per page, into one of two tile pairs: each
// thread's share of page b + 1 is interleaved with its warp's MMAs of page b (no barrier between
// them, so the conversion fills the math's latency stalls instead of stopping the tensor cores).
// Streaming heads walk only the pages that meet the Λ mask (the sink pages, then the window's), so
// skipped pages are never loaded. Only tiles that some row sees partly are masked; softmax runs in
// the log2 domain (exp2, the scale folded into one FFMA).
//
// Work items (tile, head group, KV split) are numbered so that all dense (retrieval) heads' items
// come first, longest tiles first (the host orders the tiles), the cheap streaming items last.
// Each split takes an equal share of its CTA's pages and writes (o, m, l), unnormalized, as split
// `split` of `splits`; attn_merge merges the splits and adds each row's own key and value (a row
// here sees keys strictly before it).
#pragma once
#include "gemm.cuh"
#include "kv_layout.cuh"

#define PF_THREADS 256

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

// Shared-memory sizes: bf16 pages: 4 stages of (K, V) tiles of 64 x (D + 8) bf16; quantized pages:
// 3 stages of raw (K codes, V codes, K params, V params) plus two bf16 (K, V) tile pairs. Then the
// 128 query rows. Rows are padded by 16 bytes so that ldmatrix's 8 rows fall in distinct banks.
template <int BITS, int D>
struct PrefillSmem {
  static constexpr int LDS = D + 8;
  static constexpr int TILE = 64 * LDS * 2;                  // bytes of one bf16 K or V tile
  static constexpr int CODES = 64 * D * BITS / 8;            // bytes of one page's K or V codes
  static constexpr int RAW = BITS == 16 ? 2 * TILE : 2 * CODES + 2 * 64 * 4;
  static constexpr int STAGES = BITS == 16 ? 4 : 3;          // cp.async stages
  static constexpr int QBUF = BITS == 16 ? 0 : 4 * TILE;     // two dequantized tile pairs
  static constexpr int Q = 128 * LDS * 2;
  static constexpr int BYTES = STAGES * RAW + QBUF + Q;
};

// 8 bf16 values code * scale + zero of 8 int8 codes (w0, w1) or int4 codes (w0): a byte is
// turned into a float by the 2^23 trick (no integer-to-float conversion, which runs at a quarter
// of the FP32 rate).
template <int BITS>
__device__ __forceinline__ uint4 dequant8(uint32_t w0, uint32_t w1, float scale, float zero) {
  float f[8];
  if constexpr (BITS == 8) {
#pragma unroll
    for (int i = 0; i < 8; i++) {
      const uint32_t w = i < 4 ? w0 : w1;
      f[i] = __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7440 + (i & 3))) - 8388608.f;
    }
  } else {
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = __uint_as_float(0x4B000000u | ((w0 >> (4 * i)) & 0xf)) - 8388608.f;
  }
  uint4 u;
  u.x = pack_bf16(fmaf(f[0], scale, zero), fmaf(f[1], scale, zero));
  u.y = pack_bf16(fmaf(f[2], scale, zero), fmaf(f[3], scale, zero));
  u.z = pack_bf16(fmaf(f[4], scale, zero), fmaf(f[5], scale, zero));
  u.w = pack_bf16(fmaf(f[6], scale, zero), fmaf(f[7], scale, zero));
  return u;
}

// A prefill CTA's work item (tile, head group, KV split) and the pages its rows see. Items are
// numbered so that all dense (retrieval) heads' items come first, longest tiles first (the host
// orders the tiles), the cheap streaming items last. Page list entries: [0, nb) for a retrieval
// head; the sink pages then the window's for a streaming head; this split walks [b0, b1).
struct PrefillItem {
  int h, head0, row0, nrows, p0, split, pool_head, last, sink, window, sink_blocks, w0, b0, b1;
  bool retrieval;
  KvPool pool;
  const int* info;

  __device__ PrefillItem(int heads, int kv_heads, int kv_splits, const int* tiles, int ntiles, int hpc_log2,
                         const int* head_order, int dense_kv_heads, const int* slice_info, const int* head_slot,
                         const KvPool& ret, const KvPool& str, int sink_, int window_)
      : sink(sink_), window(window_) {
    const int hpc = 1 << hpc_log2, group = heads / kv_heads, gpk = group >> hpc_log2;
    int id = blockIdx.x, kind_heads = dense_kv_heads, order0 = 0;
    if (id >= dense_kv_heads * gpk * ntiles * kv_splits) {
      id -= dense_kv_heads * gpk * ntiles * kv_splits;
      kind_heads = kv_heads - dense_kv_heads;
      order0 = dense_kv_heads;
    }
    const int units = kind_heads * gpk, unit = id % units, tile = id / units / kv_splits;
    split = (id / units) % kv_splits;
    h = head_order[order0 + unit / gpk];
    head0 = h * group + (unit % gpk) * hpc;  // the CTA's first query head
    info = slice_info + tiles[3 * tile] * SLICE_STRIDE;
    row0 = tiles[3 * tile + 1];
    nrows = tiles[3 * tile + 2];
    p0 = info[SLICE_START] + row0 - info[SLICE_ROW];  // position of the tile's first row
    const int slot = head_slot[h];
    retrieval = slot >= 0;
    pool = retrieval ? ret : str;
    pool_head = retrieval ? slot : -1 - slot;
    last = p0 + nrows - 1;  // keys of the tile lie before `last`
    const int sink_end = min(sink, last);
    sink_blocks = (sink_end + PAGE_TOKENS - 1) / PAGE_TOKENS;
    w0 = max(sink_end, p0 - window);  // the earliest window key of the tile's first row
    const int nb = retrieval ? (last + PAGE_TOKENS - 1) / PAGE_TOKENS
                             : sink_blocks + (w0 < last ? (last - 1) / PAGE_TOKENS - w0 / PAGE_TOKENS + 1 : 0);
    const int per = (nb + kv_splits - 1) / kv_splits;
    b0 = min(nb, split * per);
    b1 = min(nb, b0 + per);
  }

  __device__ int logical(int b) const { return retrieval || b < sink_blocks ? b : w0 / PAGE_TOKENS + b - sink_blocks; }

  // The first KV vector of entry b's page in its pool.
  __device__ size_t vec0(int b, const int* page_tables, const int* rings, int sink_pages) const {
    const int l = logical(b);
    const int page = retrieval ? page_tables[info[SLICE_TABLE] + l]
                               : ring_page(rings, info[SLICE_RING], info[SLICE_RING_LEN], sink_pages, l);
    return kv_vector(page, pool.heads, pool_head, 0);
  }

  // Keys of entry b written so far (slots from here on may hold NaN: loads zero them).
  __device__ int valid(int b) const { return min(PAGE_TOKENS, last - logical(b) * PAGE_TOKENS); }

  // Empty states: of the splits this launch does not fill (split 0 writes them), and of an empty split.
  __device__ void empty_states(float* part_ml, int heads, int splits, int kv_splits, int hpc_log2) const {
    if (threadIdx.x >= 128) return;
    const int row = threadIdx.x & ((128 >> hpc_log2) - 1), hh = head0 + (threadIdx.x >> (7 - hpc_log2));
    if (row >= nrows) return;
    const size_t at = ((size_t)(row0 + row) * heads + hh) * splits;
    if (split == 0)
      for (int s = kv_splits; s < splits; s++) part_ml[2 * (at + s)] = -INFINITY;
    if (b0 >= b1) part_ml[2 * (at + split)] = -INFINITY;
  }

  // The CTA's 128 query rows into shared memory, rows of D + 8 bf16 (padded for ldmatrix): warp
  // w's 16 rows (head head0 + w % hpc) at rows w * 16; rows past nrows are zero, their results
  // dropped. All `threads` threads of the CTA take part.
  template <int D>
  __device__ void load_queries(bf16* sq, const bf16* q, int heads, int hpc_log2, int threads) const {
    for (int i = threadIdx.x; i < 128 * D / 8; i += threads) {
      const int r = i / (D / 8), c = (i % (D / 8)) * 8, w = r >> 4;
      const int row = (w >> hpc_log2) * 16 + (r & 15), hh = head0 + (w & ((1 << hpc_log2) - 1));
      uint4 u = make_uint4(0, 0, 0, 0);
      if (row < nrows) u = *reinterpret_cast<const uint4*>(q + ((size_t)(row0 + row) * heads + hh) * D + c);
      *reinterpret_cast<uint4*>(sq + r * (D + 8) + c) = u;
    }
  }

  // Masks the scores of entry b (first key kbase) that a warp's rows [qlo, qlo + 16) do not see,
  // if some row sees the page only partly (the diagonal, the window's edges). s is the thread's
  // 8 x 4 accumulator (mma.sync and wgmma alike): s[4 n + e] holds row qlo + lane / 4 + 8 (e / 2),
  // key kbase + 8 n + 2 (lane % 4) + e % 2. A sink page counts only its sink keys and a window page
  // only keys past the sink, so that a page holding both (sink not a multiple of 64, window
  // reaching back to it) counts each key once.
  __device__ __forceinline__ void mask(float* s, int b, int kbase, int qlo, int lane) const {
    const int qhi = qlo + 15, qpos[2] = {qlo + (lane >> 2), qlo + (lane >> 2) + 8};
    const bool sink_page = !retrieval && b < sink_blocks;
    const bool whole = kbase + PAGE_TOKENS <= qlo &&
                       (retrieval || (sink_page ? kbase + PAGE_TOKENS <= sink : kbase >= sink && kbase >= qhi - window));
    if (whole) return;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = kbase + n * 8 + (lane & 3) * 2 + (e & 1), r = e >> 1;
        const bool visible = key < qpos[r] && (retrieval || (sink_page ? key < sink
                                                                       : key >= sink && key >= qpos[r] - window));
        if (!visible) s[4 * n + e] = -INFINITY;
      }
  }
};

template <int BITS, int D>
__device__ void attn_prefill(float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits,
                             int kv_splits, const int* tiles, int ntiles, int hpc_log2, const int* head_order,
                             int dense_kv_heads, const int* slice_info, const int* page_tables, const int* rings,
                             int sink_pages, const int* head_slot, KvPool ret, KvPool str, int sink,
                             int prefill_window, float scale) {
  using S = PrefillSmem<BITS, D>;
  constexpr int LDS = S::LDS;
  extern __shared__ __align__(16) unsigned char prefill_smem[];
  unsigned char* raw = prefill_smem;
  bf16* qbuf = reinterpret_cast<bf16*>(prefill_smem + S::STAGES * S::RAW);
  bf16* sq = reinterpret_cast<bf16*>(prefill_smem + S::STAGES * S::RAW + S::QBUF);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  const PrefillItem it(heads, kv_heads, kv_splits, tiles, ntiles, hpc_log2, head_order, dense_kv_heads, slice_info,
                      head_slot, ret, str, sink, prefill_window);
  const int hpc = 1 << hpc_log2, b0 = it.b0, b1 = it.b1, row0 = it.row0, nrows = it.nrows, split = it.split;
  const KvPool pool = it.pool;
  // Warp w: head head0 + w % hpc, tile rows [r0, r0 + 16).
  const int head = it.head0 + (warp & (hpc - 1)), r0 = (warp >> hpc_log2) * 16;
  it.empty_states(part_ml, heads, splits, kv_splits, hpc_log2);
  if (b0 >= b1) return;

  // Issues the copies of page list entry b into stage st (bf16: keys past `last` zero-filled, as
  // never-written slots may hold NaN and 0 * NaN would reach P V; quantized: raw, zeroed later).
  auto load = [&](int b, int st) {
    const size_t vec0 = it.vec0(b, page_tables, rings, sink_pages);
    unsigned char* dst = raw + st * S::RAW;
    if constexpr (BITS == 16) {
      const int valid = it.valid(b);
      const bf16* ks = static_cast<const bf16*>(pool.keys) + vec0 * D;
      const bf16* vs = static_cast<const bf16*>(pool.values) + vec0 * D;
      bf16* kd = reinterpret_cast<bf16*>(dst);
      bf16* vd = kd + 64 * LDS;
#pragma unroll
      for (int k = 0; k < 64 * D / 8 / PF_THREADS; k++) {
        const int i = threadIdx.x + k * PF_THREADS;
        const int t = i / (D / 8), c = (i % (D / 8)) * 8, n = t < valid ? 16 : 0;
        cp_async16(kd + t * LDS + c, ks + (t < valid ? t * D + c : 0), n);
        cp_async16(vd + t * LDS + c, vs + (t < valid ? t * D + c : 0), n);
      }
    } else {
      const unsigned char* kc = static_cast<const unsigned char*>(pool.keys) + vec0 * D * BITS / 8;
      const unsigned char* vc = static_cast<const unsigned char*>(pool.values) + vec0 * D * BITS / 8;
#pragma unroll
      for (int k = 0; k < (S::CODES / 16 + PF_THREADS - 1) / PF_THREADS; k++) {
        const int i = threadIdx.x + k * PF_THREADS;
        if (S::CODES / 16 % PF_THREADS == 0 || i < S::CODES / 16) {
          cp_async16(dst + 16 * i, kc + 16 * i, 16);
          cp_async16(dst + S::CODES + 16 * i, vc + 16 * i, 16);
        }
      }
      if (threadIdx.x < 32) {
        const int i = threadIdx.x & 15;
        const __half* src = (threadIdx.x < 16 ? pool.key_params : pool.value_params) + 2 * vec0;
        cp_async16(dst + 2 * S::CODES + (threadIdx.x >> 4) * 256 + 16 * i, src + 8 * i, 16);
      }
    }
  };

  // Dequantizes this thread's chunk k (of D / 16) of the raw page at src into the tile pair at dst:
  // 8 channels of one K or V vector; slots from `valid` on become zeros (never-written slots may
  // hold NaN). Branch-free, so that it can sit between the MMAs of one basic block.
  auto dequant = [&](int k, const unsigned char* src, bf16* dst, int valid) {
    const int j = threadIdx.x + k * PF_THREADS;
    const int kv = j / (64 * D / 8), t = (j / (D / 8)) % 64, c = (j % (D / 8)) * 8;
    const float2 sz = __half22float2(reinterpret_cast<const __half2*>(src + 2 * S::CODES)[kv * 64 + t]);
    const unsigned char* codes = src + kv * S::CODES + (t * D + c) * BITS / 8;
    uint4 u;
    if constexpr (BITS == 8) {
      const uint2 w = *reinterpret_cast<const uint2*>(codes);
      u = dequant8<8>(w.x, w.y, sz.x, sz.y);
    } else {
      u = dequant8<4>(*reinterpret_cast<const uint32_t*>(codes), 0, sz.x, sz.y);
    }
    if (t >= valid) u = make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(dst + (kv * 64 + t) * LDS + c) = u;
  };
  constexpr int CHUNKS = 2 * 64 * D / 8 / PF_THREADS;  // = D / 16, one per QK^T k-step
  static_assert(BITS == 16 || CHUNKS == D / 16, "a dequantized chunk per k-step of S = Q K^T");

  it.load_queries<D>(sq, q, heads, hpc_log2, PF_THREADS);
  // The pipeline, in step i (page b = b0 + i), page b + AHEAD loaded. bf16 pages: S = Q K^T of
  // page b + 1 is computed while page b's softmax and P V run, independent work in one basic
  // block, so that the scheduler interleaves the warp's tensor-core and FP32 chains (the warp no
  // longer skips a page past its rows: masked whole, it adds nothing). Quantized pages: raw page
  // b + 1 is dequantized in step i, its chunks interleaved with the MMAs of S(b), into the other
  // tile pair. (The bf16 scheme measured slower on int8 pages: it needs a third tile pair and Q
  // re-read from shared memory to fit in registers.)
  constexpr int AHEAD = BITS == 16 ? S::STAGES - 1 : S::STAGES;
  auto tile_of = [&](int i) { return reinterpret_cast<const bf16*>(raw + (i % S::STAGES) * S::RAW); };
#pragma unroll
  for (int s = 0; s < AHEAD; s++) {
    if (b0 + s < b1) load(b0 + s, s);
    cp_async_commit();
  }
  cp_async_wait<AHEAD - 1>();  // page b0 has landed
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) ldmatrix_x4(qf[kk], sq + (warp * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
  // S = Q K^T of the tile pair at sk; quantized pages: dequantizes chunk kk of raw page src into
  // dst after k-step kk.
  auto qk = [&](float (&s)[8][4], const bf16* sk, const unsigned char* src, bf16* dst, int valid) {
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[n][j] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
      for (int nj = 0; nj < 4; nj++) {
        uint32_t kf[4];
        ldmatrix_x4(kf, sk + (nj * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(s[2 * nj], qf[kk], kf[0], kf[1]);
        mma_bf16(s[2 * nj + 1], qf[kk], kf[2], kf[3]);
        if constexpr (BITS != 16)
          if (nj == 3) dequant(kk, src, dst, valid);
      }
    }
  };
  float s[8][4];
  if constexpr (BITS == 16) {
    qk(s, tile_of(0), nullptr, nullptr, 0);
  } else {
    const int valid = it.valid(b0);
#pragma unroll
    for (int k = 0; k < CHUNKS; k++) dequant(k, raw, qbuf, valid);
  }

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) o[i][j] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // m: running max of scaled scores, log2 units
  const float sl2 = scale * 1.4426950408889634f;
  const int qlo = it.p0 + r0, qhi = qlo + 15;  // the warp's rows' positions
  for (int b = b0; b < b1; b++) {
    const int i = b - b0;
    cp_async_wait<AHEAD - 2>();
    // bf16: page b + 1 has landed for all threads; the stage of page b - 1 is free to refill.
    // Quantized: page b + 1 has landed, page b's tile pair is complete, and the tile pair and raw
    // stage of page b - 1 are free.
    __syncthreads();
    if constexpr (BITS == 16) {
      if (b + AHEAD < b1) load(b + AHEAD, (i + AHEAD) % S::STAGES);
    } else {
      if (b + AHEAD < b1) load(b + AHEAD, i % S::STAGES);
    }
    cp_async_commit();
    const int kbase = it.logical(b) * PAGE_TOKENS;
    const bf16* sv;
    float sn[8][4];
    if constexpr (BITS == 16) {
      it.mask(&s[0][0], b, kbase, qlo, lane);
      // S of page b + 1 (after the last page: of a stale tile, never used).
      qk(sn, tile_of(i + 1), nullptr, nullptr, 0);
      sv = tile_of(i) + 64 * LDS;
    } else {
      const bf16* sk = qbuf + (i & 1) * 128 * LDS;
      sv = sk + 64 * LDS;
      // Page b + 1 (after the last page: whatever its stage holds, into a tile pair nobody reads).
      const unsigned char* next_raw = raw + ((i + 1) % S::STAGES) * S::RAW;
      bf16* next_tile = qbuf + ((i + 1) & 1) * 128 * LDS;
      const int next_valid = it.valid(b + 1);
      // The warp skips a page none of its rows sees (only at the diagonal: pages walked are seen
      // by the tile's last row).
      if (kbase >= qhi) {
#pragma unroll
        for (int k = 0; k < CHUNKS; k++) dequant(k, next_raw, next_tile, next_valid);
        continue;
      }
      qk(s, sk, next_raw, next_tile, next_valid);
      it.mask(&s[0][0], b, kbase, qlo, lane);
    }
    // Online softmax; the thread holds rows qlo + lane / 4 (c0, c1) and qlo + lane / 4 + 8 (c2, c3).
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < 8; n++) {
      mx[0] = fmaxf(mx[0], fmaxf(s[n][0], s[n][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[n][2], s[n][3]));
    }
    float alpha[2], msub[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float mnew = fmaxf(m[r], mx[r] * sl2);
      alpha[r] = mnew == -INFINITY ? 1.f : exp2f(m[r] - mnew);
      msub[r] = mnew == -INFINITY ? 0.f : mnew;
      m[r] = mnew;
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const float p = exp2f(fmaf(s[n][e], sl2, -msub[e >> 1]));
        s[n][e] = p;
        l[e >> 1] += p;
      }
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
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
    if constexpr (BITS == 16) {
#pragma unroll
      for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) s[n][e] = sn[n][e];
    }
  }
  cp_async_wait<0>();

  // Rows' sums over the quad; write (o, m, l) as split `split`, m in natural-log units.
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int row = r0 + (lane >> 2) + 8 * r;
    if (row >= nrows) continue;
    const size_t at = ((size_t)(row0 + row) * heads + head) * splits + split;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *reinterpret_cast<float2*>(part_o + at * D + n * 8 + (lane & 3) * 2) = make_float2(o[n][2 * r], o[n][2 * r + 1]);
    if ((lane & 3) == 0) {
      part_ml[2 * at] = m[r] * 0.6931471805599453f;
      part_ml[2 * at + 1] = l[r];
    }
  }
}

#define PREFILL_ENTRY(BITS, D)                                                                                      \
  extern "C" __global__ void __launch_bounds__(PF_THREADS, 1) attn_prefill_b##BITS##_d##D(                        \
      float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits, int kv_splits,             \
      const int* tiles, int ntiles, int hpc_log2, const int* head_order, int dense_kv_heads, const int* slice_info, \
      const int* page_tables, const int* rings, int sink_pages, const int* head_slot, void* rk, void* rv,           \
      __half* rkp, __half* rvp, int r_heads, void* sk, void* sv, __half* skp, __half* svp, int s_heads, int sink,   \
      int prefill_window, float scale) {                                                                            \
    attn_prefill<BITS, D>(part_o, part_ml, q, heads, kv_heads, splits, kv_splits, tiles, ntiles, hpc_log2,          \
                          head_order, dense_kv_heads, slice_info, page_tables, rings, sink_pages, head_slot,        \
                          KvPool{rk, rv, rkp, rvp, r_heads}, KvPool{sk, sv, skp, svp, s_heads}, sink,               \
                          prefill_window, scale);                                                                   \
  }
PREFILL_ENTRY(16, 64)
PREFILL_ENTRY(16, 128)
PREFILL_ENTRY(8, 64)
PREFILL_ENTRY(8, 128)
PREFILL_ENTRY(4, 64)
PREFILL_ENTRY(4, 128)
