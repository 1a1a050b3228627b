package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.model.RandomTensor;
import ai.lserve.engine.model.WeightTensor;
import ai.lserve.engine.runtime.Rope;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;

/** The reference backend: float32 math on the Java heap, parallel over the cores. */
public final class CpuBackend implements Backend {
  /** Output features one matmul task computes; each task decodes its weight rows once. */
  private static final int ROWS_PER_TASK = 16;

  private final Parallel parallel;
  private final AttentionProbe probe; // null unless calibrating
  private long syntheticBytes; // heap taken by synthetic weights so far

  public CpuBackend(int threads) {
    this(threads, null);
  }

  public CpuBackend(int threads, AttentionProbe probe) {
    this.parallel = new Parallel(Math.max(1, threads));
    this.probe = probe;
  }

  @Override
  public String name() {
    return "cpu (" + parallel.threads() + " threads)";
  }

  @Override
  public KvFormat denseKvFormat() {
    return KvFormat.F32;
  }

  @Override
  public Weight weight(WeightTensor tensor) {
    return new CpuWeight(tensor);
  }

  /** Synthetic weights live in the heap here, so only small shapes fit: at most a quarter of it. */
  @Override
  public Weight weight(RandomTensor tensor) {
    syntheticBytes += 2 * tensor.numel();
    long limit = Runtime.getRuntime().maxMemory() / 4;
    if (syntheticBytes > limit)
      throw new IllegalArgumentException(String.format(
          "synthetic models on the CPU are held in the Java heap, and this one needs more than %.1f GiB (a quarter"
              + " of it): use --device cuda:N, the synthetic:tiny shape, or write a checkpoint with 'lserve synth'",
          limit / (double) (1L << 30)));
    return new CpuWeight(tensor.materialize());
  }

  @Override
  public Tensor tensor(int rows, int cols) {
    return new CpuTensor(rows, cols);
  }

  @Override
  public void resetScratch() {
    // Heap tensors are reclaimed by the garbage collector.
  }

  @Override
  public KvCache kvCache(KvLayout layout, AttentionPolicy policy, int retrievalPages, int streamingPages) {
    return new CpuKvCache(layout, policy, retrievalPages, streamingPages);
  }

  @Override
  public void embed(Tensor out, int[] ids, Weight table) {
    CpuTensor o = (CpuTensor) out;
    WeightTensor t = ((CpuWeight) table).tensor;
    for (int i = 0; i < ids.length; i++) t.readRow(ids[i], o.data, i * o.cols());
  }

  @Override
  public void rmsNorm(Tensor out, Tensor x, Weight w, float eps) {
    CpuTensor o = (CpuTensor) out, in = (CpuTensor) x;
    float[] weight = ((CpuWeight) w).vector;
    int n = in.cols();
    parallel.forEach(in.rows(), r -> {
      int off = r * n;
      float ss = 0;
      for (int i = 0; i < n; i++) ss += in.data[off + i] * in.data[off + i];
      float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
      for (int i = 0; i < n; i++) o.data[off + i] = in.data[off + i] * inv * weight[i];
    });
  }

  @Override
  public void matmul(Tensor out, Tensor x, Weight w) {
    CpuTensor o = (CpuTensor) out, in = (CpuTensor) x;
    WeightTensor wt = ((CpuWeight) w).tensor;
    int k = wt.cols(), n = wt.rows(), tokens = in.rows();
    if (in.cols() != k || o.cols() != n || o.rows() != tokens)
      throw new IllegalArgumentException("matmul shape mismatch for " + wt.name());
    int tasks = (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    parallel.forEach(tasks, task -> {
      float[] row = new float[k];
      int end = Math.min(n, (task + 1) * ROWS_PER_TASK);
      for (int j = task * ROWS_PER_TASK; j < end; j++) {
        wt.readRow(j, row, 0);
        for (int t = 0; t < tokens; t++) o.data[t * n + j] = VectorMath.dot(in.data, t * k, row, 0, k);
      }
    });
  }

  @Override
  public void rope(Tensor x, int heads, StepBatch batch, Rope rope) {
    CpuTensor t = (CpuTensor) x;
    int[] positions = batch.positions();
    int d = rope.headDim();
    parallel.forEach(t.rows(), r -> {
      for (int h = 0; h < heads; h++) rope.rotate(t.data, r * t.cols() + h * d, positions[r]);
    });
  }

  @Override
  public void attention(
      Tensor out, Tensor q, Tensor k, Tensor v, int layer, StepBatch batch, KvCache cache) {
    CpuKvCache c = (CpuKvCache) cache;
    CpuTensor kt = (CpuTensor) k, vt = (CpuTensor) v, qt = (CpuTensor) q;
    CpuAttention.append(c, layer, kt, vt, batch);
    CpuAttention.select(parallel, qt, c, layer, batch);
    CpuAttention.attend(parallel, (CpuTensor) out, qt, kt, vt, c, layer, batch, probe);
  }

  @Override
  public void siluMul(Tensor out, Tensor gate, Tensor up) {
    float[] o = ((CpuTensor) out).data, g = ((CpuTensor) gate).data, u = ((CpuTensor) up).data;
    for (int i = 0; i < o.length; i++) o[i] = g[i] / (1f + (float) Math.exp(-g[i])) * u[i];
  }

  @Override
  public void add(Tensor x, Tensor y) {
    float[] a = ((CpuTensor) x).data, b = ((CpuTensor) y).data;
    for (int i = 0; i < a.length; i++) a[i] += b[i];
  }

  @Override
  public void gatherRows(Tensor out, Tensor x, int[] rows) {
    CpuTensor o = (CpuTensor) out, in = (CpuTensor) x;
    for (int i = 0; i < rows.length; i++)
      System.arraycopy(in.data, rows[i] * in.cols(), o.data, i * o.cols(), in.cols());
  }

  @Override
  public float[] toHost(Tensor t) {
    return ((CpuTensor) t).data.clone();
  }

  @Override
  public void fromHost(Tensor t, float[] values) {
    float[] data = ((CpuTensor) t).data;
    if (values.length != data.length)
      throw new IllegalArgumentException("fromHost: " + values.length + " values for " + data.length);
    System.arraycopy(values, 0, data, 0, data.length);
  }

  @Override
  public void close() {
    parallel.close();
  }
}
