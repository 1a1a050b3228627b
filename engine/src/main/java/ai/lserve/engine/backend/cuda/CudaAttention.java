package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * One layer's attention on the GPU, with the CPU backend's semantics (CpuAttention is the
 * reference): rotate q and k and append k and v to their pages (quantized, with key statistics),
 * refresh the page selections that are due (scores and top-k on the GPU, written to the cache's
 * selection store that attention reads; nothing comes back to the host), then attend over each row's visible
 * pages (prefill tiles on tensor cores, decode rows in KV splits on CUDA cores) and merge the
 * splits with the row's own key and value (in the paged kernel itself when a step has no prefill
 * tiles, else in attn_merge).
 */
final class CudaAttention {
  static final int MAX_GROUP = 8, MAX_HEAD_DIM = 256;

  private final Launcher launcher;
  private final Transfers transfers;
  private final DeviceArena arena;
  private final int multiprocessors, maxSharedBytes;
  private final boolean hopper;
  /** This step's attention partial results, shared by its layers (scratch lives for a whole step). */
  private CUdeviceptr partO, partMl;
  private long partGeneration = -1, partEntries;
  /** This step's fp16 copies of the prefill slices' quantized pages, rewritten by each layer. */
  private CUdeviceptr f16Keys, f16Values;
  private long f16Generation = -1;
  /** Scratch a step leaves free for what it allocates after the fp16 pages (metadata, tile lists). */
  private static final long F16_HEADROOM = 64L << 20;

  /** Finished-split counters of the paged kernel's fused merge, one per (row, head group); all 0 between launches. */
  private final CUdeviceptr splitCounters;
  private static final int SPLIT_COUNTERS = 1 << 16;

  /**
   * {@code maxSharedBytes}: a block's opt-in shared memory; prefill tiles that need more (bf16 d
   * 128 on an A100 or an sm_89 GPU) run on the CUDA-core kernel instead. {@code hopper}: compute
   * capability 9.0, where head dim 128 prefills on the wgmma kernel (attention_prefill_sm90.cuh).
   */
  CudaAttention(Launcher launcher, Transfers transfers, DeviceArena arena, int multiprocessors, int maxSharedBytes,
      boolean hopper) {
    this.maxSharedBytes = maxSharedBytes;
    this.hopper = hopper;
    this.launcher = launcher;
    this.transfers = transfers;
    this.arena = arena;
    this.multiprocessors = multiprocessors;
    this.splitCounters = arena.allocate(4L * SPLIT_COUNTERS, "attention split counters");
    transfers.upload(splitCounters, 4L * SPLIT_COUNTERS, b -> b.put(new byte[4 * SPLIT_COUNTERS]));
  }

