// Attention of activation rows (all, or those of row_list) over the paged KV cache, on CUDA
// cores: one block per (row,
// KV head, member group, KV split) holds the GQA group's queries, each warp walks whole key
// pages (a lane per token for q.k, a lane per channel for p.v) with an online softmax, and the
// block's warps merge; attn_merge then merges the splits and adds the row's own key and value
// (unquantized, as the CPU reference does). Used for decode rows, and for prefill rows of head
// dimensions the tensor-core prefill kernel (attention_prefill.cuh) does not take.
//
// The keys a row at position pos sees, as key pages b = 0 .. nb-1 of (page, [lo, hi)):
//   retrieval head, all pages:      logical page b, tokens [64b, min(64b + 64, pos))
//   retrieval head, selected pages: when the slice's selection entry sel[4s] >= 0 (page_select.cuh),
//     its selector row's ranked pages in the store, then the pages from the newest at selection to
//     the row's own, read live (ascending logical pages), clipped to pos
//   streaming head (Λ mask):        the sink [0, min(sink, pos)), then [max(sink_end, pos - window), pos)
#pragma once
#include "kv_layout.cuh"

#define ATTN_WARPS 4
#define ATTN_MAX_GROUP 8

// Channels [c, c + CPL) of a stored vector (zeros past d): a lane's share of a value row, so a
// warp reads the row in one coalesced pass.
template <int BITS, int CPL>
__device__ __forceinline__ void load_channels(const void* codes, const __half* params, size_t vec, int d, int c,
                                              float* out) {
  if (c >= d) {
#pragma unroll
    for (int i = 0; i < CPL; i++) out[i] = 0.f;
    return;
  }
  if constexpr (BITS == 8 && CPL >= 4) {  // one 4-byte load per 4 channels, one (scale, zero)
    const __half2 sz = *reinterpret_cast<const __half2*>(params + 2 * vec);
    const float scale = __low2float(sz), zero = __high2float(sz);
    const uint8_t* p = static_cast<const uint8_t*>(codes) + vec * d + c;
#pragma unroll
    for (int i = 0; i < CPL; i += 4) {
      const uint32_t w = *reinterpret_cast<const uint32_t*>(p + i);
#pragma unroll
      for (int j = 0; j < 4; j++) out[i + j] = fmaf((float)((w >> (8 * j)) & 0xff), scale, zero);
    }
  } else if constexpr (BITS == 16 && CPL >= 4) {
    const bf16* p = static_cast<const bf16*>(codes) + vec * d + c;
#pragma unroll
    for (int i = 0; i < CPL; i += 4) {
      const uint2 u = *reinterpret_cast<const uint2*>(p + i);
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
      const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
      out[i] = a.x;
      out[i + 1] = a.y;
      out[i + 2] = b.x;
      out[i + 3] = b.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < CPL; i++) out[i] = load1<BITS>(codes, params, vec, d, c + i);
  }
}

struct KeyPages {
  int nb, pos, table_off, ring_off, ring_len, sink_pages, sink_end, w0, ranked, newest_sel;
  bool retrieval;
  const int* list;  // ranked logical pages of a selection, or null
  const int* page_tables;
  const int* rings;

  __device__ __forceinline__ void block(int b, int& page, int& lo, int& hi) const {
    int logical;
    if (retrieval) {
      logical = !list ? b : b < ranked ? list[b] : newest_sel + b - ranked;
      lo = logical * PAGE_TOKENS;
      hi = min(lo + PAGE_TOKENS, pos);
      page = page_tables[table_off + logical];
      return;
    }
    const int sink_blocks = (sink_end + PAGE_TOKENS - 1) / PAGE_TOKENS;
    if (b < sink_blocks) {
      logical = b;
      lo = b * PAGE_TOKENS;
      hi = min(lo + PAGE_TOKENS, sink_end);
    } else {
      logical = w0 / PAGE_TOKENS + b - sink_blocks;
      lo = max(logical * PAGE_TOKENS, w0);
      hi = min(logical * PAGE_TOKENS + PAGE_TOKENS, pos);
    }
    page = ring_page(rings, ring_off, ring_len, sink_pages, logical);
  }
};

