// Prefill attention for Hopper (sm_90a, head dim 128) on wgmma.mma_async: the same work items,
// page walk, masks and split outputs as attn_prefill (attention_prefill.cuh), which stays the path
// on other GPUs and for head dim 64. A CTA has three warpgroups: the first (producer) fills a ring
// of 16-bit (K, V) page stages in the 128-byte-swizzled layout wgmma reads, bf16 pages by 16-byte
// cp.async, quantized pages by loading their codes into registers one page ahead and converting
// them there to fp16 (dequant8_f16; the conversion runs on the producer's issue slots, beside the
// consumers' tensor-core work, and the products of such pages run in fp16, Q converted once, P
// rounded to fp16 instead of bf16); the other two (consumers) take 64 of the
// CTA's 128 query rows each. Per page a consumer computes S = Q K^T (m64n64k16, Q held in
// registers as the A operand), its online softmax, and O += P V (m64n128k16, P from registers,
// V read N-major from the stage). The P V product of page b runs while the softmax of page b + 1
// is computed (FA3's intra-warpgroup overlap); the two consumers interleave on their own.
// Stages are handed over with mbarriers: "full" when the producer's 128 threads have filled it,
// "empty" when the 8 consumer warps' products reading it have retired.
#pragma once
#include "attention_prefill.cuh"
#include "gemm_sm90.cuh"

#include <type_traits>

#define PF90_STAGES 4
#define PF90_THREADS 384

// Dynamic shared memory: the stages (K then V, each two 64-channel slabs of 64 rows x 128 bytes),
// the 128 query rows (padded rows for ldmatrix), two mbarriers a stage, 1024 bytes of alignment.
struct PrefillSm90Smem {
  static constexpr int STAGE = 2 * 2 * 64 * 128;
  static constexpr int Q = 128 * (128 + 8) * 2;
  static constexpr int BYTES = PF90_STAGES * STAGE + Q + 16 * PF90_STAGES + 1024;
};

// 8 fp16 values code * scale + zero of 8 int8 codes (w0, w1) or int4 codes (w0), by packed fp16
// arithmetic: a code c becomes the fp16 1024 + c by placing it under 1024's exponent, 1024 is
// subtracted (exact), then one fused multiply-add rounds c * scale + zero once to fp16 (scale
// and zero are stored in fp16). 1.5 instructions a value where the bf16 conversion
// (dequant8) takes four: quantized pages therefore run the products in fp16, which also carries
// the values 3 bits more precisely than bf16.
template <int BITS>
__device__ __forceinline__ uint4 dequant8_f16(uint32_t w0, uint32_t w1, __half2 sz) {
  const __half2 scale = __half2half2(__low2half(sz)), zero = __half2half2(__high2half(sz));
  const __half2 bias = __float2half2_rn(1024.f);
  uint32_t h[4];
  if constexpr (BITS == 8) {
    h[0] = __byte_perm(w0, 0x64646464u, 0x4140);
    h[1] = __byte_perm(w0, 0x64646464u, 0x4342);
    h[2] = __byte_perm(w1, 0x64646464u, 0x4140);
    h[3] = __byte_perm(w1, 0x64646464u, 0x4342);
  } else {
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const uint32_t b = (w0 >> (8 * k)) & 0xffu;  // channels 2k (low nibble) and 2k + 1
      h[k] = (b & 0xfu) | ((b & 0xf0u) << 12) | 0x64006400u;
    }
  }
  uint4 u;
  uint32_t* out = &u.x;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    const __half2 code = __hsub2(*reinterpret_cast<const __half2*>(&h[k]), bias);
    const __half2 v = __hfma2(code, scale, zero);
    out[k] = *reinterpret_cast<const uint32_t*>(&v);
  }
  return u;
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_D8R(i)                                                                                          \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])

