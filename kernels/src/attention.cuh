// Attention of activation rows (all, or those of row_list) over the paged KV cache, on CUDA
// cores: one block per (row,
// KV head, member group, KV split) holds the GQA group's queries, each warp walks units of 32
// keys (a lane per key for q.k, a lane per channel for p.v) with an online softmax, and the
// block's warps merge; attn_merge then merges the splits and adds the row's own key and value
// (unquantized, as the CPU reference does), or, given `done` counters, the last split of each
// (row, head group) to finish does that merge itself. Used for decode rows, and for prefill rows of head
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
#define KEY_BATCH (CPL < 4 ? 4 * CPL : 16)  // 8-channel key chunks loaded together (a whole row up to d 128)
#define VALUE_BATCH 16                      // value rows loaded together

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

// One query head's output: its `splits` partial results (o, m, l) from `at` on, merged with its
// own key's score `self` and value vs, written to out_row[0..d). One warp: a lane per 4 channels,
// 16 splits' partials loaded before any is used (d % 4 == 0).
__device__ __forceinline__ void merge_head(bf16* out_row, const float* part_o, const float* part_ml, size_t at,
                                           int splits, int d, float self, const bf16* vs) {
  const int lane = threadIdx.x & 31;
  float mx = self;
  for (int s2 = lane; s2 < splits; s2 += 32) mx = fmaxf(mx, __ldcg(part_ml + 2 * (at + s2)));
  mx = warp_max(mx);
  const float fs = expf(self - mx);
#pragma unroll 1
  for (int c = 4 * lane; c < d; c += 128) {
    float sum_l = fs, acc[4];
#pragma unroll
    for (int i = 0; i < 4; i++) acc[i] = fs * __bfloat162float(vs[c + i]);
#pragma unroll 1
    for (int s0 = 0; s0 < splits; s0 += 16) {
      float4 ov[16];
      float2 ml[16];
#pragma unroll
      for (int u = 0; u < 16; u++) {
        const int s2 = min(s0 + u, splits - 1);
        ov[u] = __ldcg(reinterpret_cast<const float4*>(part_o + (at + s2) * d + c));
        ml[u] = __ldcg(reinterpret_cast<const float2*>(part_ml + 2 * (at + s2)));
      }
#pragma unroll
      for (int u = 0; u < 16; u++) {
        if (s0 + u >= splits) break;
        if (ml[u].x == -INFINITY) continue;  // an empty split (its o may be unwritten)
        const float f = expf(ml[u].x - mx);
        sum_l += ml[u].y * f;
        acc[0] += ov[u].x * f, acc[1] += ov[u].y * f, acc[2] += ov[u].z * f, acc[3] += ov[u].w * f;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) out_row[c + i] = __float2bfloat16(acc[i] / sum_l);
  }
}

template <int BITS, int CPL, int MG>
__device__ void attn_paged(float* part_o, float* part_ml, const int* row_list, const bf16* q, int heads, int kv_heads, int d, int splits,
                           int group_split, const int* row_slice, const int* slice_info, const int* page_tables,
                           const int* rings, int sink_pages, const int* head_slot, KvPool ret, KvPool str,
                           const int* sel, const int* sel_store, int slot_stride, int max_ranked, int per_query,
                           int sink, int local, int prefill_window, float scale, bf16* out, const bf16* k_self,
                           const bf16* v_self, int* done) {
  __shared__ float qs[MG][32 * CPL];
  __shared__ float wo[ATTN_WARPS][MG][32 * CPL];
  __shared__ float wml[ATTN_WARPS][MG][2];
  const int row = row_list ? row_list[blockIdx.x] : blockIdx.x, h = blockIdx.y / group_split, split = blockIdx.z;
  const int group = heads / kv_heads, members = group / group_split, g0 = (blockIdx.y % group_split) * members;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int* info = slice_info + row_slice[row] * SLICE_STRIDE;
  const int pos = info[SLICE_START] + row - info[SLICE_ROW];

  {  // the group's queries into shared memory, every thread's loads issued before the stores
    constexpr int PER = (MG * 32 * CPL + 127) / 128;
    const int total = members * d;
    const bf16* qg = q + ((size_t)row * heads + h * group + g0) * d;
    bf16 qv[PER];
#pragma unroll
    for (int u = 0; u < PER; u++) qv[u] = qg[min((int)threadIdx.x + 128 * u, total - 1)];
#pragma unroll
    for (int u = 0; u < PER; u++) {
      const int i = threadIdx.x + 128 * u;
      if (i < total) qs[i / d][i % d] = __bfloat162float(qv[u]);
    }
  }

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
  // Work units of 32 keys: unit 2b + i is keys [lo + 32i, hi) of key page b (a lane per key).
  const int units = 2 * kp.nb, per = (units + splits - 1) / splits;
  const int u0 = split * per, u1 = min(units, u0 + per);
  __syncthreads();

  float m[MG], l[MG], o[MG][CPL];
#pragma unroll
  for (int g = 0; g < MG; g++) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < CPL; i++) o[g][i] = 0.f;
  }

  // Not unrolled: the body is large, and copies of it cost more in instruction fetch than they save.
