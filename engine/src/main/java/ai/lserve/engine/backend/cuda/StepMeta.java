package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.StreamingRing;
import ai.lserve.engine.runtime.StepBatch;
import java.util.Arrays;
import jcuda.driver.CUdeviceptr;

/**
 * A forward step's batch as the kernels read it (kernels/src/kv_layout.cuh), uploaded once per
 * step and shared by every layer: the slices, the slice and position of each row, each slice's
 * page table and streaming ring, the logical pages whose key statistics the step changes, and (with
 * a cache in lserve mode) each layer's page-selection entries. One copy per step; a decode step's
 * uploads have the same size every step (whole page tables), so its graph can be replayed.
 */
final class StepMeta {
  static final int STRIDE = 7; // SLICE_STRIDE: start, count, row, decode, table offset, ring offset, ring length

  final StepBatch batch;
  final int rows;
  final CUdeviceptr sliceInfo, rowSlice, rowPos, pageTables, rings, statsTasks;
  final int statsTaskCount;
  /**
   * The prefill slices' pages in a dense scratch (CudaAttention's fp16 copies of quantized pages):
   * {@code prefillTables} is {@link #pageTables} with each prefill slice's retrieval pages up to its
   * last row replaced by scratch pages 0, 1, ..., and {@code prefillTasks} the (pool page, scratch
   * page) pairs, {@code prefillPages} of them (0 without prefill slices); the same for their
   * streaming rings ({@link #rings}).
   */
  final CUdeviceptr prefillTables, prefillTasks, prefillRings, prefillRingTasks;
  final int prefillPages, prefillRingPages;
  /** The most key pages any row's attention can walk (bounds the KV splits). */
  final int maxPages;
  /** The longest page table of a slice (the stride of page scores). */
  final int maxTable;
  /** Every slice decodes one token: a step whose launches a graph can capture. */
  final boolean decodeOnly;
  /** The cache whose selection entries this holds (null: none). */
  final CudaKvCache cache;
  private final CUdeviceptr selection;
  private final boolean[] selecting, everySliceSelects, due;

