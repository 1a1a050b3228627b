package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.sparse.AttentionPolicy;

/**
 * The KV cache on the Java heap: per layer, the retrieval heads' keys and values in the retrieval
 * pool, the streaming heads' in the streaming pool, and the retrieval keys' per-logical-page
 * channel min and max (fp16, laid out [page][head][logical page][channel]).
 */
final class CpuKvCache implements KvCache {
  private final KvLayout layout;
  private final AttentionPolicy policy;
  private final int retrievalPages, streamingPages;
  final PageStore[] keys, values, streamingKeys, streamingValues;
  final short[][] keyMax, keyMin;
  /** Position of each KV head in its layer's retrieval (or streaming) pool. */
  final int[][] slotOfHead;

  CpuKvCache(KvLayout layout, AttentionPolicy policy, int retrievalPages, int streamingPages) {
    this.layout = layout;
    this.policy = policy;
    this.retrievalPages = retrievalPages;
    this.streamingPages = streamingPages;
    int n = layout.layers(), d = layout.headDim();
    keys = new PageStore[n];
    values = new PageStore[n];
    streamingKeys = new PageStore[n];
    streamingValues = new PageStore[n];
    keyMax = new short[n][];
    keyMin = new short[n][];
    slotOfHead = new int[n][layout.kvHeads()];
    for (int l = 0; l < n; l++) {
      int r = layout.retrievalHeads(l), s = layout.streamingHeads(l);
      keys[l] = new PageStore(layout.format(), retrievalPages, r, d);
      values[l] = new PageStore(layout.format(), retrievalPages, r, d);
      if (s > 0) {
        streamingKeys[l] = new PageStore(layout.format(), streamingPages, s, d);
        streamingValues[l] = new PageStore(layout.format(), streamingPages, s, d);
      }
      if (layout.stats()) {
        keyMax[l] = new short[retrievalPages * r * KvLayout.LOGICAL_PER_PAGE * d];
        keyMin[l] = new short[keyMax[l].length];
      }
      int[] ret = layout.pattern().retrievalHeads(l), str = layout.pattern().streamingHeads(l);
      for (int i = 0; i < ret.length; i++) slotOfHead[l][ret[i]] = i;
      for (int i = 0; i < str.length; i++) slotOfHead[l][str[i]] = i;
    }
  }

  private int statsOffset(int layer, int page, int head, int logical) {
    int r = layout.retrievalHeads(layer);
    return ((page * r + head) * KvLayout.LOGICAL_PER_PAGE + logical) * layout.headDim();
  }

  /** Folds a key into its logical page's min and max; the page's first token starts them afresh. */
  void updateStats(int layer, int page, int head, int slot, float[] key, int off) {
    int o = statsOffset(layer, page, head, slot / KvLayout.LOGICAL_TOKENS);
    boolean first = slot % KvLayout.LOGICAL_TOKENS == 0;
    short[] mx = keyMax[layer], mn = keyMin[layer];
    for (int c = 0; c < layout.headDim(); c++) {
      short h = Fp16.fromFloat(key[off + c]);
      float v = Fp16.toFloat(h);
      if (first || v > Fp16.toFloat(mx[o + c])) mx[o + c] = h;
      if (first || v < Fp16.toFloat(mn[o + c])) mn[o + c] = h;
    }
  }

  /** The min and max of one logical page, as floats. */
  void readStats(int layer, int page, int head, int logical, float[] max, float[] min) {
    int o = statsOffset(layer, page, head, logical);
    for (int c = 0; c < layout.headDim(); c++) {
      max[c] = Fp16.toFloat(keyMax[layer][o + c]);
      min[c] = Fp16.toFloat(keyMin[layer][o + c]);
    }
  }

  AttentionPolicy policy() {
    return policy;
  }

  @Override
  public KvLayout layout() {
    return layout;
  }

  @Override
  public int retrievalPages() {
    return retrievalPages;
  }

  @Override
  public int streamingPages() {
    return streamingPages;
  }

  @Override
  public long allocatedBytes() {
    long b = 0;
    for (int l = 0; l < layout.layers(); l++) {
      b += keys[l].bytes() + values[l].bytes();
      if (streamingKeys[l] != null) b += streamingKeys[l].bytes() + streamingValues[l].bytes();
      if (keyMax[l] != null) b += 2L * (keyMax[l].length + keyMin[l].length);
    }
    return b;
  }

  @Override
  public void close() {}
}
