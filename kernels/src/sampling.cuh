// Sampling on the device: greedy (argmax, ties to the lower id, as the CPU Sampler).
#pragma once
#include "common.cuh"

// out[row] = argmax of logits[row, 0..vocab); one block (a multiple of 32 threads) per row.
extern "C" __global__ void argmax_bf16(int* __restrict__ out, const bf16* __restrict__ logits, int vocab) {
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  const bf16* x = logits + (size_t)blockIdx.x * vocab;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = __bfloat162float(x[i]);
    if (v > bv) {
      bv = v;
      bi = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    best_v[warp] = bv;
    best_i[warp] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); w++)
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
}
