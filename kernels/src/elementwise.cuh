// Element-wise kernels: SiLU-and-multiply, residual add, row gather, and the f32/f16 -> bf16
// conversions weights go through on upload. Grid-stride loops over n elements.
#pragma once
#include "common.cuh"

// Whether n elements at these addresses go 8 at a time in 16-byte loads and stores (scalar
// accesses reach about half the bandwidth: 2 bytes a thread per load).
__device__ __forceinline__ bool by_eight(long long n, const void* a, const void* b, const void* c) {
  return n % 8 == 0 && ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(c)) & 15) == 0;
}

// out = silu(gate) * up; out may alias gate or up.
extern "C" __global__ void silu_mul_bf16(bf16* out, const bf16* gate, const bf16* up, long long n) {
  const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
  if (by_eight(n, out, gate, up)) {
    for (long long i = first; i < n / 8; i += stride) {
      float g[8], u[8];
      bf16x8_to_float(reinterpret_cast<const uint4*>(gate)[i], g);
      bf16x8_to_float(reinterpret_cast<const uint4*>(up)[i], u);
#pragma unroll
      for (int j = 0; j < 8; j++) g[j] = g[j] / (1.f + expf(-g[j])) * u[j];
      reinterpret_cast<uint4*>(out)[i] = float_to_bf16x8(g);
    }
    return;
  }
  for (long long i = first; i < n; i += stride) {
    float g = __bfloat162float(gate[i]);
    out[i] = __float2bfloat16(g / (1.f + expf(-g)) * __bfloat162float(up[i]));
  }
}

// x += y.
extern "C" __global__ void add_bf16(bf16* x, const bf16* y, long long n) {
  const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
  if (by_eight(n, x, y, x)) {
    for (long long i = first; i < n / 8; i += stride) {
      float a[8], b[8];
      bf16x8_to_float(reinterpret_cast<const uint4*>(x)[i], a);
      bf16x8_to_float(reinterpret_cast<const uint4*>(y)[i], b);
#pragma unroll
      for (int j = 0; j < 8; j++) a[j] += b[j];
      reinterpret_cast<uint4*>(x)[i] = float_to_bf16x8(a);
    }
    return;
  }
  for (long long i = first; i < n; i += stride) x[i] = __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(y[i]));
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
