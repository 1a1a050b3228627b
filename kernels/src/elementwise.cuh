// Element-wise kernels: SiLU-and-multiply, residual add, row gather, and the f32/f16 -> bf16
// conversions weights go through on upload. Grid-stride loops over n elements.
#pragma once
#include "common.cuh"

// out = silu(gate) * up; out may alias gate or up.
extern "C" __global__ void silu_mul_bf16(bf16* out, const bf16* gate, const bf16* up, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float g = __bfloat162float(gate[i]);
    out[i] = __float2bfloat16(g / (1.f + expf(-g)) * __bfloat162float(up[i]));
  }
}

// x += y.
extern "C" __global__ void add_bf16(bf16* x, const bf16* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    x[i] = __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(y[i]));
}

// out[r, :] = x[rows[r], :]; one block per output row.
extern "C" __global__ void gather_rows_bf16(bf16* __restrict__ out, const bf16* __restrict__ x,
                                            const int32_t* __restrict__ rows, int cols) {
  const bf16* src = x + (size_t)rows[blockIdx.x] * cols;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) out[(size_t)blockIdx.x * cols + i] = src[i];
}

extern "C" __global__ void f32_to_bf16(bf16* __restrict__ out, const float* __restrict__ in, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    out[i] = __float2bfloat16(in[i]);
}

extern "C" __global__ void f16_to_bf16(bf16* __restrict__ out, const __half* __restrict__ in, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    out[i] = __float2bfloat16(__half2float(in[i]));
}
