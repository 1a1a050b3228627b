package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.kv.KvCacheLayout;
import ai.lserve.engine.kv.PageTable;
import ai.lserve.engine.runtime.StepBatch;
import java.util.ArrayList;
import java.util.List;

/**
 * Causal grouped-query attention over the paged cache: query head h reads KV head h / group, and
 * the token at position p sees cached positions 0..p of its own sequence.
 */
final class CpuAttention {
  private static final int TOKENS_PER_TASK = 16;

  private CpuAttention() {}

  /** Copies this step's keys and values into their pages. */
  static void append(CpuKvCache cache, int layer, CpuTensor k, CpuTensor v, StepBatch batch) {
    KvCacheLayout l = cache.layout();
    int d = l.headDim();
    for (StepBatch.Slice s : batch.slices()) {
      for (int i = 0; i < s.count(); i++) {
        int pos = s.start() + i;
        int page = s.table().page(pos), slot = pos % KvCacheLayout.PAGE_TOKENS;
        int row = (s.row() + i) * k.cols();
        for (int h = 0; h < l.kvHeads(); h++) {
          int dst = cache.offset(page, h, slot);
          System.arraycopy(k.data, row + h * d, cache.keys[layer], dst, d);
          System.arraycopy(v.data, row + h * d, cache.values[layer], dst, d);
        }
      }
    }
  }

  static void attend(
      Parallel parallel, CpuTensor out, CpuTensor q, CpuKvCache cache, int layer, StepBatch batch) {
    KvCacheLayout l = cache.layout();
    int d = l.headDim(), heads = q.cols() / d, group = heads / l.kvHeads();
    float scale = (float) (1.0 / Math.sqrt(d));
    record Task(StepBatch.Slice slice, int head, int from, int to) {}
    List<Task> tasks = new ArrayList<>();
    for (StepBatch.Slice s : batch.slices())
      for (int h = 0; h < heads; h++)
        for (int i = 0; i < s.count(); i += TOKENS_PER_TASK)
          tasks.add(new Task(s, h, i, Math.min(s.count(), i + TOKENS_PER_TASK)));
    float[] keys = cache.keys[layer], values = cache.values[layer];
    parallel.forEach(tasks.size(), t -> {
      Task task = tasks.get(t);
      StepBatch.Slice s = task.slice();
      PageTable table = s.table();
      int kvHead = task.head() / group;
      float[] scores = new float[s.start() + task.to()];
      for (int i = task.from(); i < task.to(); i++) {
        int pos = s.start() + i;
        int qOff = (s.row() + i) * q.cols() + task.head() * d;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j <= pos; j++) {
          int kOff = cache.offset(table.page(j), kvHead, j % KvCacheLayout.PAGE_TOKENS);
          scores[j] = VectorMath.dot(q.data, qOff, keys, kOff, d) * scale;
          max = Math.max(max, scores[j]);
        }
        float sum = 0;
        for (int j = 0; j <= pos; j++) {
          scores[j] = (float) Math.exp(scores[j] - max);
          sum += scores[j];
        }
        int oOff = (s.row() + i) * out.cols() + task.head() * d;
        java.util.Arrays.fill(out.data, oOff, oOff + d, 0f);
        for (int j = 0; j <= pos; j++) {
          int vOff = cache.offset(table.page(j), kvHead, j % KvCacheLayout.PAGE_TOKENS);
          VectorMath.axpy(scores[j] / sum, values, vOff, out.data, oOff, d);
        }
      }
    });
  }
}