  StepMeta(StepBatch batch, Transfers transfers, CudaKvCache cache) {
    this.batch = batch;
    this.rows = batch.rows();
    int n = batch.slices().size();
    int[] info = new int[n * STRIDE], rowSliceH = new int[rows], rowPosH = new int[rows];
    IntList tables = new IntList(), ringList = new IntList(), tasks = new IntList();
    int most = 0, longest = 1;
    boolean decodes = true;
    for (int s = 0; s < n; s++) {
      StepBatch.Slice sl = batch.slices().get(s);
      int end = sl.start() + sl.count();
      int[] pages = sl.kv().table().pages();
      StreamingRing ring = sl.kv().ring();
      info[s * STRIDE] = sl.start();
      info[s * STRIDE + 1] = sl.count();
      info[s * STRIDE + 2] = sl.row();
      info[s * STRIDE + 3] = sl.decode() ? 1 : 0;
      info[s * STRIDE + 4] = tables.size;
      info[s * STRIDE + 5] = ringList.size;
      info[s * STRIDE + 6] = ring == null ? 0 : ring.pages().length;
      tables.add(pages, pages.length);
      longest = Math.max(longest, pages.length);
      decodes &= sl.decode() && sl.count() == 1;
      if (ring != null) ringList.add(ring.pages(), ring.pages().length);
      for (int lp = sl.start() / KvLayout.LOGICAL_TOKENS; lp <= (end - 1) / KvLayout.LOGICAL_TOKENS; lp++) {
        tasks.add(s);
        tasks.add(lp);
      }
      for (int i = 0; i < sl.count(); i++) {
        rowSliceH[sl.row() + i] = s;
        rowPosH[sl.row() + i] = sl.start() + i;
      }
      most = Math.max(most, KvLayout.pagesFor(end));
    }
    this.maxPages = most;
    this.maxTable = longest;
    this.decodeOnly = decodes;
    this.cache = cache;
    this.statsTaskCount = tasks.size / 2;
    IntList scratchTasks = new IntList(), scratchRingTasks = new IntList();
    int[] scratchTables = new int[0], scratchRings = new int[0];
    for (int s = 0; s < n; s++) {
      StepBatch.Slice sl = batch.slices().get(s);
      if (sl.decode()) continue;
      if (scratchTables.length == 0) {
        scratchTables = Arrays.copyOf(tables.array(), tables.size);
        scratchRings = Arrays.copyOf(ringList.array(), ringList.size);
      }
      toScratch(scratchTables, info[s * STRIDE + 4], KvLayout.pagesFor(sl.start() + sl.count()), scratchTasks);
      toScratch(scratchRings, info[s * STRIDE + 5], info[s * STRIDE + 6], scratchRingTasks);
    }
    this.prefillPages = scratchTasks.size / 2;
    this.prefillRingPages = scratchRingTasks.size / 2;
    int[] sel = cache == null ? new int[0] : cache.selectionEntries(batch);
    int layers = sel.length / Math.max(1, 4 * n);
    selecting = new boolean[layers];
    everySliceSelects = new boolean[layers];
    Arrays.fill(everySliceSelects, n > 0);
    due = new boolean[layers];
    for (int i = 0; i < sel.length; i += 4) {
      if (sel[i] >= 0) selecting[i / (4 * n)] = true;
      else everySliceSelects[i / (4 * n)] = false;
      if (sel[i] >= 0 && sel[i + 1] != 0) due[i / (4 * n)] = true;
    }
    int[][] parts = {info, rowSliceH, rowPosH, tables.array(), ringList.array(), tasks.array(), sel, scratchTables,
        scratchTasks.array(), scratchRings, scratchRingTasks.array()};
    int[] lengths = {info.length, rows, rows, tables.size, ringList.size, tasks.size, sel.length, scratchTables.length,
        scratchTasks.size, scratchRings.length, scratchRingTasks.size};
    int[] all = new int[Arrays.stream(lengths).sum()];
    int at = 0;
    int[] offsets = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      offsets[i] = at;
      System.arraycopy(parts[i], 0, all, at, lengths[i]);
      at += lengths[i];
    }
    CUdeviceptr base = transfers.ints(all);
    sliceInfo = base.withByteOffset(4L * offsets[0]);
    rowSlice = base.withByteOffset(4L * offsets[1]);
    rowPos = base.withByteOffset(4L * offsets[2]);
    pageTables = base.withByteOffset(4L * offsets[3]);
    rings = base.withByteOffset(4L * offsets[4]);
    statsTasks = base.withByteOffset(4L * offsets[5]);
    selection = base.withByteOffset(4L * offsets[6]);
    prefillTables = base.withByteOffset(4L * offsets[7]);
    prefillTasks = base.withByteOffset(4L * offsets[8]);
    prefillRings = base.withByteOffset(4L * offsets[9]);
    prefillRingTasks = base.withByteOffset(4L * offsets[10]);
  }

  /** Moves entries [off, off + n) of a page list to the next scratch pages, recording (page, scratch page) tasks. */
  private static void toScratch(int[] pages, int off, int n, IntList tasks) {
    for (int i = 0; i < n; i++) {
      tasks.add(pages[off + i]);
      tasks.add(tasks.size / 2);
      pages[off + i] = tasks.size / 2 - 1;
    }
  }

  /** Whether some slice's retrieval heads read selected pages in this layer. */
  boolean selecting(int layer) {
    return layer < selecting.length && selecting[layer];
  }

  /** Whether a slice's selection in this layer is due this step (else every slice reuses its pages). */
  boolean due(int layer) {
    return layer < due.length && due[layer];
  }

  /**
   * The most key pages a head walks in this layer: when every slice's retrieval heads read selected
   * pages, the ranked ones plus the live ones (at most two: the newest at selection and the one
   * after it, for reuse intervals up to a page) or a streaming head's sink and window, whichever is
   * more; else {@link #maxPages}. Fixed while the batch keeps its shape (it sizes the KV splits).
   */
  int walkPages(int layer, int streamingPages) {
    if (cache == null || layer >= everySliceSelects.length || !everySliceSelects[layer]) return maxPages;
    return Math.min(maxPages, Math.max(cache.maxRanked + 2, streamingPages));
  }

  /** This layer's selection entries, {slot, due, ranked, newest} per slice (see CudaKvCache). */
  CUdeviceptr selection(int layer) {
    return selection.withByteOffset(16L * layer * batch.slices().size());
  }

  /** A growable int array. */
  static final class IntList {
    int[] data = new int[16];
    int size;

    void add(int v) {
      if (size == data.length) data = Arrays.copyOf(data, size * 2);
      data[size++] = v;
    }

    void add(int[] values, int n) {
      if (size + n > data.length) data = Arrays.copyOf(data, Math.max(size + n, size * 2));
      System.arraycopy(values, 0, data, size, n);
      size += n;
    }

    int[] array() {
      return data;
    }
  }
}
