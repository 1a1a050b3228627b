package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.PageSelector;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import jcuda.driver.CUdeviceptr;

/**
 * The paged KV cache in GPU memory, laid out as the CPU backend's (see kernels/src/kv_layout.cuh):
 * per layer a retrieval pool and a streaming pool of codes plus fp16 (scale, zero) per vector when
 * quantized, and the retrieval keys' per-logical-page fp16 max and min. bf16, int8 or int4 pages.
 * In lserve mode it also holds the page selections on the device (the kernels write and read them;
 * the host only keeps when each was made, to decide when the next is due).
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
  /** The most retrieval heads, and streaming heads, of a layer. */
  final int maxRetrievalHeads, maxStreamingHeads;
  /** Sequences whose selections the device holds at once (the slots of {@link #selected}). */
  static final int SELECTION_SLOTS = 256;
  /**
   * Per layer (null without retrieval heads or outside lserve mode): per slot, per selector row (a
   * retrieval head, or each of its up to MAX_GROUP query heads), maxRanked ascending page ids.
   */
  final CUdeviceptr[] selected;
  /** Ranked pages a selection keeps at most (the budget's pages less the newest, read live). */
  final int maxRanked;
  private final int slots;
  private final Map<SequenceKv, Selections> owners = new IdentityHashMap<>();
  private final ArrayDeque<Integer> freeSlots = new ArrayDeque<>();

  /** The host's record of one sequence's device selections, per layer. */
  private static final class Selections {
    final int slot;
    final int[] selectedAt, newest, ranked;

    Selections(int slot, int layers) {
      this.slot = slot;
      selectedAt = new int[layers];
      newest = new int[layers];
      ranked = new int[layers];
      Arrays.fill(selectedAt, -1);
    }
  }

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
    selected = new CUdeviceptr[n];
    maxRanked = Math.max(3, policy.budget() / KvLayout.PAGE_TOKENS) - 1;
    slots = Math.min(SELECTION_SLOTS, Math.max(1, retrievalPages));
    for (int i = 0; i < slots; i++) freeSlots.add(i);
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
      if (policy.selectPages() && ret.length > 0 && retrievalPages > 0) {
        long bytes = 4L * this.slots * slotStride(l);
        selected[l] = arena.allocate(bytes, "page selections of layer " + l);
        total += bytes;
      }
    }
    this.bytes = total;
    this.maxRetrievalHeads = Arrays.stream(retrieval).mapToInt(Pool::heads).max().orElse(0);
    this.maxStreamingHeads = Arrays.stream(streaming).mapToInt(Pool::heads).max().orElse(0);
  }

  /** Ints of one slot's selections in layer l's store. */
  int slotStride(int layer) {
    int rows = layout.pattern().retrievalHeads(layer).length;
    return rows * (policy.selection() == SparseConfig.Selection.QUERY_HEAD
        ? CudaAttention.MAX_GROUP : 1) * maxRanked;
  }

  /** Whether this decode slice's retrieval heads read selected pages (as CpuAttention decides). */
  boolean selecting(StepBatch.Slice s) {
    return policy.selectPages() && s.decode() && s.start() + 1 > policy.budget();
  }

  /**
   * The step's selection entries, per layer per slice: {slot, due, ranked, newest}: the slice's
   * slot in the store (-1 when it reads no selected pages), whether the kernels select anew this
   * step (the last selection is reuse_interval tokens old, or the slot is new), how many ranked
   * pages the selection holds, and the newest page at selection time (the candidates are the
   * pages before it; it and every later page are read live). Slots of sequences absent from the
   * batch are given back.
   */
  int[] selectionEntries(StepBatch batch) {
    int layers = layout.layers(), n = batch.slices().size();
    int[] out = new int[layers * n * 4];
    Set<SequenceKv> present = Collections.newSetFromMap(new IdentityHashMap<>());
    for (StepBatch.Slice s : batch.slices()) present.add(s.kv());
    for (Iterator<Map.Entry<SequenceKv, Selections>> it = owners.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<SequenceKv, Selections> e = it.next();
      if (!present.contains(e.getKey())) {
        freeSlots.add(e.getValue().slot);
        it.remove();
      }
    }
    for (int i = 0; i < n; i++) {
      StepBatch.Slice s = batch.slices().get(i);
      Selections sel = null;
      if (selecting(s)) {
        sel = owners.get(s.kv());
        if (sel == null) {
          Integer slot = freeSlots.poll();
          if (slot == null)
            throw new IllegalStateException("more than " + slots + " sequences select KV pages at once on the GPU;"
                + " lower max-running");
          sel = new Selections(slot, layers);
          owners.put(s.kv(), sel);
        }
      }
      int tokens = s.start() + 1;
      for (int l = 0; l < layers; l++) {
        int at = (l * n + i) * 4;
        if (sel == null || selected[l] == null) {
          out[at] = -1;
          continue;
        }
        boolean due = sel.selectedAt[l] < 0 || tokens - sel.selectedAt[l] >= policy.reuseInterval();
        if (due) {
          sel.selectedAt[l] = tokens;
          sel.newest[l] = KvLayout.pagesFor(tokens) - 1;
          sel.ranked[l] = Math.max(0, Math.min(PageSelector.pagesToKeep(tokens, policy.budget()) - 1, sel.newest[l]));
        }
        out[at] = sel.slot;
        out[at + 1] = due ? 1 : 0;
        out[at + 2] = sel.ranked[l];
        out[at + 3] = sel.newest[l];
      }
    }
    return out;
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
