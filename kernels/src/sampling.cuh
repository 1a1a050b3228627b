// Sampling on the device: greedy (argmax, ties to the lower id, as the CPU Sampler).
#pragma once
#include "common.cuh"

// Temperature / top-k / top-p sampling, one block of 1024 threads per row, as the CPU Sampler:
// order by logit descending (ties to the lower id), keep the top k, then the smallest prefix whose
// probability reaches top_p, and pick by the inverse CDF at u·mass. The kept set is always a prefix
// of that order, held as (key K, id limit L): every logit whose sortable 16-bit key is above K, and
// those equal to K with an id below L. bf16 logits have 65536 keys, so a prefix boundary is found
// exactly with two 256-bin histograms (high byte, then low byte). Masses are summed with shared
// atomics, so a boundary can move between runs only where two orders of float sums disagree.
namespace sampling {
constexpr int kThreads = 1024;

__device__ __forceinline__ int key_of(bf16 v) {
  const unsigned short b = __bfloat16_as_ushort(v);
  return (b & 0x8000) ? (~b & 0xffff) : (b | 0x8000);
}

__device__ __forceinline__ float value_of(int key) {
  const unsigned short b = (key & 0x8000) ? (key & 0x7fff) : (~key & 0xffff);
  return __bfloat162float(__ushort_as_bfloat16(b));
}

struct Prefix {
  int key, limit;
  __device__ bool holds(int k, int id) const { return k > key || (k == key && id < limit); }
};

// Walking keys from the top, the key at which the running weight (count, or mass when temp > 0)
// first passes target (reaches it when reach): returns the key, the weight above it, and its count.
__device__ int find_key(const bf16* x, int vocab, Prefix in, float m, float temp, float target, bool reach,
                        float* above, int* count) {
  __shared__ float w[256];
  __shared__ int c[256];
  __shared__ int hi, lo;
  __shared__ float base;
  for (int pass = 0; pass < 2; pass++) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) w[b] = 0.f, c[b] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const int k = key_of(x[i]);
      if (!in.holds(k, i) || (pass == 1 && (k >> 8) != hi)) continue;
      const int bin = pass == 0 ? k >> 8 : k & 0xff;
      atomicAdd(&w[bin], temp > 0.f ? __expf((value_of(k) - m) / temp) : 1.f);
      atomicAdd(&c[bin], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float cum = pass == 0 ? 0.f : base;
      int chosen = -1, last = -1;
      for (int b = 255; b >= 0 && chosen < 0; b--) {
        if (c[b] == 0) continue;
        last = b;
        if (reach ? cum + w[b] >= target : cum + w[b] > target) chosen = b;
        else cum += w[b];
      }
      if (chosen < 0) {  // rounding left target past the total: the last nonempty bin
        chosen = last;
        cum -= w[last];
      }
      if (pass == 0) hi = chosen, base = cum;
      else lo = chosen, base = cum, c[0] = c[chosen];
    }
    __syncthreads();
  }
  const int key = (hi << 8) | lo;
  *above = base;
  *count = c[0];
  __syncthreads();
  return key;
}

// The id of the j-th (from 0) kept logit whose key is key, in id order.
__device__ int nth_id(const bf16* x, int vocab, Prefix in, int key, int j) {
  __shared__ int counts[kThreads];
  __shared__ int owner, rest;
  const int chunk = (vocab + blockDim.x - 1) / blockDim.x, begin = threadIdx.x * chunk;
  const int end = min(vocab, begin + chunk);
  int n = 0;
  for (int i = begin; i < end; i++) n += key_of(x[i]) == key && in.holds(key, i);
  counts[threadIdx.x] = n;
  __syncthreads();
  if (threadIdx.x == 0) {
    owner = -1;
    for (int t = 0, seen = 0; t < (int)blockDim.x; t++) {
      if (seen + counts[t] > j) {
        owner = t, rest = j - seen;
        break;
      }
      seen += counts[t];
    }
  }
  __syncthreads();
  __shared__ int found;
  if (threadIdx.x == owner) {
    int r = rest;
    for (int i = begin; i < end; i++)
      if (key_of(x[i]) == key && in.holds(key, i) && r-- == 0) {
        found = i;
        break;
      }
  }
  __syncthreads();
  const int id = owner < 0 ? -1 : found;
  __syncthreads();
  return id;
}
}  // namespace sampling

