// Page selection for sparse decode (LServe's hierarchical paging with Quest's bound): score every
// complete page of a sequence whose selection is due, then keep the best pages, all on the device.
// A layer's selection entries (StepMeta / CudaKvCache.selectionEntries), per slice s:
//   sel[4s] slot in the selection store (-1: the slice reads no selected pages), sel[4s + 1] due
//   (select anew this step), sel[4s + 2] ranked pages kept, sel[4s + 3] newest page at selection
//   (the candidates are the complete pages 0 .. newest - 1).
// The store holds, per slot (slot_stride ints), per selector row, max_ranked ascending page ids.
#pragma once
#include "kv_layout.cuh"

// scores[(s * sel_rows + row) * stride + p] for each due slice s (its one decode row holds the
// query) and candidate page p: the max over the page's 4 logical pages of
// sum_c max(q_c * kmax_c, q_c * kmin_c); per KV head the max over its query heads, per query head
// one row each. Grid (slices, retrieval heads, any), 8 warps, a warp per page (grid-stride).
extern "C" __global__ void page_scores(float* __restrict__ scores, int stride, const bf16* __restrict__ q, int heads,
                                       int kv_heads, int d, int per_query, const int* __restrict__ sel,
                                       const int* __restrict__ slice_info, const int* __restrict__ page_tables,
                                       const __half* __restrict__ kmax, const __half* __restrict__ kmin,
                                       const int* __restrict__ retrieval_heads, int r_heads) {
  const int i = blockIdx.x, r = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (sel[4 * i] < 0 || !sel[4 * i + 1]) return;
  const int* info = slice_info + i * SLICE_STRIDE;
  const int row = info[SLICE_ROW], candidates = sel[4 * i + 3];
  const int group = heads / kv_heads, h = retrieval_heads[r];
  const int sel_rows = per_query ? r_heads * group : r_heads;
  const int per_page = PAGE_TOKENS / LOGICAL_TOKENS;
  for (int p = blockIdx.z * (blockDim.x >> 5) + warp; p < candidates; p += gridDim.z * (blockDim.x >> 5)) {
    const int page = page_tables[info[SLICE_TABLE] + p];
    float combined = -INFINITY;
    for (int g = 0; g < group; g++) {
      const bf16* qg = q + ((size_t)row * heads + h * group + g) * d;
      float best = -INFINITY;
      for (int lp = 0; lp < per_page; lp++) {
        const size_t at = (((size_t)page * r_heads + r) * per_page + lp) * d;
        float s = 0.f;
        for (int c = lane; c < d; c += 32) {
          const float qc = __bfloat162float(qg[c]);
          s += fmaxf(qc * __half2float(kmax[at + c]), qc * __half2float(kmin[at + c]));
        }
        best = fmaxf(best, warp_sum(s));
      }
      if (per_query) {
        if (lane == 0) scores[((size_t)i * sel_rows + r * group + g) * stride + p] = best;
      } else {
        combined = fmaxf(combined, best);
      }
    }
    if (!per_query && lane == 0) scores[((size_t)i * sel_rows + r) * stride + p] = combined;
  }
}

// A uint32 whose unsigned order is the float's order (-0 below +0, as Float.compare).
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Exclusive prefix sum of flag over the block (blockDim a multiple of 32); *total gets the sum.
__device__ __forceinline__ int block_scan(int flag, int* total) {
  __shared__ int warp_totals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  int x = flag;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warp_totals[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int t = lane < warps ? warp_totals[lane] : 0;
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, t, o);
      if (lane >= o) t += y;
    }
    warp_totals[lane] = t;  // inclusive
  }
  __syncthreads();
  const int before = (warp > 0 ? warp_totals[warp - 1] : 0) + x - flag;
  *total = warp_totals[warps - 1];
  __syncthreads();
  return before;
}

__device__ __forceinline__ int block_count(int flag) {
  return (int)block_sum((float)flag);
}

// Keeps, for each selector row of each due slice (grid: slices x sel_rows, blockDim a multiple of
// 32), its sel[4s + 2] best of the sel[4s + 3] candidate pages, ties to the lower page, page 0
// first when pin_first, as ai.lserve.engine.sparse.PageSelector.top does; writes them ascending to
// the slice's slot in the store. Exact radix selection of the threshold key, then one ordered pass.
extern "C" __global__ void page_topk(int* __restrict__ store, int slot_stride, int max_ranked,
                                     const float* __restrict__ scores, int stride, int sel_rows,
                                     const int* __restrict__ sel, int pin_first) {
  const int i = blockIdx.x / sel_rows, row = blockIdx.x % sel_rows;
  if (sel[4 * i] < 0 || !sel[4 * i + 1]) return;
  const int want = sel[4 * i + 2], candidates = sel[4 * i + 3];
  if (want <= 0) return;
  const float* s = scores + (size_t)blockIdx.x * stride;
  int* o = store + (size_t)sel[4 * i] * slot_stride + (size_t)row * max_ranked;
  auto key = [&](int p) { return (pin_first && p == 0) ? 0xffffffffu : order_key(s[p]); };
  uint32_t threshold = 0;  // the largest t with at least `want` keys >= t
  for (int bit = 31; bit >= 0; bit--) {
    const uint32_t t = threshold | (1u << bit);
    int n = 0;
    for (int p = threadIdx.x; p < candidates; p += blockDim.x) n += key(p) >= t;
    if (block_count(n) >= want) threshold = t;
  }
  int greater = 0;
  for (int p = threadIdx.x; p < candidates; p += blockDim.x) greater += key(p) > threshold;
  const int ties = want - block_count(greater);
  int eq_seen = 0, written = 0;
  for (int base = 0; base < candidates; base += blockDim.x) {
    const int p = base + threadIdx.x;
    const uint32_t kp = p < candidates ? key(p) : 0;
    const int eq = p < candidates && kp == threshold;
    int eq_total, sel_total;
    const int eq_before = eq_seen + block_scan(eq, &eq_total);
    const int sel = p < candidates && (kp > threshold || (eq && eq_before < ties));
    const int at = written + block_scan(sel, &sel_total);
    if (sel) o[at] = p;
    eq_seen += eq_total;
    written += sel_total;
  }
}
