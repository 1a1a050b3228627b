package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.PageSelection;
import ai.lserve.engine.sparse.PageSelector;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Grouped-query attention over the paged cache, with LServe's sparsity: a streaming head sees its
 * sink and a recent window (Λ mask); a retrieval head sees every earlier token, or in decode past
 * the budget only the pages its selection keeps. Earlier tokens are read back from the cache (so
 * quantized caches read what they store, whatever the chunking); each token attends to its own key
 * and value unquantized.
 */
final class CpuAttention {
  private static final int TOKENS_PER_TASK = 16;

  private CpuAttention() {}

  /** Writes this step's keys and values into their pages (and key statistics). */
  static void append(CpuKvCache cache, int layer, CpuTensor k, CpuTensor v, StepBatch batch) {
    KvLayout l = cache.layout();
    int d = l.headDim();
    for (StepBatch.Slice s : batch.slices()) {
      for (int i = 0; i < s.count(); i++) {
        int pos = s.start() + i, slot = pos % KvLayout.PAGE_TOKENS;
        int row = (s.row() + i) * k.cols();
        for (int h = 0; h < l.kvHeads(); h++) {
          int at = cache.slotOfHead[layer][h];
          if (l.pattern().retrieval(layer, h)) {
            int page = s.kv().table().page(pos);
            cache.keys[layer].write(page, at, slot, k.data, row + h * d);
            cache.values[layer].write(page, at, slot, v.data, row + h * d);
            if (l.stats()) cache.updateStats(layer, page, at, slot, k.data, row + h * d);
          } else {
            int page = s.kv().ring().page(pos);
            cache.streamingKeys[layer].write(page, at, slot, k.data, row + h * d);
            cache.streamingValues[layer].write(page, at, slot, v.data, row + h * d);
          }
        }
      }
    }
  }

  /** Whether this decode token's retrieval heads read selected pages instead of all of them. */
  private static boolean selecting(AttentionPolicy p, StepBatch.Slice s) {
    return p.selectPages() && s.decode() && s.start() + 1 > p.budget();
  }

  /** Refreshes the page selections of the decode tokens whose selection has expired. */
  static void select(Parallel parallel, CpuTensor q, CpuKvCache cache, int layer, StepBatch batch) {
    AttentionPolicy p = cache.policy();
    KvLayout l = cache.layout();
    int d = l.headDim(), group = q.cols() / d / l.kvHeads();
    int[] heads = l.pattern().retrievalHeads(layer);
    List<StepBatch.Slice> due = new ArrayList<>();
    for (StepBatch.Slice s : batch.slices())
      if (selecting(p, s) && s.kv().selection(layer).stale(s.start() + 1, p.reuseInterval())) due.add(s);
    if (due.isEmpty() || heads.length == 0) return;
    boolean perQuery = p.selection() == SparseConfig.Selection.QUERY_HEAD;
    int[][][] ranked = new int[due.size()][heads.length * (perQuery ? group : 1)][];
    parallel.forEach(due.size() * heads.length, task -> {
      StepBatch.Slice s = due.get(task / heads.length);
      int r = task % heads.length, kvHead = heads[r], tokens = s.start() + 1;
      int candidates = KvLayout.pagesFor(tokens) - 1; // the newest page is read live
      int keep = PageSelector.pagesToKeep(tokens, p.budget());
      float[] max = new float[d], min = new float[d];
      float[][] scores = new float[group][candidates];
      for (int page = 0; page < candidates; page++) {
        int physical = s.kv().table().page(page * KvLayout.PAGE_TOKENS);
        for (int lp = 0; lp < KvLayout.LOGICAL_PER_PAGE; lp++) {
          cache.readStats(layer, physical, r, lp, max, min);
          for (int g = 0; g < group; g++) {
            int qOff = s.row() * q.cols() + (kvHead * group + g) * d;
            float score = PageSelector.logicalScore(q.data, qOff, max, min, 0, d);
            scores[g][page] = lp == 0 ? score : Math.max(scores[g][page], score);
          }
        }
      }
      int[][] rows = ranked[task / heads.length];
      if (perQuery) {
        for (int g = 0; g < group; g++) rows[r * group + g] = PageSelector.top(scores[g], keep, p.pinFirstPage());
      } else {
        float[] combined = scores[0].clone();
        for (int g = 1; g < group; g++)
          for (int page = 0; page < candidates; page++) combined[page] = Math.max(combined[page], scores[g][page]);
        rows[r] = PageSelector.top(combined, keep, p.pinFirstPage());
      }
    });
    for (int i = 0; i < due.size(); i++) {
      int tokens = due.get(i).start() + 1;
      due.get(i).kv().selection(layer).set(ranked[i], tokens, KvLayout.pagesFor(tokens) - 1);
    }
  }