// D[64 x N] (+)= A[64 x 16] B[16 x N], bf16 or (F16) fp16 inputs, fp32 accumulators. A in
// registers (per warp the mma.sync m16n8k16 A fragment), B from shared memory: S = Q K^T reads K
// K-major and zeroes D first when acc == 0; O += P V reads V N-major (trans-b 1).
#define WG_S_ASM(T)                                                                                       \
  "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\nwgmma.mma_async.sync.aligned.m64n64k16.f32." T "." T " {"    \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
  "%23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
#define WG_PV_ASM(T)                                                                                       \
  "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\nwgmma.mma_async.sync.aligned.m64n128k16.f32." T "." T " {"    \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
  "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, " \
  "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "      \
  "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"

template <bool F16>
__device__ __forceinline__ void wgmma_qk(float* d, const uint32_t* a, uint64_t b, int acc) {
#define WG_S_ARGS                                             \
  : WG_D8R(0), WG_D8R(8), WG_D8R(16), WG_D8R(24)              \
  : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc)
  if constexpr (F16) asm volatile(WG_S_ASM("f16") WG_S_ARGS);
  else asm volatile(WG_S_ASM("bf16") WG_S_ARGS);
#undef WG_S_ARGS
}

template <bool F16>
__device__ __forceinline__ void wgmma_pv(float* d, const uint32_t* a, uint64_t b) {
#define WG_PV_ARGS                                                                                    \
  : WG_D8R(0), WG_D8R(8), WG_D8R(16), WG_D8R(24), WG_D8R(32), WG_D8R(40), WG_D8R(48), WG_D8R(56) \
  : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1)
  if constexpr (F16) asm volatile(WG_PV_ASM("f16") WG_PV_ARGS);
  else asm volatile(WG_PV_ASM("bf16") WG_PV_ARGS);
#undef WG_PV_ARGS
}

// Descriptor of a 128-byte-swizzled N-major operand: 64-element rows of 128 bytes along N, 8-row
// groups along K 1024 bytes apart, the next 64 columns of N (the next slab) 8192 bytes on.
__device__ __forceinline__ uint64_t wg_desc_n_major(uint32_t smem) {
  return (uint64_t)((smem & 0x3FFFF) >> 4) | ((uint64_t)(8192 >> 4) << 16) | ((uint64_t)(1024 >> 4) << 32) |
         (1ull << 62);
}

__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

template <int R>
__device__ __forceinline__ void fence_regs(uint32_t* r) {
#pragma unroll
  for (int i = 0; i < R; i++) asm volatile("" : "+r"(r[i])::"memory");
}