template <int BITS, int CPL>
__device__ void attn_paged(float* part_o, float* part_ml, const int* row_list, const bf16* q, int heads, int kv_heads, int d, int splits,
                           int group_split, const int* row_slice, const int* slice_info, const int* page_tables,
                           const int* rings, int sink_pages, const int* head_slot, KvPool ret, KvPool str,
                           const int* sel, const int* sel_store, int slot_stride, int max_ranked, int per_query,
                           int sink, int local, int prefill_window, float scale) {
  __shared__ float qs[ATTN_MAX_GROUP][32 * CPL];
  __shared__ float wo[ATTN_WARPS][ATTN_MAX_GROUP][32 * CPL];
  __shared__ float wml[ATTN_WARPS][ATTN_MAX_GROUP][2];
  const int row = row_list ? row_list[blockIdx.x] : blockIdx.x, h = blockIdx.y / group_split, split = blockIdx.z;
  const int group = heads / kv_heads, members = group / group_split, g0 = (blockIdx.y % group_split) * members;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int* info = slice_info + row_slice[row] * SLICE_STRIDE;
  const int pos = info[SLICE_START] + row - info[SLICE_ROW];

  for (int i = threadIdx.x; i < members * d; i += blockDim.x)
    qs[i / d][i % d] = __bfloat162float(q[((size_t)row * heads + h * group + g0 + i / d) * d + i % d]);

  KeyPages kp;
  kp.pos = pos;
  kp.page_tables = page_tables;
  kp.rings = rings;
  kp.list = nullptr;
  const int slot = head_slot[h];
  kp.retrieval = slot >= 0;
  const KvPool pool = kp.retrieval ? ret : str;
  const int pool_head = kp.retrieval ? slot : -1 - slot;
  if (kp.retrieval) {
    kp.table_off = info[SLICE_TABLE];
    const int* entry = sel ? sel + 4 * row_slice[row] : nullptr;
    if (entry && entry[0] >= 0) {
      const int r = per_query ? slot * group + g0 : slot;
      kp.list = sel_store + (size_t)entry[0] * slot_stride + (size_t)r * max_ranked;
      kp.ranked = entry[2];
      kp.newest_sel = entry[3];
      kp.nb = kp.ranked + pos / PAGE_TOKENS - kp.newest_sel + 1;
    } else {
      kp.nb = (pos + PAGE_TOKENS - 1) / PAGE_TOKENS;
    }
  } else {
    kp.ring_off = info[SLICE_RING];
    kp.ring_len = info[SLICE_RING_LEN];
    kp.sink_pages = sink_pages;
    const int window = info[SLICE_DECODE] ? local : prefill_window;
    kp.sink_end = min(sink, pos);
    kp.w0 = max(kp.sink_end, pos - window);
    const int sink_blocks = (kp.sink_end + PAGE_TOKENS - 1) / PAGE_TOKENS;
    kp.nb = sink_blocks + (kp.w0 < pos ? (pos - 1) / PAGE_TOKENS - kp.w0 / PAGE_TOKENS + 1 : 0);
  }
  const int per = (kp.nb + splits - 1) / splits;
  const int b0 = split * per, b1 = min(kp.nb, b0 + per);
  __syncthreads();

  float m[ATTN_MAX_GROUP], l[ATTN_MAX_GROUP], o[ATTN_MAX_GROUP][CPL];
#pragma unroll
  for (int g = 0; g < ATTN_MAX_GROUP; g++) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < CPL; i++) o[g][i] = 0.f;
  }

  for (int b = b0 + warp; b < b1; b += ATTN_WARPS) {
    int page, lo, hi;
    kp.block(b, page, lo, hi);
    for (int base = lo; base < hi; base += 32) {
      const int j = base + lane;
      const bool valid = j < hi;
      float s[ATTN_MAX_GROUP];
#pragma unroll
      for (int g = 0; g < ATTN_MAX_GROUP; g++) s[g] = 0.f;
      if (valid) {
        const size_t vec = kv_vector(page, pool.heads, pool_head, j % PAGE_TOKENS);
        // Unrolled to the head dim's bound so that the whole key row's loads are in flight at once.
#pragma unroll
        for (int c = 0; c < 32 * CPL; c += 8) {
          if (c < d) {
            float kf[8];
            load8<BITS>(pool.keys, pool.key_params, vec, d, c, kf);
#pragma unroll
            for (int g = 0; g < ATTN_MAX_GROUP; g++)
              if (g < members)
#pragma unroll
                for (int i = 0; i < 8; i++) s[g] = fmaf(qs[g][c + i], kf[i], s[g]);
          }
        }
      }
      float p[ATTN_MAX_GROUP];
#pragma unroll
      for (int g = 0; g < ATTN_MAX_GROUP; g++) {
        if (g >= members) continue;
        const float sg = valid ? s[g] * scale : -INFINITY;
        const float mn = fmaxf(m[g], warp_max(sg));  // lane 0's token is valid: finite
        const float alpha = expf(m[g] - mn);
        p[g] = valid ? expf(sg - mn) : 0.f;
        l[g] = l[g] * alpha + warp_sum(p[g]);
        m[g] = mn;
#pragma unroll
        for (int i = 0; i < CPL; i++) o[g][i] *= alpha;
      }
      const int n = min(32, hi - base);
      // Unrolled by 8 (n is the same on every lane): eight value rows' loads in flight at once.
#pragma unroll 8
      for (int t = 0; t < 32; t++) {
        if (t < n) {
          const size_t vec = kv_vector(page, pool.heads, pool_head, (base + t) % PAGE_TOKENS);
          float vv[CPL];
          load_channels<BITS, CPL>(pool.values, pool.value_params, vec, d, lane * CPL, vv);
#pragma unroll
          for (int g = 0; g < ATTN_MAX_GROUP; g++) {
            if (g >= members) continue;
            const float pt = __shfl_sync(0xffffffffu, p[g], t);
#pragma unroll
            for (int i = 0; i < CPL; i++) o[g][i] = fmaf(pt, vv[i], o[g][i]);
          }
        }
      }
    }
  }

  // Merge the warps' states, then write this split's (o, m, l) per query head.
