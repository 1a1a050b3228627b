// RMSNorm (bf16 activations, fp32 math).
#pragma once
#include "common.cuh"

// out = x * rsqrt(mean(x^2) + eps) * weight, as Hugging Face does it: the normalized value is
// rounded to bf16 before the weight multiplies it. One block per row; out may alias x (each
// thread rewrites only the elements it read).
extern "C" __global__ void rmsnorm_bf16(bf16* out, const bf16* x, const bf16* __restrict__ weight, int hidden,
                                        float eps) {
  const size_t row = (size_t)blockIdx.x * hidden;
  float ss = 0.f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = __bfloat162float(x[row + i]);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss) / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float n = __bfloat162float(__float2bfloat16(__bfloat162float(x[row + i]) * inv));
    out[row + i] = __float2bfloat16(n * __bfloat162float(weight[i]));
  }
}
