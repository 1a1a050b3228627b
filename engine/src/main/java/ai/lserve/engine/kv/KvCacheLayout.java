package ai.lserve.engine.kv;

/**
 * Shape of the paged KV cache: every layer keeps, per physical page of {@link #PAGE_TOKENS}
 * tokens, the keys and values of all its KV heads. The same page id serves every layer, so a
 * sequence needs one page table.
 */
public record KvCacheLayout(int layers, int kvHeads, int headDim, KvFormat format) {
  public static final int PAGE_TOKENS = 64;

  /** Bytes one physical page takes across all layers, keys and values. */
  public long bytesPerPage() {
    return 2L * layers * kvHeads * format.bytesPerHeadToken(headDim) * PAGE_TOKENS;
  }

  public static int pagesFor(long tokens) {
    return (int) ((tokens + PAGE_TOKENS - 1) / PAGE_TOKENS);
  }
}