  /** {@code invFreq} null: q and k arrive rotated. */
  void run(CudaTensor out, CudaTensor q, CudaTensor k, CudaTensor v, int layer, StepMeta meta, CudaKvCache cache,
      CUdeviceptr invFreq) {
    KvLayout l = cache.layout();
    AttentionPolicy p = cache.policy();
    int d = l.headDim(), kvHeads = l.kvHeads(), heads = q.cols() / d, group = heads / kvHeads, rows = q.rows();
    check(d, group);
    String bits = String.valueOf(l.format().bits);
    CudaKvCache.Pool ret = cache.retrieval[layer], str = cache.streaming[layer];
    int sinkPages = l.hasStreaming() ? p.sink() / KvLayout.PAGE_TOKENS : 0;
    // Key statistics: in a decode step rope_append updates them (one launch fewer per layer).
    boolean stats = l.stats() && ret.heads() > 0, foldStats = stats && meta.decodeOnly;
    launcher.launch("rope_append_" + (l.format().bits == 16 ? "bf16" : "int" + bits), rows, (heads + kvHeads + 3) / 4,
        1, 128, 0, q.ptr(), k.ptr(), v.ptr(), invFreq, heads, kvHeads, d, meta.rowSlice, meta.sliceInfo, meta.pageTables,
        meta.rings, sinkPages, cache.headSlot[layer], ret.keys(), ret.values(), ret.keyParams(), ret.valueParams(),
        ret.heads(), str.keys(), str.values(), str.keyParams(), str.valueParams(), str.heads(),
        foldStats ? cache.keyMax[layer] : null, foldStats ? cache.keyMin[layer] : null);
    if (stats && !foldStats)
      launcher.launch("kv_key_stats", meta.statsTaskCount, ret.heads(), 1, roundUp(d, 32), 0, k.ptr(), kvHeads, d,
          meta.statsTasks, meta.sliceInfo, meta.pageTables, cache.retrievalHeads[layer], cache.keyMax[layer],
          cache.keyMin[layer], ret.heads());

    boolean perQuery = p.selection() == SparseConfig.Selection.QUERY_HEAD;
    int selRows = perQuery ? ret.heads() * group : ret.heads();
    boolean anySelecting = ret.heads() > 0 && meta.selecting(layer);
    CUdeviceptr sel = anySelecting ? meta.selection(layer) : null;
    if (anySelecting && meta.due(layer)) select(q, layer, meta, cache, sel, selRows, perQuery);
    List<StepBatch.Slice> slices = meta.batch.slices();

    // Prefill rows go to the tensor-core kernel (head dims 64 and 128, where its shared memory
    // fits; wgmma on Hopper at head dim 128) in tiles of PREFILL_M / hpc rows of one sequence, hpc
    // query heads of a GQA group per CTA; decode rows, and other prefill rows, to the CUDA-core kernel.
    boolean wgmma = wgmma(d);
    boolean tensorCores = wgmma || (d == 64 || d == 128) && prefillSharedBytes(l.format().bits, d) <= maxSharedBytes;
    int hpc = Integer.lowestOneBit(group), tileRows = PREFILL_M / hpc;
    StepMeta.IntList pagedRows = new StepMeta.IntList();
    List<int[]> tiles = new ArrayList<>(); // {slice, first row, rows, keys before its last row}
    int maxTilePages = 0;
    for (int s = 0; s < slices.size(); s++) {
      StepBatch.Slice sl = slices.get(s);
      if (tensorCores && !sl.decode()) {
        for (int i = 0; i < sl.count(); i += tileRows) {
          int n = Math.min(tileRows, sl.count() - i), keys = sl.start() + i + n - 1;
          tiles.add(new int[] {s, sl.row() + i, n, keys});
          maxTilePages = Math.max(maxTilePages, KvLayout.pagesFor(keys));
        }
      } else {
        for (int i = 0; i < sl.count(); i++) pagedRows.add(sl.row() + i);
      }
    }
    int groupSplit = perQuery && anySelecting ? group : 1;
    long ctas = (long) pagedRows.size * kvHeads * groupSplit;
    // KV splits of decode rows: enough blocks to fill the GPU, each warp with at least 32 keys
    // (two units per page; a warp's keys are a serial chain of loads, so shorter is faster).
    int streamingPages = l.hasStreaming() ? KvLayout.pagesFor(p.sink()) + KvLayout.pagesFor(p.local()) + 1 : 0;
    int walk = meta.walkPages(layer, streamingPages);
    int decodeSplits = ctas == 0 ? 1
        : (int) Math.max(1, Math.min(Math.min(64, (2 * walk + 3) / 4), (8L * multiprocessors + ctas - 1) / ctas));
    int prefillWanted = prefillSplits(tiles.size() * kvHeads * (group / hpc), maxTilePages, multiprocessors);
    // One merge for both kinds of rows; the partial results hold rows x splits entries, capped so
    // that a step mixing long prefill chunks with decode rows stays within the reserved scratch.
    int splits = Math.min(Math.max(decodeSplits, prefillWanted), maxSplits(rows));
    int prefillSplits = Math.min(prefillWanted, splits);
    partials((long) rows * heads * maxSplits(rows), d);
    float scale = (float) (1.0 / Math.sqrt(d));
    // Without prefill tiles the paged kernel's last split per (row, head group) merges them.
    boolean fuseMerge = tiles.isEmpty() && ctas <= SPLIT_COUNTERS;
    boolean tileMerge = wgmma && !tiles.isEmpty() && pagedRows.size == 0 && splits == 1;
    if (pagedRows.size > 0)
      launcher.launch(pagedKernel(bits, d, group / groupSplit), pagedRows.size, kvHeads * groupSplit, splits,
          128, 0, partO, partMl, pagedRows.size == rows ? null : transfers.ints(pagedRows.array(), pagedRows.size),
          q.ptr(), heads, kvHeads, d, splits, groupSplit, meta.rowSlice, meta.sliceInfo, meta.pageTables, meta.rings,
          sinkPages, cache.headSlot[layer], ret.keys(), ret.values(), ret.keyParams(), ret.valueParams(), ret.heads(),
          str.keys(), str.values(), str.keyParams(), str.valueParams(), str.heads(), sel,
          anySelecting ? cache.selected[layer] : null, anySelecting ? cache.slotStride(layer) : 0, cache.maxRanked,
          perQuery ? 1 : 0, p.sink(), p.local(), p.prefillLocal() - 1, scale, fuseMerge ? out.ptr() : null,
          k.ptr(), v.ptr(), fuseMerge ? splitCounters : null);
    if (!tiles.isEmpty()) {
      tiles.sort((a, b) -> Integer.compare(b[3], a[3])); // longest first: the last CTAs are short
      int[] flat = new int[3 * tiles.size()];
      for (int i = 0; i < tiles.size(); i++) System.arraycopy(tiles.get(i), 0, flat, 3 * i, 3);
      CUdeviceptr tileList = transfers.ints(flat);
      int perHead = tiles.size() * (group / hpc) * prefillSplits; // work items (CTAs) of one KV head
      if (!wgmma) {
        launcher.launch("attn_prefill_b" + bits + "_d" + d, kvHeads * perHead, 1, 1, PREFILL_THREADS,
            prefillSharedBytes(l.format().bits, d), prefillArgs(q, heads, kvHeads, splits, prefillSplits, tileList,
                tiles.size(), hpc, layer, meta, meta.pageTables, meta.rings, cache, ret, str, p, scale).toArray());
      } else {
        String kernel = "attn_prefill_wg_b" + bits + "_d" + d;
        CUdeviceptr tables = meta.pageTables, rings = meta.rings;
        CudaKvCache.Pool retPages = ret, strPages = str;
        if (f16Pages(meta, cache, d)) {
          // Quantized pages: dequantized to fp16 once per layer, then read as 16-bit pages (the
          // producer's conversion per tile cost ~20% of the kernel's rate at 2048-row chunks).
          CUdeviceptr sk = f16Keys.withByteOffset(f16PageBytes(meta.prefillPages, cache.maxRetrievalHeads, d));
          CUdeviceptr sv = f16Values.withByteOffset(f16PageBytes(meta.prefillPages, cache.maxRetrievalHeads, d));
          launcher.launch("kv_pages_f16_b" + bits, meta.prefillPages, ret.heads(), 1, 128, 0, f16Keys, f16Values,
              ret.keys(), ret.values(), ret.keyParams(), ret.valueParams(), ret.heads(), d, meta.prefillTasks);
          launcher.launch("kv_pages_f16_b" + bits, meta.prefillRingPages, str.heads(), 1, 128, 0, sk, sv, str.keys(),
              str.values(), str.keyParams(), str.valueParams(), str.heads(), d, meta.prefillRingTasks);
          kernel = "attn_prefill_wg_f16_d" + d;
          tables = meta.prefillTables;
          rings = meta.prefillRings;
          retPages = new CudaKvCache.Pool(f16Keys, f16Values, null, null, ret.heads());
          strPages = new CudaKvCache.Pool(sk, sv, null, null, str.heads());
        }
        // The wgmma kernel merges in place (its rows' own keys and values, the output) when every
        // row of the step is a prefill row of a one-split tile.
        List<Object> a = prefillArgs(q, heads, kvHeads, splits, prefillSplits, tileList, tiles.size(), hpc, layer, meta,
            tables, rings, cache, retPages, strPages, p, scale);
        a.addAll(Arrays.asList(tileMerge ? out.ptr() : null, k.ptr(), v.ptr()));
        launcher.launch(kernel, kvHeads * perHead, 1, 1, PREFILL_WG_THREADS, PREFILL_WG_SHARED_BYTES, a.toArray());
      }
    }
    if (!fuseMerge && !tileMerge)
      launcher.launch("attn_merge", rows, heads, 1, 32, 0, out.ptr(), partO, partMl, q.ptr(), k.ptr(), v.ptr(), heads,
          kvHeads, d, splits, scale);
  }