// The id of the largest logit, ties to the lower id, in one pass over the row: (key, ~id) packed
// into 64 bits so that one max decides both; 8 logits per 16-byte load where the row allows it.
__device__ int greedy_id(const bf16* x, int vocab) {
  __shared__ unsigned long long block_best;
  unsigned long long best = 0;
  auto take = [&](bf16 v, int i) {
    best = max(best, (unsigned long long)sampling::key_of(v) << 32 | (0xffffffffu - (unsigned)i));
  };
  if ((vocab & 7) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const uint4* x8 = reinterpret_cast<const uint4*>(x);
#pragma unroll 4
    for (int i = threadIdx.x; i < vocab / 8; i += blockDim.x) {
      const uint4 u = x8[i];
      const bf16* h = reinterpret_cast<const bf16*>(&u);
#pragma unroll
      for (int j = 0; j < 8; j++) take(h[j], 8 * i + j);
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) take(x[i], i);
  }
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  if (threadIdx.x == 0) block_best = 0;
  __syncthreads();
  if ((threadIdx.x & 31) == 0) atomicMax(&block_best, best);
  __syncthreads();
  return (int)(0xffffffffu - (unsigned)(block_best & 0xffffffffu));
}

// out[row] = argmax of logits[row, 0..vocab) (ties to the lower id): sample_bf16's greedy path
// alone. One block (a multiple of 32 threads) per row.
extern "C" __global__ void argmax_bf16(int* __restrict__ out, const bf16* __restrict__ logits, int vocab) {
  const int id = greedy_id(logits + (size_t)blockIdx.x * vocab, vocab);
  if (threadIdx.x == 0) out[blockIdx.x] = id;
}

// out[row] = a token of row `row` of logits; temperature 0 is greedy (argmax, ties to the lower id).
extern "C" __global__ void __launch_bounds__(1024) sample_bf16(int* __restrict__ out, const bf16* __restrict__ logits,
    int vocab, const float* __restrict__ temperature, const int* __restrict__ top_k, const float* __restrict__ top_p,
    const float* __restrict__ uniform) {
  using namespace sampling;
  const bf16* x = logits + (size_t)blockIdx.x * vocab;
  const float temp = temperature[blockIdx.x];
  if (temp <= 0.f) {
    const int id = greedy_id(x, vocab);
    if (threadIdx.x == 0) out[blockIdx.x] = id;
    return;
  }
  Prefix in{-1, 0};
  // The largest logit, the softmax's offset.
  __shared__ int top;
  int best = 0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) best = max(best, key_of(x[i]));
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  if (threadIdx.x == 0) top = 0;
  __syncthreads();
  if ((threadIdx.x & 31) == 0) atomicMax(&top, best);
  __syncthreads();
  const float m = value_of(top);
  float above;
  int count;
  const int k = top_k[blockIdx.x];
  if (k > 0 && k < vocab) {  // the first k in order
    const int key = find_key(x, vocab, in, m, 0.f, (float)k, true, &above, &count);
    const int j = min(count, max(1, k - (int)above));
    in = Prefix{key, nth_id(x, vocab, in, key, j - 1) + 1};
  }
  float total = 0.f;
  {
    __shared__ float sum;
    if (threadIdx.x == 0) sum = 0.f;
    __syncthreads();
    float s = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const int kk = key_of(x[i]);
      if (in.holds(kk, i)) s += __expf((value_of(kk) - m) / temp);
    }
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) atomicAdd(&sum, s);
    __syncthreads();
    total = sum;
    __syncthreads();
  }
  const float p = top_p[blockIdx.x];
  if (p < 1.f) {  // the smallest prefix whose mass reaches p
    const float target = p * total;
    const int key = find_key(x, vocab, in, m, temp, target, true, &above, &count);
    const float w = __expf((value_of(key) - m) / temp);
    const int j = min(count, max(1, (int)ceilf((target - above) / w)));
    in = Prefix{key, nth_id(x, vocab, in, key, j - 1) + 1};
    total = above + j * w;
  }
  const float target = uniform[blockIdx.x] * total;
  const int key = find_key(x, vocab, in, m, temp, target, false, &above, &count);
  const float w = __expf((value_of(key) - m) / temp);
  const int j = min(count - 1, max(0, (int)floorf((target - above) / w)));
  const int id = nth_id(x, vocab, in, key, j);
  if (threadIdx.x == 0) out[blockIdx.x] = id;
}
