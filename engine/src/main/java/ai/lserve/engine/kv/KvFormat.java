package ai.lserve.engine.kv;

/** How one token of one KV head is stored in a page. */
public enum KvFormat {
  F32(32);

  public final int bits;

  KvFormat(int bits) {
    this.bits = bits;
  }

  /** Storage for one (token, head) vector of {@code headDim} channels. */
  public long bytesPerHeadToken(int headDim) {
    return (long) headDim * bits / 8;
  }
}
