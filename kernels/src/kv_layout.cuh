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

// The raw codes of channels [c, c + N) of a stored vector (N * BITS / 8 bytes; one byte holds
// the nibble of a single int4 channel), loaded before any is used so that a whole key row's or
// a batch of value rows' loads are in flight together: a load inside a branch on a run-time
// bound (the head dim) would wait for its data before the next is issued.
template <int BITS, int N>
struct RawCodes {
  static constexpr int BYTES = N * BITS / 8 > 0 ? N * BITS / 8 : 1;
  uint32_t w[BYTES >= 4 ? BYTES / 4 : 1];
};

template <int BITS, int N>
__device__ __forceinline__ RawCodes<BITS, N> load_codes(const void* codes, size_t vec, int d, int c) {
  RawCodes<BITS, N> r;
  const uint8_t* p = static_cast<const uint8_t*>(codes) + (vec * d + c) * BITS / 8;
  constexpr int B = RawCodes<BITS, N>::BYTES;
  if constexpr (B == 16) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    r.w[0] = u.x, r.w[1] = u.y, r.w[2] = u.z, r.w[3] = u.w;
  } else if constexpr (B == 8) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    r.w[0] = u.x, r.w[1] = u.y;
  } else if constexpr (B == 4) {
    r.w[0] = *reinterpret_cast<const uint32_t*>(p);
  } else if constexpr (B == 2) {
    r.w[0] = *reinterpret_cast<const uint16_t*>(p);
  } else {
    r.w[0] = *p;
  }
  return r;
}

// Channel c + i of raw codes loaded from channel c, as code * scale + zero (bf16: the value).
template <int BITS, int N>
__device__ __forceinline__ float code_value(const RawCodes<BITS, N>& r, int i, int c, float scale, float zero) {
  if constexpr (BITS == 16) {
    return __uint_as_float((i & 1 ? r.w[i / 2] >> 16 : r.w[i / 2] & 0xffffu) << 16);
  } else if constexpr (BITS == 8) {  // the byte under 2^23's exponent, minus 2^23: no integer conversion
    const float code = __uint_as_float(__byte_perm(r.w[i / 4], 0x4b000000u, 0x7440 | (i & 3))) - 8388608.f;
    return fmaf(code, scale, zero);
  } else {
    const int nibble = N == 1 ? (c & 1) : i;
    return fmaf((float)((r.w[nibble / 8] >> (4 * (nibble & 7))) & 0xf), scale, zero);
  }
}

// (scale, zero) of a quantized vector; (1, 0) for bf16 (unused).
template <int BITS>
__device__ __forceinline__ float2 vector_params(const __half* params, size_t vec) {
  if constexpr (BITS == 16) return make_float2(1.f, 0.f);
  const __half2 sz = *reinterpret_cast<const __half2*>(params + 2 * vec);
  return make_float2(__low2float(sz), __high2float(sz));
}