__device__ __forceinline__ uint32_t pack_f16(float a, float b) {
  uint32_t r;
  asm("cvt.rn.satfinite.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(b), "f"(a));
  return r;
}

// F16: the products run in fp16 (quantized pages, which the producer converts to fp16; or, with
// BITS 16, pages that already hold fp16 values: the retrieval pages kv_pages_f16 dequantized).
template <int BITS, bool F16 = BITS != 16>
__device__ void attn_prefill_wg(float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits,
                                int kv_splits, const int* tiles, int ntiles, int hpc_log2, const int* head_order,
                                int dense_kv_heads, const int* slice_info, const int* page_tables, const int* rings,
                                int sink_pages, const int* head_slot, KvPool ret, KvPool str, int sink,
                                int prefill_window, float scale, bf16* out, const bf16* k_self, const bf16* v_self) {
  constexpr int D = 128, LDS = D + 8;
  extern __shared__ __align__(1024) unsigned char pf90_smem[];
  const uint32_t base = (smem_u32(pf90_smem) + 1023) & ~1023u;  // the swizzle repeats every 1024 bytes
  unsigned char* base_ptr = pf90_smem + (base - smem_u32(pf90_smem));
  bf16* sq = reinterpret_cast<bf16*>(base_ptr + PF90_STAGES * PrefillSm90Smem::STAGE);
  const uint32_t full = base + PF90_STAGES * PrefillSm90Smem::STAGE + PrefillSm90Smem::Q, empty = full + 8 * PF90_STAGES;

  const PrefillItem it(heads, kv_heads, kv_splits, tiles, ntiles, hpc_log2, head_order, dense_kv_heads, slice_info,
                      head_slot, ret, str, sink, prefill_window);
  const int hpc = 1 << hpc_log2, b0 = it.b0, b1 = it.b1, row0 = it.row0, nrows = it.nrows, h = it.h;
  const KvPool pool = it.pool;
  if (out == nullptr) it.empty_states(part_ml, heads, splits, kv_splits, hpc_log2);
  if (b0 >= b1) {
    // No key before the tile's rows (its first rows of a sequence): with the merge fused, each
    // row's output is its own value.
    if (out != nullptr)
      for (int i = threadIdx.x; i < 128 * D / 8; i += PF90_THREADS) {
        const int r = i / (D / 8) & ((128 >> hpc_log2) - 1), j = i / (D / 8) >> (7 - hpc_log2), c = i % (D / 8) * 8;
        if (r < nrows)
          *reinterpret_cast<uint4*>(out + ((size_t)(row0 + r) * heads + it.head0 + j) * D + c) =
              *reinterpret_cast<const uint4*>(v_self + ((size_t)(row0 + r) * kv_heads + h) * D + c);
      }
    return;
  }

  // The queries: consumer warp w (of 8) holds 16 rows of head w % hpc at rows w * 16.
  it.load_queries<D>(sq, q, heads, hpc_log2, PF90_THREADS);
  if (threadIdx.x == 0) {
    for (int s = 0; s < PF90_STAGES; s++) {
      mbar_init(full + 8 * s, 128);
      mbar_init(empty + 8 * s, 8);
    }
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    // Registers: producer + 2 x consumer = the 3 x 168 the launch holds (int8's producer needs 128).
    if constexpr (BITS == 8) asm volatile("setmaxnreg.dec.sync.aligned.u32 128;\n");
    else asm volatile("setmaxnreg.dec.sync.aligned.u32 120;\n");
    const int t = threadIdx.x;
    auto vec0_of = [&](int b) { return it.vec0(b, page_tables, rings, sink_pages); };
    int stage = 0;
    uint32_t phase = 0;
    if constexpr (BITS == 16) {
      // Thread t copies 16-byte chunk t % 16 of rows t / 16 + 8 i of K and of V; keys not yet written
      // are zero-filled (never-written slots may hold NaN, and 0 * NaN would reach P V).
      const int c = t & 15, r0 = t >> 4;
      const uint32_t place = (c >> 3) * 8192 + r0 * 128 + (((c & 7) ^ (r0 & 7)) << 4);
      for (int b = b0; b < b1; b++) {
        const size_t vec0 = vec0_of(b);
        const int valid = it.valid(b);
        const bf16* ks = static_cast<const bf16*>(pool.keys) + vec0 * D + c * 8;
        const bf16* vs = static_cast<const bf16*>(pool.values) + vec0 * D + c * 8;
        mbar_wait(empty + 8 * stage, phase ^ 1);
        const uint32_t sk = base + stage * PrefillSm90Smem::STAGE + place;
#pragma unroll
        for (int i = 0; i < 8; i++) {
          const int row = r0 + 8 * i, n = row < valid ? 16 : 0;
          cp_async16_to(sk + i * 1024, ks + (row < valid ? row * D : 0), n);
          cp_async16_to(sk + 16384 + i * 1024, vs + (row < valid ? row * D : 0), n);
        }
        cp_async_arrive(full + 8 * stage);
        if (++stage == PF90_STAGES) stage = 0, phase ^= 1;
      }
      asm volatile("cp.async.wait_all;\n" ::: "memory");
    } else {
      // Thread t takes 16-byte code word c = (t / 8) % RW of rows r0 + (128 / RW) i of K and of V
      // (RW words a row; each word is NCH chunks of 8 channels), converted to fp16 (below). The 8
      // threads of a shared-memory store phase hold one word of 8 consecutive rows, whose swizzle
      // places their chunks in 8 distinct bank groups.
      constexpr int RW = D * BITS / 8 / 16, NCH = 16 * 8 / BITS / 8, ROWS = 64 * RW / 128, STEP = 128 / RW;
      const int c = (t >> 3) % RW, r0 = (t & 7) + 8 * (t / (8 * RW));
      // Two register sets, A and B, take pages in turn: a page's codes are requested a page ahead
      // and first waited for when it is converted, after the wait for its stage (no copy between
      // the sets, which would wait for the loads a stage early).
      uint4 raw_a[2][ROWS], raw_b[2][ROWS];
      __half2 prm_a[2][ROWS], prm_b[2][ROWS];
      auto fetch = [&](int b, uint4 (&w)[2][ROWS], __half2 (&p)[2][ROWS]) {
        const size_t vec0 = vec0_of(b);
#pragma unroll
        for (int kv = 0; kv < 2; kv++) {
          const unsigned char* codes = static_cast<const unsigned char*>(kv ? pool.values : pool.keys);
          const __half* params = kv ? pool.value_params : pool.key_params;
#pragma unroll
          for (int i = 0; i < ROWS; i++) {
            const size_t vec = vec0 + r0 + STEP * i;
            w[kv][i] = __ldg(reinterpret_cast<const uint4*>(codes + vec * D * BITS / 8) + c);
            p[kv][i] = __ldg(reinterpret_cast<const __half2*>(params + 2 * vec));
          }
        }
      };
      // Slots from `valid` on become zeros (never-written slots may hold NaN); only a partial page
      // (partial: std::true_type) pays for the test.
      auto convert = [&](auto partial, int valid, int stage, const auto& raw, const auto& prm) {
        unsigned char* st = base_ptr + stage * PrefillSm90Smem::STAGE;
#pragma unroll
        for (int kv = 0; kv < 2; kv++)
#pragma unroll
          for (int i = 0; i < ROWS; i++) {
            const int row = r0 + STEP * i;
            const uint32_t wd[4] = {raw[kv][i].x, raw[kv][i].y, raw[kv][i].z, raw[kv][i].w};
#pragma unroll
            for (int j = 0; j < NCH; j++) {
              const int chunk = c * NCH + j;
              uint4 u = BITS == 8 ? dequant8_f16<8>(wd[2 * j], wd[2 * j + 1], prm[kv][i])
                                  : dequant8_f16<4>(wd[j], 0, prm[kv][i]);
              if (decltype(partial)::value && row >= valid) u = make_uint4(0, 0, 0, 0);
              *reinterpret_cast<uint4*>(st + kv * 16384 + (chunk >> 3) * 8192 + row * 128 +
                                        (((chunk & 7) ^ (row & 7)) << 4)) = u;
            }
          }
        // The consumers order these stores before their wgmma reads (fence.proxy.async after
        // their wait), as for the cp.async stages.
        mbar_arrive(full + 8 * stage);
      };
      // Page b from set A or B: the next page's loads go out, then the stage is awaited and filled.
      auto step = [&](int b, const auto& raw, const auto& prm, auto& next, auto& next_prm) {
        if (b + 1 < b1) fetch(b + 1, next, next_prm);
        mbar_wait(empty + 8 * stage, phase ^ 1);
        const int valid = it.valid(b);
        if (valid == PAGE_TOKENS) convert(std::false_type{}, valid, stage, raw, prm);
        else convert(std::true_type{}, valid, stage, raw, prm);
        if (++stage == PF90_STAGES) stage = 0, phase ^= 1;
      };
      if (b0 < b1) fetch(b0, raw_a, prm_a);
      for (int b = b0; b < b1; b += 2) {
        step(b, raw_a, prm_a, raw_b, prm_b);
        if (b + 1 < b1) step(b + 1, raw_b, prm_b, raw_a, prm_a);
      }
    }
    return;
  }

  if constexpr (BITS == 8) asm volatile("setmaxnreg.inc.sync.aligned.u32 184;\n");
  else asm volatile("setmaxnreg.inc.sync.aligned.u32 192;\n");
  const int cw = (threadIdx.x >> 5) - 4, lane = threadIdx.x & 31;
  const int head = it.head0 + (cw & (hpc - 1)), r0 = (cw >> hpc_log2) * 16;
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) ldmatrix_x4(qf[kk], sq + (cw * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
  if constexpr (F16) {  // fp16 pages: Q goes to fp16 too (saturating)
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
#pragma unroll
      for (int j = 0; j < 4; j++)
        qf[kk][j] = pack_f16(__uint_as_float(qf[kk][j] << 16), __uint_as_float(qf[kk][j] & 0xffff0000u));
  }

  float o[D / 2], s[32];
#pragma unroll
  for (int i = 0; i < D / 2; i++) o[i] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const float sl2 = scale * 1.4426950408889634f;
  const int qlo = it.p0 + r0;
  // Online softmax of s (in place, to P). The running maximum m only moves when some row of the
  // warp gains more than 2^8 over it (FA4's lazy rescaling): P then stays below 256, and the
  // output and sums are rescaled (by alpha) on few pages instead of every one. Returns whether
  // they must be.
  auto softmax = [&](float (&alpha)[2]) {
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < 8; n++) {
      mx[0] = fmaxf(mx[0], fmaxf(s[4 * n], s[4 * n + 1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[4 * n + 2], s[4 * n + 3]));
    }
    // The decision needs no row maximum: no row moves unless some lane's own maximum does, so the
    // quad's shuffles run only then (with int8 pages they were the consumers' largest stall).
    const bool rescale = __any_sync(0xffffffffu, mx[0] * sl2 > m[0] + 8.f || mx[1] * sl2 > m[1] + 8.f);
    float msub[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      alpha[r] = 1.f;
      if (rescale) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float mnew = fmaxf(m[r], mx[r] * sl2);
        alpha[r] = mnew == -INFINITY ? 1.f : exp2f(m[r] - mnew);
        m[r] = mnew;
        l[r] *= alpha[r];
      }
      msub[r] = m[r] == -INFINITY ? 0.f : m[r];
    }
#pragma unroll
    for (int i = 0; i < 32; i++) {
      const float p = exp2f(fmaf(s[i], sl2, -msub[(i >> 1) & 1]));
      s[i] = p;
      l[(i >> 1) & 1] += p;
    }
    return rescale;
  };
  uint32_t pa[4][4];
  auto pack_p = [&]() {
#pragma unroll
    for (int t = 0; t < 4; t++) {
#pragma unroll
      for (int j = 0; j < 4; j++) pa[t][j] = F16 ? pack_f16(s[8 * t + 2 * j], s[8 * t + 2 * j + 1])
                                                  : pack_bf16(s[8 * t + 2 * j], s[8 * t + 2 * j + 1]);
    }
  };
  auto issue_s = [&](int st) {
    const uint32_t k = base + st * PrefillSm90Smem::STAGE;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
      wgmma_qk<F16>(s, qf[kk], wg_desc(k + (kk >> 2) * 8192 + (kk & 3) * 32), kk);
  };
  auto issue_pv = [&](int st) {
    const uint32_t v = base + st * PrefillSm90Smem::STAGE + 16384;
#pragma unroll
    for (int t = 0; t < 4; t++) wgmma_pv<F16>(o, pa[t], wg_desc_n_major(v + t * 2048));
  };
  auto release = [&](int st) {
    if (lane == 0) mbar_arrive(empty + 8 * st);
  };

  // Page b0: S, softmax. Then per page b: S(b) and P V(b - 1) issued together; the softmax of b
  // runs once S(b) has retired, while P V(b - 1) may still run; O is rescaled after it.
  int stage = 0;
  uint32_t phase = 0;
  float alpha[2];
  mbar_wait(full, 0);
  fence_proxy_async();
  wgmma_fence();
  issue_s(0);
  wgmma_commit();
  wgmma_wait<0>();
  fence_acc<32>(s);
  it.mask(s, b0, it.logical(b0) * PAGE_TOKENS, qlo, lane);
  softmax(alpha);
  pack_p();
  int prev = 0;
  for (int b = b0 + 1; b < b1; b++) {
    if (++stage == PF90_STAGES) stage = 0, phase ^= 1;
    mbar_wait(full + 8 * stage, phase);
    fence_proxy_async();
    fence_acc<D / 2>(o);
    fence_regs<16>(&pa[0][0]);
    wgmma_fence();
    issue_s(stage);
    wgmma_commit();
    issue_pv(prev);
    wgmma_commit();
    wgmma_wait<1>();
    fence_acc<32>(s);
    it.mask(s, b, it.logical(b) * PAGE_TOKENS, qlo, lane);
    const bool rescale = softmax(alpha);
    wgmma_wait<0>();
    fence_acc<D / 2>(o);
    fence_regs<16>(&pa[0][0]);
    release(prev);
    if (rescale)
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      o[4 * n] *= alpha[0];
      o[4 * n + 1] *= alpha[0];
      o[4 * n + 2] *= alpha[1];
      o[4 * n + 3] *= alpha[1];
    }
    pack_p();
    prev = stage;
  }
  fence_acc<D / 2>(o);
  fence_regs<16>(&pa[0][0]);
  wgmma_fence();
  issue_pv(prev);
  wgmma_commit();
  wgmma_wait<0>();
  fence_acc<D / 2>(o);
  release(prev);

  // Rows' sums over the quad; write (o, m, l) as split `split`, m in natural-log units. With
  // out given (one split, no decode rows in the step), attn_merge's work is done here instead:
  // the row's own key and value (this thread's 32 channels of them) join, the result goes to out.
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int row = r0 + (lane >> 2) + 8 * r;
    if (out != nullptr) {
      const size_t qo = ((size_t)(row0 + row) * heads + head) * D, ko = ((size_t)(row0 + row) * kv_heads + h) * D;
      const int cl = (lane & 3) * 2;
      float self = 0.f;
      if (row < nrows)
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
          const float2 qv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(q + qo + 8 * n + cl));
          const float2 kv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(k_self + ko + 8 * n + cl));
          self = fmaf(qv.x, kv.x, self);
          self = fmaf(qv.y, kv.y, self);
        }
      self += __shfl_xor_sync(0xffffffffu, self, 1);
      self += __shfl_xor_sync(0xffffffffu, self, 2);
      if (row >= nrows) continue;
      self *= scale;
      const float mn = m[r] * 0.6931471805599453f, mx = fmaxf(self, mn);
      const float fs = expf(self - mx), f = m[r] == -INFINITY ? 0.f : expf(mn - mx), sum = fs + l[r] * f;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        const float2 vv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(v_self + ko + 8 * n + cl));
        *reinterpret_cast<__nv_bfloat162*>(out + qo + 8 * n + cl) = __floats2bfloat162_rn(
            (fs * vv.x + o[4 * n + 2 * r] * f) / sum, (fs * vv.y + o[4 * n + 2 * r + 1] * f) / sum);
      }
      continue;
    }
    if (row >= nrows) continue;
    const size_t at = ((size_t)(row0 + row) * heads + head) * splits + it.split;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *reinterpret_cast<float2*>(part_o + at * D + n * 8 + (lane & 3) * 2) =
          make_float2(o[4 * n + 2 * r], o[4 * n + 2 * r + 1]);
    if ((lane & 3) == 0) {
      part_ml[2 * at] = m[r] * 0.6931471805599453f;
      part_ml[2 * at + 1] = l[r];
    }
  }
}
#else
template <int BITS, bool F16 = BITS != 16>
__device__ void attn_prefill_wg(float*, float*, const bf16*, int, int, int, int, const int*, int, int, const int*, int,
                                const int*, const int*, const int*, int, const int*, KvPool, KvPool, int, int, float,
                                bf16*, const bf16*, const bf16*) {
  __trap();
}
#endif

