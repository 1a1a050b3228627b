package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.Quantizer;

/**
 * Keys or values of some heads of one layer, for every page of a pool, laid out
 * [page][head][slot][channel] in the cache's format: float32, bf16, or int8/int4 codes with an
 * fp16 (scale, zero) pair per vector.
 */
final class PageStore {
  private final KvFormat format;
  private final int heads, headDim;
  private final float[] f32;
  private final short[] bf16, params;
  private final byte[] codes;
  private final int codeBytes;

  PageStore(KvFormat format, int pages, int heads, int headDim) {
    this.format = format;
    this.heads = heads;
    this.headDim = headDim;
    long vectors = (long) pages * heads * KvLayout.PAGE_TOKENS;
    this.codeBytes = headDim * format.bits / 8;
    long elements = vectors * (format == KvFormat.F32 || format == KvFormat.BF16 ? headDim : codeBytes);
    if (elements > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException("CPU KV pool of " + pages + " pages exceeds one Java array per layer; lower kv-cache-bytes");
    f32 = format == KvFormat.F32 ? new float[(int) elements] : null;
    bf16 = format == KvFormat.BF16 ? new short[(int) elements] : null;
    codes = format.quantized() ? new byte[(int) elements] : null;
    params = format.quantized() ? new short[(int) vectors * 2] : null;
  }

  /** Bytes held: codes (or values) plus scale and zero. */
  long bytes() {
    if (f32 != null) return 4L * f32.length;
    if (bf16 != null) return 2L * bf16.length;
    return codes.length + 2L * params.length;
  }

  private int vector(int page, int head, int slot) {
    return (page * heads + head) * KvLayout.PAGE_TOKENS + slot;
  }

  void write(int page, int head, int slot, float[] src, int off) {
    int v = vector(page, head, slot);
    switch (format) {
      case F32 -> System.arraycopy(src, off, f32, v * headDim, headDim);
      case BF16 -> {
        for (int c = 0; c < headDim; c++) bf16[v * headDim + c] = Fp16.bf16FromFloat(src[off + c]);
      }
      default -> Quantizer.quantize(src, off, headDim, format.bits, codes, v * codeBytes, params, v * 2);
    }
  }

  /** Dequantizes one vector into dst[off ..]. */
  void read(int page, int head, int slot, float[] dst, int off) {
    int v = vector(page, head, slot);
    switch (format) {
      case F32 -> System.arraycopy(f32, v * headDim, dst, off, headDim);
      case BF16 -> {
        for (int c = 0; c < headDim; c++) dst[off + c] = Fp16.bf16ToFloat(bf16[v * headDim + c]);
      }
      default -> Quantizer.dequantize(codes, v * codeBytes, headDim, format.bits, params, v * 2, dst, off);
    }
  }
}