#pragma unroll 1
  for (int unit = u0 + warp; unit < u1; unit += ATTN_WARPS) {
    int page, lo, hi;
    kp.block(unit >> 1, page, lo, hi);
    const int base = lo + 32 * (unit & 1);
    if (base < hi) {
      const bool valid = base + lane < hi;
      // q.k, a lane per token: the key row's codes first (an invalid lane reloads the first token).
      const size_t kvec = kv_vector(page, pool.heads, pool_head, (valid ? base + lane : base) % PAGE_TOKENS);
      const float2 ksz = vector_params<BITS>(pool.key_params, kvec);
      float s[MG];
#pragma unroll
      for (int g = 0; g < MG; g++) s[g] = 0.f;
#pragma unroll
      for (int c0 = 0; c0 < 32 * CPL; c0 += KEY_BATCH * 8) {
        RawCodes<BITS, 8> kr[KEY_BATCH];
#pragma unroll
        for (int u = 0; u < KEY_BATCH; u++) kr[u] = load_codes<BITS, 8>(pool.keys, kvec, d, min(c0 + 8 * u, d - 8));
#pragma unroll
        for (int u = 0; u < KEY_BATCH; u++) {
          const int c = c0 + 8 * u;
          if (c >= d) break;
          float kf[8];
#pragma unroll
          for (int i = 0; i < 8; i++) kf[i] = code_value<BITS, 8>(kr[u], i, c, ksz.x, ksz.y);
#pragma unroll
          for (int g = 0; g < MG; g++)
            if (g < members)
#pragma unroll
              for (int i = 0; i < 8; i++) s[g] = fmaf(qs[g][c + i], kf[i], s[g]);
        }
      }
      float p[MG];
#pragma unroll
      for (int g = 0; g < MG; g++) {
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
      // p.v, a lane per CPL channels: a batch of value rows' codes first, then their sums.
      const int n = min(32, hi - base), c = min(lane * CPL, d - CPL);
#pragma unroll 1
      for (int t0 = 0; t0 < 32; t0 += VALUE_BATCH) {
        if (t0 >= n) break;
        RawCodes<BITS, CPL> vr[VALUE_BATCH];
        float2 vsz[VALUE_BATCH];
#pragma unroll
        for (int u = 0; u < VALUE_BATCH; u++) {
          const size_t vec = kv_vector(page, pool.heads, pool_head, (base + min(t0 + u, n - 1)) % PAGE_TOKENS);
          vr[u] = load_codes<BITS, CPL>(pool.values, vec, d, c);
          vsz[u] = vector_params<BITS>(pool.value_params, vec);
        }
#pragma unroll
        for (int u = 0; u < VALUE_BATCH; u++) {
          if (t0 + u >= n) break;
          float vv[CPL];
#pragma unroll
          for (int i = 0; i < CPL; i++) vv[i] = lane * CPL < d ? code_value<BITS, CPL>(vr[u], i, c, vsz[u].x, vsz[u].y) : 0.f;
#pragma unroll
          for (int g = 0; g < MG; g++) {
            if (g >= members) continue;
            const float pt = __shfl_sync(0xffffffffu, p[g], t0 + u);
#pragma unroll
            for (int i = 0; i < CPL; i++) o[g][i] = fmaf(pt, vv[i], o[g][i]);
          }
        }
      }
    }
  }

  // Merge the warps' states, then write this split's (o, m, l) per query head.
#pragma unroll
  for (int g = 0; g < MG; g++) {
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
  if (!done) return;
  // The last split of this (row, head group) to finish merges them all (attn_merge's work without
  // its launch): counters count finished splits and are left at 0 for the next step.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = done + (size_t)blockIdx.x * gridDim.y + blockIdx.y;
    last = atomicAdd(counter, 1) == splits - 1;
    if (last) *counter = 0;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int g = warp; g < members; g += ATTN_WARPS) {
    const int head = h * group + g0 + g;
    const bf16* ks = k_self + ((size_t)row * kv_heads + h) * d;
    float self = 0.f;
    for (int c = lane; c < d; c += 32) self = fmaf(qs[g][c], __bfloat162float(ks[c]), self);
    merge_head(out + ((size_t)row * heads + head) * d, part_o, part_ml, ((size_t)row * heads + head) * splits, splits,
               d, warp_sum(self) * scale, v_self + ((size_t)row * kv_heads + h) * d);
  }
}

