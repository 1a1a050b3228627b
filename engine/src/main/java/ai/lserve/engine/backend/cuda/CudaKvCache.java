package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.sparse.AttentionPolicy;
import java.util.Arrays;
import jcuda.driver.CUdeviceptr;

/**
 * The paged KV cache in GPU memory, laid out as the CPU backend's (see kernels/src/kv_layout.cuh):
 * per layer a retrieval pool and a streaming pool of codes plus fp16 (scale, zero) per vector when
 * quantized, and the retrieval keys' per-logical-page fp16 max and min. bf16, int8 or int4 pages.
 */
final class CudaKvCache implements KvCache {
  /** One pool of one layer; null pointers when the layer has no head of its kind. */
  record Pool(CUdeviceptr keys, CUdeviceptr values, CUdeviceptr keyParams, CUdeviceptr valueParams, int heads) {}

  private final KvLayout layout;
  private final AttentionPolicy policy;
  private final int retrievalPages, streamingPages;
  private final long bytes;
  final Pool[] retrieval, streaming;
  final CUdeviceptr[] keyMax, keyMin;
  /** Per layer, per KV head: its slot in the retrieval pool, or -1 - its slot in the streaming pool. */
  final CUdeviceptr[] headSlot;
  /** Per layer: the KV head of each retrieval slot. */
  final CUdeviceptr[] retrievalHeads;
  /** Per layer: the retrieval KV heads, then the streaming ones (the prefill kernel's work order). */
  final CUdeviceptr[] headOrder;

  CudaKvCache(DeviceArena arena, Transfers transfers, KvLayout layout, AttentionPolicy policy, int retrievalPages,
      int streamingPages) {
    if (layout.format() == KvFormat.F32)
      throw new IllegalArgumentException("float32 KV pages are CPU-only; on a GPU use kv-bits 16, 8 or 4");
    this.layout = layout;
    this.policy = policy;
    this.retrievalPages = retrievalPages;
    this.streamingPages = streamingPages;
    int n = layout.layers(), d = layout.headDim();
    retrieval = new Pool[n];
    streaming = new Pool[n];
    keyMax = new CUdeviceptr[n];
    keyMin = new CUdeviceptr[n];
    headSlot = new CUdeviceptr[n];
    retrievalHeads = new CUdeviceptr[n];
    headOrder = new CUdeviceptr[n];
    long total = 0;
    for (int l = 0; l < n; l++) {
      int[] ret = layout.pattern().retrievalHeads(l), str = layout.pattern().streamingHeads(l);
      retrieval[l] = pool(arena, retrievalPages, ret.length, "retrieval KV pages of layer " + l);
      streaming[l] = pool(arena, streamingPages, str.length, "streaming KV pages of layer " + l);
      total += poolBytes(retrievalPages, ret.length) + poolBytes(streamingPages, str.length);
      if (layout.stats() && ret.length > 0) {
        long statBytes = (long) retrievalPages * ret.length * KvLayout.LOGICAL_PER_PAGE * d * 2;
        keyMax[l] = arena.allocate(statBytes, "key statistics of layer " + l);
        keyMin[l] = arena.allocate(statBytes, "key statistics of layer " + l);
        total += 2 * statBytes;
      }
      int[] slots = new int[layout.kvHeads()];
      for (int i = 0; i < ret.length; i++) slots[ret[i]] = i;
      for (int i = 0; i < str.length; i++) slots[str[i]] = -1 - i;
      headSlot[l] = permanent(arena, transfers, slots);
      retrievalHeads[l] = permanent(arena, transfers, ret);
      int[] order = Arrays.copyOf(ret, ret.length + str.length);
      System.arraycopy(str, 0, order, ret.length, str.length);
      headOrder[l] = permanent(arena, transfers, order);
    }
    this.bytes = total;
  }

  private static CUdeviceptr permanent(DeviceArena arena, Transfers transfers, int[] values) {
    CUdeviceptr p = arena.allocate(4L * Math.max(1, values.length), "KV head tables");
    transfers.upload(p, 4L * values.length, b -> b.asIntBuffer().put(values));
    return p;
  }

  private long codeBytes(int pages, int heads) {
    return (long) pages * heads * KvLayout.PAGE_TOKENS * layout.headDim() * layout.format().bits / 8;
  }

  private long poolBytes(int pages, int heads) {
    return 2 * (codeBytes(pages, heads) + (layout.format().quantized() ? (long) pages * heads * KvLayout.PAGE_TOKENS * 4 : 0));
  }

  private Pool pool(DeviceArena arena, int pages, int heads, String what) {
    if (heads == 0 || pages == 0) return new Pool(null, null, null, null, 0);
    long codes = codeBytes(pages, heads), params = (long) pages * heads * KvLayout.PAGE_TOKENS * 4;
    boolean q = layout.format().quantized();
    return new Pool(arena.allocate(codes, what), arena.allocate(codes, what),
        q ? arena.allocate(params, what) : null, q ? arena.allocate(params, what) : null, heads);
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
    return bytes;
  }

  /** The pages live in the engine's arena and go with it. */
  @Override
  public void close() {}
}