  /** The prefill kernels' arguments before the wgmma kernel's in-place merge ones (pools and their page lists given). */
  private List<Object> prefillArgs(CudaTensor q, int heads, int kvHeads, int splits, int prefillSplits,
      CUdeviceptr tileList, int tiles, int hpc, int layer, StepMeta meta, CUdeviceptr tables, CUdeviceptr rings,
      CudaKvCache cache, CudaKvCache.Pool ret, CudaKvCache.Pool str, AttentionPolicy p, float scale) {
    int sinkPages = cache.layout().hasStreaming() ? p.sink() / KvLayout.PAGE_TOKENS : 0;
    return new ArrayList<>(Arrays.asList(partO, partMl, q.ptr(), heads, kvHeads, splits, prefillSplits, tileList, tiles,
        Integer.numberOfTrailingZeros(hpc), cache.headOrder[layer], cache.retrieval[layer].heads(), meta.sliceInfo,
        tables, rings, sinkPages, cache.headSlot[layer], ret.keys(), ret.values(), ret.keyParams(),
        ret.valueParams(), ret.heads(), str.keys(), str.values(), str.keyParams(), str.valueParams(), str.heads(),
        p.sink(), p.prefillLocal() - 1, scale));
  }

  /**
   * Whether this step's prefill tiles read fp16 copies of quantized pages, making room for them
   * (once a step, for the layer with the most heads of each kind: retrieval pages first, then
   * streaming ones) where the arena has it; else the tiles read the quantized pages themselves.
   */
  private boolean f16Pages(StepMeta meta, CudaKvCache cache, int d) {
    if (cache.layout().format().bits == 16 || meta.prefillPages == 0) return false;
    if (f16Generation == arena.generation()) return f16Keys != null;
    f16Generation = arena.generation();
    long bytes = f16PageBytes(meta.prefillPages, cache.maxRetrievalHeads, d)
        + f16PageBytes(meta.prefillRingPages, cache.maxStreamingHeads, d);
    boolean fits = 2 * bytes + F16_HEADROOM <= arena.free();
    f16Keys = fits ? arena.scratch(bytes) : null;
    f16Values = fits ? arena.scratch(bytes) : null;
    return fits;
  }

