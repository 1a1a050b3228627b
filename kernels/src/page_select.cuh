// Page selection for sparse decode (LServe's hierarchical paging with Quest's bound): score every
// complete page of a sequence whose selection is due, then keep the best pages, all on the device.
// A layer's selection entries (StepMeta / CudaKvCache.selectionEntries), per slice s:
//   sel[4s] slot in the selection store (-1: the slice reads no selected pages), sel[4s + 1] due
//   (select anew this step), sel[4s + 2] ranked pages kept, sel[4s + 3] newest page at selection
//   (the candidates are the complete pages 0 .. newest - 1).
// The store holds, per slot (slot_stride ints), per selector row, max_ranked ascending page ids.
#pragma once
#include "kv_layout.cuh"

#define ATTN_SELECT_GROUP 8  // query heads per KV head at most (CudaAttention.MAX_GROUP)

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
  const int per_page = PAGE_TOKENS / LOGICAL_TOKENS;  // 4
  for (int p = blockIdx.z * (blockDim.x >> 5) + warp; p < candidates; p += gridDim.z * (blockDim.x >> 5)) {
    const int page = page_tables[info[SLICE_TABLE] + p];
    const size_t at = ((size_t)page * r_heads + r) * per_page * d;
    // Per lane: partial sums for every (query head, logical page); the 4 logical pages' statistics
    // of a channel are loaded together.
    float part[ATTN_SELECT_GROUP][4];
#pragma unroll
    for (int g = 0; g < ATTN_SELECT_GROUP; g++)
#pragma unroll
      for (int lp = 0; lp < 4; lp++) part[g][lp] = 0.f;
    for (int c = lane; c < d; c += 32) {
      float mx[4], mn[4];
#pragma unroll
      for (int lp = 0; lp < 4; lp++) {
        mx[lp] = __half2float(kmax[at + lp * d + c]);
        mn[lp] = __half2float(kmin[at + lp * d + c]);
      }
#pragma unroll
      for (int g = 0; g < ATTN_SELECT_GROUP; g++) {
        if (g >= group) break;
        const float qc = __bfloat162float(q[((size_t)row * heads + h * group + g) * d + c]);
#pragma unroll
        for (int lp = 0; lp < 4; lp++) part[g][lp] += fmaxf(qc * mx[lp], qc * mn[lp]);
      }
    }
    float combined = -INFINITY;
#pragma unroll
    for (int g = 0; g < ATTN_SELECT_GROUP; g++) {
      if (g >= group) break;
      float best = -INFINITY;
#pragma unroll
      for (int lp = 0; lp < 4; lp++) best = fmaxf(best, warp_sum(part[g][lp]));
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

// Keeps, for each selector row of each due slice (grid: slices x sel_rows, blockDim a multiple of
// 32), its sel[4s + 2] best of the sel[4s + 3] candidate pages, ties to the lower page, page 0
// first when pin_first, as ai.lserve.engine.sparse.PageSelector.top does; writes them ascending to
// the slice's slot in the store. Radix selection of the threshold key, then one ordered pass.
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
  // The want-th largest key, 8 bits at a time: a histogram of the next digit among the keys that
  // match the digits found so far, then one warp finds the digit where the count from the top
  // reaches `need`; `need` ends as the keys equal to the threshold that are taken.
  __shared__ int hist[256];
  __shared__ int found_digit, found_need;
  uint32_t threshold = 0, mask = 0;
  int need = want;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    for (int p = threadIdx.x; p < candidates; p += blockDim.x) {
      const uint32_t kp = key(p);
      if ((kp & mask) == threshold) atomicAdd(&hist[(kp >> shift) & 255], 1);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      const int lane = threadIdx.x;
      int local[8], sum = 0;  // lane l holds digits 255 - 8l down to 248 - 8l
#pragma unroll
      for (int j = 0; j < 8; j++) sum += (local[j] = hist[255 - 8 * lane - j]);
      int incl = sum;
      for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
      }
      int acc = incl - sum;
      if (acc < need && need <= incl) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
          if (acc + local[j] >= need) {
            found_digit = 255 - 8 * lane - j;
            found_need = need - acc;
            break;
          }
          acc += local[j];
        }
      }
    }
    __syncthreads();
    threshold |= (uint32_t)found_digit << shift;
    mask |= 255u << shift;
    need = found_need;
    __syncthreads();
  }
  const int ties = need;
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