// _f16: 16-bit pages holding fp16 values (kv_pages_f16's copies).
#define PREFILL_WG_ENTRY(NAME, BITS, F16)                                                                           \
  extern "C" __global__ void __launch_bounds__(PF90_THREADS, 1) attn_prefill_wg_##NAME##_d128(                    \
      float* part_o, float* part_ml, const bf16* q, int heads, int kv_heads, int splits, int kv_splits,             \
      const int* tiles, int ntiles, int hpc_log2, const int* head_order, int dense_kv_heads, const int* slice_info, \
      const int* page_tables, const int* rings, int sink_pages, const int* head_slot, void* rk, void* rv,           \
      __half* rkp, __half* rvp, int r_heads, void* sk, void* sv, __half* skp, __half* svp, int s_heads, int sink,   \
      int prefill_window, float scale, bf16* out, const bf16* k_self, const bf16* v_self) {                        \
    attn_prefill_wg<BITS, F16>(part_o, part_ml, q, heads, kv_heads, splits, kv_splits, tiles, ntiles, hpc_log2,     \
                               head_order, dense_kv_heads, slice_info, page_tables, rings, sink_pages, head_slot,   \
                               KvPool{rk, rv, rkp, rvp, r_heads}, KvPool{sk, sv, skp, svp, s_heads}, sink,          \
                               prefill_window, scale, out, k_self, v_self);                                         \
  }
