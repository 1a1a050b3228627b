// Embedding gather: a row of the token table per token.
#pragma once
#include "common.cuh"

// out[t, :] = table[ids[t], :] for t in [0, tokens); one block per token.
extern "C" __global__ void embedding_gather_bf16(bf16* __restrict__ out, const bf16* __restrict__ table,
                                                 const int32_t* __restrict__ ids, int hidden) {
  const int t = blockIdx.x;
  const bf16* row = table + (size_t)ids[t] * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) out[(size_t)t * hidden + i] = row[i];
}