  /** The fp16 pages' keys and values when a step prefills {@code tokens} tokens (0 where tiles read quantized pages). */
  long prefillScratchBytes(KvLayout l, int tokens) {
    if (!wgmma(l.headDim()) || !l.format().quantized()) return 0;
    // Every KV head's pages up to `tokens`: more than the prefill slices' retrieval pages and rings hold.
    return 2 * f16PageBytes(KvLayout.pagesFor(tokens), l.kvHeads(), l.headDim());
  }

  /** Whether head dim d prefills on the Hopper wgmma kernel (attention_prefill_sm90.cuh). */
  private boolean wgmma(int d) {
    return hopper && d == 128 && PREFILL_WG_SHARED_BYTES <= maxSharedBytes;
  }

  /** Bytes of the fp16 keys (or values) of {@code pages} pages of {@code heads} heads. */
  static long f16PageBytes(long pages, int heads, int d) {
    return pages * heads * KvLayout.PAGE_TOKENS * d * 2;
  }

  /** Makes room for {@code entries} partial results (rows x heads x splits) of head dim d in this step. */
  private void partials(long entries, int d) {
    if (partGeneration == arena.generation() && partEntries >= entries) return;
    partO = arena.scratch(4L * entries * d);
    partMl = arena.scratch(8L * entries);
    partGeneration = arena.generation();
    partEntries = entries;
  }

  static int maxSplits(int rows) {
    return Math.max(1, Math.min(256, MAX_ROW_SPLITS / rows));
  }

  /** Rows x KV splits of one step's partial results at most (a 2048-row chunk gets 4 splits). */
  static final int MAX_ROW_SPLITS = 8192;

  /** Query rows (tile rows x heads) of one prefill CTA, its threads (attention_prefill.cuh). */
  static final int PREFILL_M = 128, PREFILL_THREADS = 256;