PREFILL_WG_ENTRY(b16, 16, false)
PREFILL_WG_ENTRY(b8, 8, true)
PREFILL_WG_ENTRY(b4, 4, true)
PREFILL_WG_ENTRY(f16, 16, true)

// The pages a step's prefill tiles read (retrieval pages or streaming rings, one pool a launch),
// dequantized into 16-bit pages of fp16 values (as the producer converts them, dequant8_f16) so
// that attn_prefill_wg_f16 copies them as bf16 pages are copied: one block per (task, head),
// tasks[2 i] the pool page, tasks[2 i + 1] its page in the scratch. Unwritten slots may turn into
// NaN here; the kernel zero-fills them.
template <int BITS>
__device__ void kv_pages_f16(__half* keys, __half* values, KvPool pool, int d, const int* tasks) {
  const int page = tasks[2 * blockIdx.x], slot = tasks[2 * blockIdx.x + 1], head = blockIdx.y;
  const size_t src = kv_vector(page, pool.heads, head, 0), dst = kv_vector(slot, pool.heads, head, 0);
  const int chunks = d / 8;  // 8 channels: BITS bytes of codes
  for (int i = threadIdx.x; i < 2 * PAGE_TOKENS * chunks; i += blockDim.x) {
    const int kv = i / (PAGE_TOKENS * chunks), row = i / chunks % PAGE_TOKENS, c = i % chunks;
    const unsigned char* codes = static_cast<const unsigned char*>(kv ? pool.values : pool.keys);
    const __half* params = kv ? pool.value_params : pool.key_params;
    const size_t vec = src + row;
    const RawCodes<BITS, 8> w = load_codes<BITS, 8>(codes, vec, d, c * 8);
    uint32_t w1 = 0;
    if constexpr (BITS == 8) w1 = w.w[1];
    const __half2 sz = *reinterpret_cast<const __half2*>(params + 2 * vec);
    *reinterpret_cast<uint4*>((kv ? values : keys) + (dst + row) * d + c * 8) = dequant8_f16<BITS>(w.w[0], w1, sz);
  }
}
#define KV_PAGES_F16_ENTRY(BITS)                                                                                    \
  extern "C" __global__ void __launch_bounds__(128) kv_pages_f16_b##BITS(                                         \
      __half* keys, __half* values, void* pk, void* pv, __half* pkp, __half* pvp, int heads, int d,               \
      const int* tasks) {                                                                                         \
    kv_pages_f16<BITS>(keys, values, KvPool{pk, pv, pkp, pvp, heads}, d, tasks);                                  \
  }
KV_PAGES_F16_ENTRY(8)
KV_PAGES_F16_ENTRY(4)
