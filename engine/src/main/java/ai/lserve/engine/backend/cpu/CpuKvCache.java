package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvCacheLayout;

/**
 * Float32 KV pages on the Java heap. Per layer one array for keys and one for values, laid out
 * [page][kv head][slot][channel], so one head's tokens of one page are contiguous.
 */
final class CpuKvCache implements KvCache {
  private final KvCacheLayout layout;
  private final int pages;
  final float[][] keys, values;

  CpuKvCache(KvCacheLayout layout, int pages) {
    this.layout = layout;
    this.pages = pages;
    long perLayer = (long) pages * layout.kvHeads() * KvCacheLayout.PAGE_TOKENS * layout.headDim();
    if (perLayer > Integer.MAX_VALUE - 8)
      throw new IllegalArgumentException(
          "CPU KV cache of " + pages + " pages exceeds one Java array per layer; lower kv-cache-bytes");
    keys = new float[layout.layers()][(int) perLayer];
    values = new float[layout.layers()][(int) perLayer];
  }

  /** Offset of (page, head, slot) in a layer's key or value array. */
  int offset(int page, int head, int slot) {
    return ((page * layout.kvHeads() + head) * KvCacheLayout.PAGE_TOKENS + slot) * layout.headDim();
  }

  @Override
  public KvCacheLayout layout() {
    return layout;
  }

  @Override
  public int pages() {
    return pages;
  }

  @Override
  public void close() {}
}
