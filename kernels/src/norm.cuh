// RMSNorm (bf16 activations, fp32 math).
#pragma once
#include "common.cuh"

// out = x * rsqrt(mean(x^2) + eps) * weight, as Hugging Face does it: the normalized value is
// rounded to bf16 before the weight multiplies it. One block per row; out may alias x (each
// thread rewrites only the elements it read).
// N values of a thread at a time: 8 in 16-byte accesses, or 1.
template <int N>
__device__ __forceinline__ void load_n(const bf16* p, float* v) {
  if constexpr (N == 8) bf16x8_to_float(*reinterpret_cast<const uint4*>(p), v);
  else v[0] = __bfloat162float(*p);
}

template <int N>
__device__ __forceinline__ void rmsnorm_row(bf16* out, const bf16* x, const bf16* __restrict__ weight, int hidden,
                                            float eps) {
  float ss = 0.f, v[N], w[N];
  for (int i = threadIdx.x * N; i < hidden; i += blockDim.x * N) {
    load_n<N>(x + i, v);
#pragma unroll
    for (int j = 0; j < N; j++) ss += v[j] * v[j];
  }
  const float inv = rsqrtf(block_sum(ss) / hidden + eps);
  for (int i = threadIdx.x * N; i < hidden; i += blockDim.x * N) {
    load_n<N>(x + i, v);
    load_n<N>(weight + i, w);
#pragma unroll
    for (int j = 0; j < N; j++) v[j] = bf16_round(v[j] * inv) * w[j];
    if constexpr (N == 8) *reinterpret_cast<uint4*>(out + i) = float_to_bf16x8(v);
    else out[i] = __float2bfloat16(v[0]);
  }
}

// Eight elements a thread where rows allow 16-byte accesses (scalar ones reach a third of the
// bandwidth), else one.
extern "C" __global__ void rmsnorm_bf16(bf16* out, const bf16* x, const bf16* __restrict__ weight, int hidden,
                                        float eps) {
  const size_t row = (size_t)blockIdx.x * hidden;
  if (hidden % 8 == 0 && ((reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(x) |
                           reinterpret_cast<uintptr_t>(weight)) & 15) == 0)
    rmsnorm_row<8>(out + row, x + row, weight, hidden, eps);
  else
    rmsnorm_row<1>(out + row, x + row, weight, hidden, eps);
}