#pragma unroll
  for (int g = 0; g < ATTN_MAX_GROUP; g++) {
    if (g >= members) continue;
#pragma unroll
    for (int i = 0; i < CPL; i++) wo[warp][g][lane * CPL + i] = o[g][i];
    if (lane == 0) {
      wml[warp][g][0] = m[g];
      wml[warp][g][1] = l[g];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < members * d; i += blockDim.x) {
    const int g = i / d, c = i % d;
    float mx = -INFINITY;
    for (int w = 0; w < ATTN_WARPS; w++) mx = fmaxf(mx, wml[w][g][0]);
    float sum_l = 0.f, sum_o = 0.f;
    if (mx != -INFINITY) {
      for (int w = 0; w < ATTN_WARPS; w++) {
        const float f = expf(wml[w][g][0] - mx);
        sum_l += wml[w][g][1] * f;
        sum_o += wo[w][g][c] * f;
      }
    }
    const size_t at = ((size_t)row * heads + h * group + g0 + g) * splits + split;
    part_o[at * d + c] = sum_o;
    if (c == 0) {
      part_ml[2 * at] = mx;
      part_ml[2 * at + 1] = sum_l;
    }
  }
}

#define ATTN_ENTRY(BITS, CPL)                                                                                      \
  extern "C" __global__ void __launch_bounds__(128) attn_paged_b##BITS##_c##CPL(                                   \
      float* part_o, float* part_ml, const int* row_list, const bf16* q, int heads, int kv_heads, int d, int splits,  \
      int group_split,                                                                                             \
      const int* row_slice, const int* slice_info, const int* page_tables, const int* rings, int sink_pages,        \
      const int* head_slot, void* rk, void* rv, __half* rkp, __half* rvp, int r_heads, void* sk, void* sv,          \
      __half* skp, __half* svp, int s_heads, const int* sel, const int* sel_store, int slot_stride, int max_ranked,  \
      int per_query, int sink, int local, int prefill_window, float scale) {                                       \
    attn_paged<BITS, CPL>(part_o, part_ml, row_list, q, heads, kv_heads, d, splits, group_split, row_slice, slice_info,       \
                          page_tables, rings, sink_pages, head_slot, KvPool{rk, rv, rkp, rvp, r_heads},             \
                          KvPool{sk, sv, skp, svp, s_heads}, sel, sel_store, slot_stride, max_ranked, per_query, sink, \
                          local,                                                                            \
                          prefill_window, scale);                                                                   \
  }
#define ATTN_ENTRIES(BITS) ATTN_ENTRY(BITS, 1) ATTN_ENTRY(BITS, 2) ATTN_ENTRY(BITS, 4) ATTN_ENTRY(BITS, 8)
ATTN_ENTRIES(16)
ATTN_ENTRIES(8)
ATTN_ENTRIES(4)

// out[row, head] = softmax-weighted sum over the splits' states and the row's own key and value:
// one block per (row, query head), blockDim a multiple of 32 and >= d.
extern "C" __global__ void attn_merge(bf16* __restrict__ out, const float* __restrict__ part_o,
                                      const float* __restrict__ part_ml, const bf16* __restrict__ q,
                                      const bf16* __restrict__ k, const bf16* __restrict__ v, int heads, int kv_heads,
                                      int d, int splits, float scale) {
  const int row = blockIdx.x, head = blockIdx.y, c = threadIdx.x;
  const int kvh = head / (heads / kv_heads);
  const size_t qo = ((size_t)row * heads + head) * d, ko = ((size_t)row * kv_heads + kvh) * d;
  const float prod = c < d ? __bfloat162float(q[qo + c]) * __bfloat162float(k[ko + c]) : 0.f;
  const float self = block_sum(prod) * scale;
  const size_t at = ((size_t)row * heads + head) * splits;
  float mx = self;
  for (int s = 0; s < splits; s++) mx = fmaxf(mx, part_ml[2 * (at + s)]);
  if (c >= d) return;
  const float fs = expf(self - mx);
  float sum_l = fs, sum_o = fs * __bfloat162float(v[ko + c]);
  for (int s = 0; s < splits; s++) {
    if (part_ml[2 * (at + s)] == -INFINITY) continue;  // an empty split (its o may be unwritten)
    const float f = expf(part_ml[2 * (at + s)] - mx);
    sum_l += part_ml[2 * (at + s) + 1] * f;
    sum_o += part_o[(at + s) * d + c] * f;
  }
  out[qo + c] = __float2bfloat16(sum_o / sum_l);
}