  static void attend(
      Parallel parallel, CpuTensor out, CpuTensor q, CpuTensor k, CpuTensor v, CpuKvCache cache, int layer,
      StepBatch batch, AttentionProbe probe) {
    KvLayout l = cache.layout();
    AttentionPolicy p = cache.policy();
    int d = l.headDim(), heads = q.cols() / d, group = heads / l.kvHeads();
    float scale = (float) (1.0 / Math.sqrt(d));
    record Task(StepBatch.Slice slice, int head, int from, int to) {}
    List<Task> tasks = new ArrayList<>();
    for (StepBatch.Slice s : batch.slices())
      for (int h = 0; h < heads; h++)
        for (int i = 0; i < s.count(); i += TOKENS_PER_TASK)
          tasks.add(new Task(s, h, i, Math.min(s.count(), i + TOKENS_PER_TASK)));
    parallel.forEach(tasks.size(), t -> {
      Task task = tasks.get(t);
      StepBatch.Slice s = task.slice();
      SequenceKv kv = s.kv();
      int kvHead = task.head() / group, at = cache.slotOfHead[layer][kvHead];
      boolean retrieval = l.pattern().retrieval(layer, kvHead);
      PageStore ks = retrieval ? cache.keys[layer] : cache.streamingKeys[layer];
      PageStore vs = retrieval ? cache.values[layer] : cache.streamingValues[layer];
      float[] kv1 = new float[d];
      float[] scores = new float[s.start() + task.to() + 1];
      int[] visible = new int[s.start() + task.to()];
      for (int i = task.from(); i < task.to(); i++) {
        int pos = s.start() + i, row = s.row() + i;
        int n = retrieval ? retrievalKeys(p, s, layer, at, group, task.head() % group, pos, visible)
            : streamingKeys(p, s.decode(), pos, visible);
        int qOff = row * q.cols() + task.head() * d;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
          int key = visible[j];
          ks.read(page(kv, retrieval, key), at, key % KvLayout.PAGE_TOKENS, kv1, 0);
          scores[j] = VectorMath.dot(q.data, qOff, kv1, 0, d) * scale;
          max = Math.max(max, scores[j]);
        }
        int freshOff = row * k.cols() + kvHead * d; // the token's own key and value, unquantized
        scores[n] = VectorMath.dot(q.data, qOff, k.data, freshOff, d) * scale;
        max = Math.max(max, scores[n]);
        float sum = 0;
        for (int j = 0; j <= n; j++) {
          scores[j] = (float) Math.exp(scores[j] - max);
          sum += scores[j];
        }
        for (int j = 0; j <= n; j++) scores[j] /= sum;
        if (probe != null) probe.observe(layer, task.head(), pos, visible, scores, n);
        int oOff = row * out.cols() + task.head() * d;
        Arrays.fill(out.data, oOff, oOff + d, 0f);
        for (int j = 0; j < n; j++) {
          int key = visible[j];
          vs.read(page(kv, retrieval, key), at, key % KvLayout.PAGE_TOKENS, kv1, 0);
          VectorMath.axpy(scores[j], kv1, 0, out.data, oOff, d);
        }
        VectorMath.axpy(scores[n], v.data, freshOff, out.data, oOff, d);
      }
    });
  }

  private static int page(SequenceKv kv, boolean retrieval, int position) {
    return retrieval ? kv.table().page(position) : kv.ring().page(position);
  }

  /** Earlier positions a retrieval head reads: all, or those of its selected pages. */
  private static int retrievalKeys(
      AttentionPolicy p, StepBatch.Slice s, int layer, int slot, int group, int member, int pos, int[] out) {
    if (!selecting(p, s)) {
      for (int j = 0; j < pos; j++) out[j] = j;
      return pos;
    }
    PageSelection sel = s.kv().selection(layer);
    int row = p.selection() == SparseConfig.Selection.QUERY_HEAD ? slot * group + member : slot;
    int n = 0;
    for (int page : sel.pages(row, KvLayout.pagesFor(pos + 1) - 1)) {
      int end = Math.min(pos, (page + 1) * KvLayout.PAGE_TOKENS);
      for (int j = page * KvLayout.PAGE_TOKENS; j < end; j++) out[n++] = j;
    }
    return n;
  }

  /** Earlier positions a streaming head reads: the sink, then the recent window. */
  private static int streamingKeys(AttentionPolicy p, boolean decode, int pos, int[] out) {
    int window = decode ? p.local() : p.prefillLocal() - 1;
    int n = 0;
    int sinkEnd = Math.min(p.sink(), pos);
    for (int j = 0; j < sinkEnd; j++) out[n++] = j;
    for (int j = Math.max(sinkEnd, pos - window); j < pos; j++) out[n++] = j;
    return n;
  }
}
