// Element-wise kernels: SiLU-and-multiply, residual add, row gather, and the f32/f16 -> bf16
// conversions weights go through on upload. Grid-stride loops over n elements.
#pragma once
#include "common.cuh"

// out[i] = f(a[i], b[i]) for n elements: 8 at a time in 16-byte accesses where n and the addresses
// allow (scalar accesses reach about half the bandwidth: 2 bytes a thread per load), else one.
// out may alias a or b (each element is written by the thread that read it).
template <class F>
__device__ __forceinline__ void map2_bf16(bf16* out, const bf16* a, const bf16* b, long long n, F f) {
  const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
  if (n % 8 == 0 &&
      ((reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b)) & 15) == 0) {
    for (long long i = first; i < n / 8; i += stride) {
      float x[8], y[8];
      bf16x8_to_float(reinterpret_cast<const uint4*>(a)[i], x);
      bf16x8_to_float(reinterpret_cast<const uint4*>(b)[i], y);
#pragma unroll
      for (int j = 0; j < 8; j++) x[j] = f(x[j], y[j]);
      reinterpret_cast<uint4*>(out)[i] = float_to_bf16x8(x);
    }
    return;
  }
  for (long long i = first; i < n; i += stride)
    out[i] = __float2bfloat16(f(__bfloat162float(a[i]), __bfloat162float(b[i])));
}

// out = silu(gate) * up; out may alias gate or up.
extern "C" __global__ void silu_mul_bf16(bf16* out, const bf16* gate, const bf16* up, long long n) {
  map2_bf16(out, gate, up, n, [](float g, float u) { return silu_mul(g, u); });
}

// x += y.
extern "C" __global__ void add_bf16(bf16* x, const bf16* y, long long n) {
  map2_bf16(x, x, y, n, [](float a, float b) { return a + b; });
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
