// Where a token's key and value live in the paged KV cache, as the engine lays it out
// (ai.lserve.engine.kv.KvLayout, mirrored by the CPU backend's PageStore):
//   codes  [page][head][slot 0..63][channel]   bf16, int8 (1 byte) or int4 (channel 2i low nibble)
//   params [page][head][slot][2]               fp16 (scale, zero) of quantized vectors; x = code*scale + zero
//   stats  [page][head][logical 0..3][channel] fp16 key max and min of retrieval heads
// The step's metadata (built on the host once per forward step, see StepMeta.java):
//   slice_info[s * SLICE_STRIDE + ...]: the sequence slices of the step (first position, token
//          count, first activation row, decode flag, page table offset, ring offset, ring length)
//   row_slice[r]: the slice of activation row r (its position is start + r - row)
//   page_tables: each slice's retrieval page table (token p in page page_tables[table_off + p / 64])
//   rings: each slice's streaming ring (logical page i < sink_pages in slot i, else in
//          sink_pages + (i - sink_pages) mod (ring_len - sink_pages))
// head_slot[h] of a layer: >= 0 is KV head h's place in the retrieval pool, -1 - s its place s in
// the streaming pool.
#pragma once
#include "common.cuh"

#define PAGE_TOKENS 64
#define LOGICAL_TOKENS 16
#define SLICE_STRIDE 7
#define SLICE_START 0
#define SLICE_COUNT 1
#define SLICE_ROW 2
#define SLICE_DECODE 3
#define SLICE_TABLE 4
#define SLICE_RING 5
#define SLICE_RING_LEN 6

__device__ __forceinline__ int ring_page(const int* rings, int off, int len, int sink_pages, int logical) {
  return logical < sink_pages ? rings[off + logical]
                              : rings[off + sink_pages + (logical - sink_pages) % (len - sink_pages)];
}

// The (retrieval or streaming) pool of a layer, as kernels receive it.
struct KvPool {
  void* keys;
  void* values;
  __half* key_params;
  __half* value_params;
  int heads;
};

// Index of the (page, head, slot) vector in a pool.
__device__ __forceinline__ size_t kv_vector(int page, int heads, int head, int slot) {
  return ((size_t)page * heads + head) * PAGE_TOKENS + slot;
}

// Reads channels [c, c + 8) of a stored vector as floats (c a multiple of 8).
template <int BITS>
__device__ __forceinline__ void load8(const void* codes, const __half* params, size_t vec, int d, int c, float* out) {
  if constexpr (BITS == 16) {
    uint4 u = *reinterpret_cast<const uint4*>(static_cast<const bf16*>(codes) + vec * d + c);
    bf16x8_to_float(u, out);
  } else {
    const __half2 sz = *reinterpret_cast<const __half2*>(params + 2 * vec);
    const float scale = __low2float(sz), zero = __high2float(sz);
    if constexpr (BITS == 8) {
      uint2 u = *reinterpret_cast<const uint2*>(static_cast<const uint8_t*>(codes) + vec * d + c);
      const uint32_t w[2] = {u.x, u.y};
#pragma unroll
      for (int i = 0; i < 8; i++) out[i] = fmaf((float)((w[i >> 2] >> (8 * (i & 3))) & 0xff), scale, zero);
    } else {
      uint32_t w = *reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(codes) + vec * (d / 2) + c / 2);
#pragma unroll
      for (int i = 0; i < 8; i++) out[i] = fmaf((float)((w >> (4 * i)) & 0xf), scale, zero);
    }
  }
}

// Reads channel c of a stored vector as a float.
template <int BITS>
__device__ __forceinline__ float load1(const void* codes, const __half* params, size_t vec, int d, int c) {
  if constexpr (BITS == 16) {
    return __bfloat162float(static_cast<const bf16*>(codes)[vec * d + c]);
  } else {
    const __half2 sz = *reinterpret_cast<const __half2*>(params + 2 * vec);
    int code;
    if constexpr (BITS == 8) code = static_cast<const uint8_t*>(codes)[vec * d + c];
    else code = (static_cast<const uint8_t*>(codes)[vec * (d / 2) + c / 2] >> (4 * (c & 1))) & 0xf;
    return fmaf((float)code, __low2float(sz), __high2float(sz));
  }
}
