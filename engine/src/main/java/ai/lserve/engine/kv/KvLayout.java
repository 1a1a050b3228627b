package ai.lserve.engine.kv;

import ai.lserve.engine.sparse.HeadPattern;

/**
 * What the paged KV cache holds. Retrieval heads keep every token in physical pages of
 * {@link #PAGE_TOKENS} tokens, plus, when {@code stats} is on, the channel-wise min and max of the
 * keys of each logical page of {@link #LOGICAL_TOKENS} tokens. Streaming heads keep only their sink
 * pages and a ring of recent pages, in a second pool. One page id serves every layer: a layer's
 * share of a page is sized by that layer's own number of retrieval (or streaming) heads.
 */
public record KvLayout(int layers, int kvHeads, int headDim, KvFormat format, HeadPattern pattern, boolean stats) {
  public static final int PAGE_TOKENS = 64;
  public static final int LOGICAL_TOKENS = 16;
  public static final int LOGICAL_PER_PAGE = PAGE_TOKENS / LOGICAL_TOKENS;

  /** Every head retrieval, no statistics: the dense cache. */
  public static KvLayout dense(int layers, int kvHeads, int headDim, KvFormat format) {
    return new KvLayout(layers, kvHeads, headDim, format, HeadPattern.allRetrieval(layers, kvHeads), false);
  }

  public int retrievalHeads(int layer) {
    return pattern.retrievalHeads(layer).length;
  }

  public int streamingHeads(int layer) {
    return pattern.streamingHeads(layer).length;
  }

  public boolean hasStreaming() {
    return pattern.streamingCount() > 0;
  }

  /** Keys (or values) of one head for one page. */
  public long headPageBytes() {
    return PAGE_TOKENS * format.bytesPerHeadToken(headDim);
  }

  /** Key min and max (fp16) of the logical pages of one head's page. */
  public long statsBytesPerHeadPage() {
    return stats ? 2L * LOGICAL_PER_PAGE * headDim * 2 : 0;
  }

  /** One retrieval page across all layers: keys, values and key statistics. */
  public long retrievalPageBytes() {
    long heads = 0;
    for (int l = 0; l < layers; l++) heads += retrievalHeads(l);
    return heads * (2 * headPageBytes() + statsBytesPerHeadPage());
  }

  /** One streaming page across all layers: keys and values. */
  public long streamingPageBytes() {
    long heads = 0;
    for (int l = 0; l < layers; l++) heads += streamingHeads(l);
    return heads * 2 * headPageBytes();
  }

  public static int pagesFor(long tokens) {
    return (int) ((tokens + PAGE_TOKENS - 1) / PAGE_TOKENS);
  }

  /** The most pages {@code tokens} consecutive tokens can touch, wherever they start. */
  public static int span(int tokens) {
    return tokens <= 0 ? 0 : (tokens - 1 + PAGE_TOKENS - 1) / PAGE_TOKENS + 1;
  }
}