  /**
   * The Hopper prefill kernel (attention_prefill_sm90.cuh): three warpgroups; shared memory of 4
   * stages of (K, V) pages (2 x 16 KiB), the 128 query rows (padded), 8 mbarriers, 1 KiB of alignment.
   */
  static final int PREFILL_WG_THREADS = 384, PREFILL_WG_SHARED_BYTES = 4 * 32768 + PREFILL_M * (128 + 8) * 2 + 64 + 1024;

  /**
   * Dynamic shared memory of the prefill kernel (PrefillSmem in attention_prefill.cuh): 4 cp.async
   * stages of bf16 pages, or 3 stages of raw quantized pages plus two dequantized tile pairs; then Q.
   */
  static int prefillSharedBytes(int bits, int d) {
    int lds = d + 8, tile = 64 * lds * 2;
    int raw = bits == 16 ? 2 * tile : 2 * (64 * d * bits / 8) + 2 * 64 * 4;
    int stages = bits == 16 ? 4 : 3;
    return stages * raw + (bits == 16 ? 0 : 4 * tile) + PREFILL_M * lds * 2;
  }

  /**
   * KV splits of the prefill kernel: enough CTAs for about 1.5 per multiprocessor (one fits at a
   * time; on the H100 a 512-row chunk at 32K tokens ran 2% slower with 4 splits than with 1 or 2),
   * each split at least 16 pages of the longest tile.
   */
  static int prefillSplits(int units, int maxTilePages, int multiprocessors) {
    if (units == 0) return 1;
    return Math.max(1, Math.min((3 * multiprocessors + 2 * units - 1) / (2 * units), maxTilePages / 16));
  }

  static void check(int headDim, int group) {
    if (headDim % 8 != 0 || headDim > MAX_HEAD_DIM)
      throw new IllegalArgumentException("the CUDA backend needs a head_dim that is a multiple of 8 and at most "
          + MAX_HEAD_DIM + ", got " + headDim);
    if (group > MAX_GROUP)
      throw new IllegalArgumentException("the CUDA backend supports up to " + MAX_GROUP
          + " query heads per KV head, got " + group);
  }

  /**
   * Scores the candidate pages of the slices whose selection is due this step and writes their top
   * pages into the cache's selection store (CpuAttention.select on the GPU). Launched when some
   * slice is due; both kernels then run for every selecting slice and skip those not due (a device
   * flag). A step where every slice reuses its pages launches neither (its layers' graphs differ
   * from a selecting step's; StepGraph keeps both).
   */
  private void select(CudaTensor q, int layer, StepMeta meta, CudaKvCache cache, CUdeviceptr sel, int selRows,
      boolean perQuery) {
    CudaKvCache.Pool ret = cache.retrieval[layer];
    int d = cache.layout().headDim(), heads = q.cols() / d, n = meta.batch.slices().size();
    int stride = meta.maxTable;
    CUdeviceptr scores = arena.scratch(4L * n * selRows * stride);
    long blocks = (long) n * ret.heads();
    int z = (int) Math.max(1, Math.min((stride + 7) / 8, (2L * multiprocessors + blocks - 1) / blocks));
    launcher.launch("page_scores", n, ret.heads(), z, 256, 0, scores, stride, q.ptr(), heads,
        cache.layout().kvHeads(), d, perQuery ? 1 : 0, sel, meta.sliceInfo, meta.pageTables,
        cache.keyMax[layer], cache.keyMin[layer], cache.retrievalHeads[layer], ret.heads());
    launcher.launch("page_topk", n * selRows, 1, 1, 256, 0, cache.selected[layer], cache.slotStride(layer),
        cache.maxRanked, scores, stride, selRows, sel, cache.policy().pinFirstPage() ? 1 : 0);
  }

  /** The CUDA-core kernel for a head dim and query heads per block (attention.cuh's entries). */
  static String pagedKernel(String bits, int d, int members) {
    int cpl = channelsPerLane(d), mg = cpl == 2 || cpl == 4 ? Integer.highestOneBit(2 * members - 1) : MAX_GROUP;
    return "attn_paged_b" + bits + "_c" + cpl + "_g" + mg;
  }

  static int channelsPerLane(int d) {
    return d <= 32 ? 1 : d <= 64 ? 2 : d <= 128 ? 4 : 8;
  }

  static int roundUp(int x, int m) {
    return (x + m - 1) / m * m;
  }
}
