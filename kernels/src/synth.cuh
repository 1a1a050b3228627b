// Random weights of synthetic models, made on the GPU: element i is fma(r, scale, mean) rounded to
// bf16, r the signed top 24 bits of splitmix64(key + i * golden). Bit-identical to
// RandomTensor.java, which writes the same model to disk and checks this kernel.
#pragma once
#include "common.cuh"

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

extern "C" __global__ void synth_uniform_bf16(bf16* out, long long n, unsigned long long key, float scale, float mean) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    int r = (int)(splitmix64(key + (unsigned long long)i * 0x9E3779B97F4A7C15ull) >> 40) - (1 << 23);
    out[i] = __float2bfloat16_rn(__fmaf_rn((float)r, scale, mean));
  }
}
