// RoPE (rotate-half pairs j, j + d/2; any rope scaling is in inv_freq) fused with the KV-cache
// write: keys are rotated in place, then this step's keys and values are stored in their pages,
// quantized to int8/int4 as ai.lserve.engine.kv.Quantizer does (per token and head: scale =
// fp16((max - min)/qmax), zero = fp16(min), code = clamp(rint((x - zero)/scale), 0, qmax)).
#pragma once
#include "kv_layout.cuh"

// Rotates x[0..d) of one head by position pos (not at all when inv_freq is null); one warp,
// pairs (j, j + d/2) per lane; keep, when given, receives the result as floats.
__device__ __forceinline__ void rope_head(bf16* x, const float* __restrict__ inv_freq, int d, int pos, float* keep) {
  const int half = d / 2, lane = threadIdx.x & 31;
  if (!inv_freq) {
    if (keep)
      for (int c = lane; c < d; c += 32) keep[c] = __bfloat162float(x[c]);
    return;
  }
  for (int j = lane; j < half; j += 32) {
    // The angle in fp32 exactly as Hugging Face forms it; no fma contraction, like the CPU.
    const float angle = __fmul_rn((float)pos, inv_freq[j]);
    float s, c;
    sincosf(angle, &s, &c);
    const float a = __bfloat162float(x[j]), b = __bfloat162float(x[j + half]);
    const bf16 ra = __float2bfloat16(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    const bf16 rb = __float2bfloat16(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
    x[j] = ra;
    x[j + half] = rb;
    if (keep) {
      keep[j] = __bfloat162float(ra);
      keep[j + half] = __bfloat162float(rb);
    }
  }
}

// Stores the vector x[0..d) (in shared memory, the whole warp calls) at vector index vec.
template <int BITS>
__device__ __forceinline__ void store_vector(void* codes, __half* params, size_t vec, int d, const float* x) {
  const int lane = threadIdx.x & 31;
  if constexpr (BITS == 16) {
    for (int c = lane; c < d; c += 32) static_cast<bf16*>(codes)[vec * d + c] = __float2bfloat16(x[c]);
  } else {
    constexpr int qmax = (1 << BITS) - 1;
    float mn = INFINITY, mx = -INFINITY;
    for (int c = lane; c < d; c += 32) {
      mn = fminf(mn, x[c]);
      mx = fmaxf(mx, x[c]);
    }
    mn = -warp_max(-mn);
    mx = warp_max(mx);
    __half scale_h = __float2half_rn(__fdiv_rn(__fsub_rn(mx, mn), (float)qmax));
    if (__half_as_ushort(scale_h) == 0) scale_h = __ushort_as_half(1);  // 2^-24, as the Quantizer
    const __half zero_h = __float2half_rn(mn);
    const float scale = __half2float(scale_h), zero = __half2float(zero_h);
    uint8_t* out = static_cast<uint8_t*>(codes);
    if constexpr (BITS == 8) {
      for (int c = lane; c < d; c += 32) {
        float q = rintf(__fdiv_rn(__fsub_rn(x[c], zero), scale));
        out[vec * d + c] = (uint8_t)fminf(fmaxf(q, 0.f), (float)qmax);
      }
    } else {
      for (int i = lane; i < d / 2; i += 32) {
        float lo = rintf(__fdiv_rn(__fsub_rn(x[2 * i], zero), scale));
        float hi = rintf(__fdiv_rn(__fsub_rn(x[2 * i + 1], zero), scale));
        int l = (int)fminf(fmaxf(lo, 0.f), (float)qmax), h = (int)fminf(fmaxf(hi, 0.f), (float)qmax);
        out[vec * (d / 2) + i] = (uint8_t)(l | (h << 4));
      }
    }
    if (lane == 0) {
      params[2 * vec] = scale_h;
      params[2 * vec + 1] = zero_h;
    }
  }
}

// Grid (rows, y): block (row, j) takes heads j*4.., one warp per head (a decode row's 40 heads of
// Llama-3-8B in 10 blocks rather than one block's 4 warps 10 times over); rotates the row's query and key heads
// in place (unless inv_freq is null: q and k come rotated), then stores its keys and values in
// the retrieval pool (page table) or the streaming pool (ring) of the layer. d <= 256, d % 8 == 0.
// kmax/kmin (a decode step's, else null): each retrieval key also updates its page's statistics
// (one row per sequence in such a step, so no two warps meet on a page).
template <int BITS>
__device__ void rope_append(bf16* q, bf16* k, const bf16* v, const float* inv_freq, int heads, int kv_heads, int d,
                            const int* row_slice, const int* slice_info, const int* page_tables, const int* rings,
                            int sink_pages, const int* head_slot, KvPool ret, KvPool str, __half* kmax,
                            __half* kmin) {
  __shared__ float buf[4][2][256];
  const int row = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int* info = slice_info + row_slice[row] * SLICE_STRIDE;
  const int pos = info[SLICE_START] + row - info[SLICE_ROW];
  const int warps = blockDim.x >> 5;
  for (int t = blockIdx.y * warps + warp; t < heads + kv_heads; t += gridDim.y * warps) {
    if (t < heads) {
      if (!inv_freq) continue;
      rope_head(q + ((size_t)row * heads + t) * d, inv_freq, d, pos, nullptr);
      continue;
    }
    // The value, the head's pool and the page first: their loads need nothing the rotation writes.
    const int h = t - heads;
    float* kb = buf[warp][0];
    float* vb = buf[warp][1];
    const bf16* vr = v + ((size_t)row * kv_heads + h) * d;
    for (int c = lane; c < d; c += 32) vb[c] = __bfloat162float(vr[c]);
    const int slot = head_slot[h];
    const int logical = pos / PAGE_TOKENS;
    const int page = slot >= 0 ? page_tables[info[SLICE_TABLE] + logical]
                               : ring_page(rings, info[SLICE_RING], info[SLICE_RING_LEN], sink_pages, logical);
    // A decode row's statistics too (kmax: see below): the page's current ones, loaded early.
    const int per_page = PAGE_TOKENS / LOGICAL_TOKENS;
    const bool stats = kmax && slot >= 0, fresh = pos % LOGICAL_TOKENS == 0;
    const size_t at = (((size_t)page * ret.heads + slot) * per_page + pos / LOGICAL_TOKENS % per_page) * d;
    __half old_max[8], old_min[8];  // channels lane + 32i, d <= 256
    if (stats && !fresh)
#pragma unroll
      for (int i = 0; i < 8; i++)
        if (lane + 32 * i < d) old_max[i] = kmax[at + lane + 32 * i], old_min[i] = kmin[at + lane + 32 * i];
    rope_head(k + ((size_t)row * kv_heads + h) * d, inv_freq, d, pos, kb);
    __syncwarp();
    if (slot >= 0) {
      const size_t vec = kv_vector(page, ret.heads, slot, pos % PAGE_TOKENS);
      store_vector<BITS>(ret.keys, ret.key_params, vec, d, kb);
      store_vector<BITS>(ret.values, ret.value_params, vec, d, vb);
      if (stats)  // a decode row's key into its logical page's statistics, as kv_key_stats does
#pragma unroll
        for (int i = 0; i < 8; i++) {
          const int c = lane + 32 * i;
          if (c >= d) break;
          const float key = __half2float(__float2half_rn(kb[c]));
          kmax[at + c] = __float2half_rn(fresh ? key : fmaxf(__half2float(old_max[i]), key));
          kmin[at + c] = __float2half_rn(fresh ? key : fminf(__half2float(old_min[i]), key));
        }
    } else {
      const size_t vec = kv_vector(page, str.heads, -1 - slot, pos % PAGE_TOKENS);
      store_vector<BITS>(str.keys, str.key_params, vec, d, kb);
      store_vector<BITS>(str.values, str.value_params, vec, d, vb);
    }
    __syncwarp();
  }
}

#define ROPE_APPEND_ENTRY(NAME, BITS)                                                                              \
  extern "C" __global__ void __launch_bounds__(128) NAME(                                                          \
      bf16* q, bf16* k, const bf16* v, const float* inv_freq, int heads, int kv_heads, int d, const int* row_slice, \
      const int* slice_info, const int* page_tables, const int* rings, int sink_pages, const int* head_slot,       \
      void* rk, void* rv, __half* rkp, __half* rvp, int r_heads, void* sk, void* sv, __half* skp, __half* svp,      \
      int s_heads, __half* kmax, __half* kmin) {                                                                   \
    rope_append<BITS>(q, k, v, inv_freq, heads, kv_heads, d, row_slice, slice_info, page_tables, rings, sink_pages, \
                      head_slot, KvPool{rk, rv, rkp, rvp, r_heads}, KvPool{sk, sv, skp, svp, s_heads}, kmax, kmin); \
  }
ROPE_APPEND_ENTRY(rope_append_bf16, 16)
ROPE_APPEND_ENTRY(rope_append_int8, 8)
ROPE_APPEND_ENTRY(rope_append_int4, 4)

// Rotates x in place (rows x heads x d) without touching a cache: one block per row.
extern "C" __global__ void __launch_bounds__(128) rope_bf16(bf16* x, const float* inv_freq, int heads, int d,
                                                           const int* row_pos) {
  const int row = blockIdx.x, warp = threadIdx.x >> 5;
  for (int h = warp; h < heads; h += blockDim.x >> 5) rope_head(x + ((size_t)row * heads + h) * d, inv_freq, d, row_pos[row], nullptr);
}

// Channel-wise key max and min (fp16) of the logical pages this step wrote, for page selection.
// Task i = (slice, logical page) in tasks[2i], tasks[2i + 1]; grid (tasks, retrieval heads), one
// thread per channel. A logical page whose first token is in this step starts afresh; one begun
// by an earlier step folds the new keys into its statistics (min and max do not depend on order).
extern "C" __global__ void kv_key_stats(const bf16* __restrict__ k, int kv_heads, int d, const int* __restrict__ tasks,
                                        const int* __restrict__ slice_info, const int* __restrict__ page_tables,
                                        const int* __restrict__ retrieval_heads, __half* kmax, __half* kmin,
                                        int r_heads) {
  const int c = threadIdx.x, r = blockIdx.y;
  if (c >= d) return;
  const int* info = slice_info + tasks[2 * blockIdx.x] * SLICE_STRIDE;
  const int logical = tasks[2 * blockIdx.x + 1];
  const int start = info[SLICE_START], end = start + info[SLICE_COUNT];
  const int first = max(logical * LOGICAL_TOKENS, start), last = min((logical + 1) * LOGICAL_TOKENS, end);
  const int per_page = PAGE_TOKENS / LOGICAL_TOKENS;
  const int page = page_tables[info[SLICE_TABLE] + logical / per_page];
  const size_t at = (((size_t)page * r_heads + r) * per_page + logical % per_page) * d + c;
  const bool fresh = logical * LOGICAL_TOKENS >= start;
  float mx = fresh ? -INFINITY : __half2float(kmax[at]);
  float mn = fresh ? INFINITY : __half2float(kmin[at]);
  const int h = retrieval_heads[r];
  for (int p = first; p < last; p++) {
    const float v = __half2float(__float2half_rn(__bfloat162float(k[((size_t)(info[SLICE_ROW] + p - start) * kv_heads + h) * d + c])));
    mx = fmaxf(mx, v);
    mn = fminf(mn, v);
  }
  kmax[at] = __float2half_rn(mx);
  kmin[at] = __float2half_rn(mn);
}