#define ATTN_ENTRY(BITS, CPL, MG)                                                                                      \
  extern "C" __global__ void __launch_bounds__(128) attn_paged_b##BITS##_c##CPL##_g##MG(                                   \
      float* part_o, float* part_ml, const int* row_list, const bf16* q, int heads, int kv_heads, int d, int splits,  \
      int group_split,                                                                                             \
      const int* row_slice, const int* slice_info, const int* page_tables, const int* rings, int sink_pages,        \
      const int* head_slot, void* rk, void* rv, __half* rkp, __half* rvp, int r_heads, void* sk, void* sv,          \
      __half* skp, __half* svp, int s_heads, const int* sel, const int* sel_store, int slot_stride, int max_ranked,  \
      int per_query, int sink, int local, int prefill_window, float scale, bf16* out, const bf16* k_self,           \
      const bf16* v_self, int* done) {                                                                             \
    pdl_launch_dependents(); /* the output projection's GEMV may start as this ends (common.cuh) */             \
    attn_paged<BITS, CPL, MG>(part_o, part_ml, row_list, q, heads, kv_heads, d, splits, group_split, row_slice,         \
                          slice_info, page_tables, rings, sink_pages, head_slot, KvPool{rk, rv, rkp, rvp, r_heads},  \
                          KvPool{sk, sv, skp, svp, s_heads}, sel, sel_store, slot_stride, max_ranked, per_query, sink, \
                          local, prefill_window, scale, out, k_self, v_self, done);                                \
  }
// _g{MG}: code for up to MG query heads per block (1, 2, 4, 8; head dims 33-128), so a block's
// unrolled loops are no longer than its group: with one unit of keys per warp each instruction
// runs about once, so the kernel's size (instruction fetch) is much of its time.
#define ATTN_GROUPS(BITS, CPL) ATTN_ENTRY(BITS, CPL, 1) ATTN_ENTRY(BITS, CPL, 2) ATTN_ENTRY(BITS, CPL, 4) ATTN_ENTRY(BITS, CPL, 8)
#define ATTN_ENTRIES(BITS) ATTN_ENTRY(BITS, 1, 8) ATTN_GROUPS(BITS, 2) ATTN_GROUPS(BITS, 4) ATTN_ENTRY(BITS, 8, 8)
ATTN_ENTRIES(16)
ATTN_ENTRIES(8)
ATTN_ENTRIES(4)

// out[row, head] = softmax-weighted sum over the splits' states and the row's own key and value:
// one warp per (row, query head).
extern "C" __global__ void __launch_bounds__(32) attn_merge(bf16* __restrict__ out, const float* __restrict__ part_o,
                                                           const float* __restrict__ part_ml,
                                                           const bf16* __restrict__ q, const bf16* __restrict__ k,
                                                           const bf16* __restrict__ v, int heads, int kv_heads, int d,
                                                           int splits, float scale) {
  const int row = blockIdx.x, head = blockIdx.y, lane = threadIdx.x;
  const size_t qo = ((size_t)row * heads + head) * d, ko = ((size_t)row * kv_heads + head / (heads / kv_heads)) * d;
  float self = 0.f;
  for (int c = lane; c < d; c += 32) self = fmaf(__bfloat162float(q[qo + c]), __bfloat162float(k[ko + c]), self);
  merge_head(out + qo, part_o, part_ml, ((size_t)row * heads + head) * splits, splits, d, warp_sum(self) * scale,
             v + ko);
}
