package ai.lserve.engine.kv;

/**
 * How one token of one KV head is stored in a page: float32 (CPU reference), bf16, or int8/int4
 * codes with a per-(token, head) fp16 scale and zero kept in the page (QServe "fine-grained").
 */
public enum KvFormat {
  F32(32), BF16(16), INT8(8), INT4(4);

  public final int bits;

  KvFormat(int bits) {
    this.bits = bits;
  }

  public boolean quantized() {
    return bits <= 8;
  }

  /** Bytes of one (token, head) vector of {@code headDim} channels, scale and zero included. */
  public long bytesPerHeadToken(int headDim) {
    return (long) headDim * bits / 8 + (quantized() ? 4 : 0);
  }

  public static KvFormat ofBits(int bits) {
    for (KvFormat f : values()) if (f.bits == bits) return f;
    throw new IllegalArgumentException("kv-bits must be 32, 16, 8 or 4, got " + bits);
  }
}
