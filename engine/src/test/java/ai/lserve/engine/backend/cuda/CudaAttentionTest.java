package ai.lserve.engine.backend.cuda;

import static ai.lserve.engine.backend.cuda.GpuTests.random;
import static ai.lserve.engine.backend.cuda.GpuTests.relativeL2;
import static ai.lserve.engine.backend.cuda.GpuTests.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.PageTable;
import ai.lserve.engine.kv.Quantizer;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.kv.StreamingRing;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.runtime.Rope;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused RoPE + KV write, page statistics, page selection and paged attention kernels against
 * CpuAttention: two sequences prefilled in chunks (one while the other decodes), then decoded
 * together, over two layers, in dense and lserve modes, bf16/int8/int4 pages.
 */
@Tag("gpu")
class CudaAttentionTest {
  static CudaBackend gpu;
  static CpuBackend cpu;

  @BeforeAll
  static void open() {
    GpuTests.assumeGpu();
    gpu = GpuTests.open();
    cpu = new CpuBackend(4);
  }

  @AfterAll
  static void close() {
    if (gpu != null) gpu.close();
    if (cpu != null) cpu.close();
  }

  record Case(int heads, int kvHeads, int d, KvFormat format, boolean lserve, boolean streaming,
      SparseConfig.Selection selection, double tolerance, int sink, int prefillLocal) {
    Case(int heads, int kvHeads, int d, KvFormat format, boolean lserve, boolean streaming,
        SparseConfig.Selection selection, double tolerance) {
      this(heads, kvHeads, d, format, lserve, streaming, selection, tolerance, 64, 100);
    }
  }

  static Stream<Case> cases() {
    var kv = SparseConfig.Selection.KV_HEAD;
    var query = SparseConfig.Selection.QUERY_HEAD;
    return Stream.of(
        new Case(8, 2, 64, KvFormat.BF16, false, false, kv, 2e-2),
        new Case(4, 4, 16, KvFormat.BF16, false, false, kv, 2e-2),
        new Case(8, 1, 128, KvFormat.BF16, false, false, kv, 2e-2),
        new Case(8, 2, 64, KvFormat.INT8, true, true, kv, 3e-2),
        new Case(8, 2, 128, KvFormat.INT4, true, true, kv, 6e-2),
        new Case(16, 2, 32, KvFormat.INT8, true, true, query, 3e-2),
        new Case(8, 4, 256, KvFormat.BF16, true, false, query, 2e-2),
        new Case(4, 2, 8, KvFormat.INT4, true, true, kv, 6e-2),
        // Decode kernel widths: groups of 2 (its _g2 entry), and 1 query head per block when
        // selection is per query head (_g1), at head dims 128 and 64.
        new Case(4, 2, 128, KvFormat.INT8, true, true, kv, 3e-2),
        new Case(8, 2, 64, KvFormat.INT8, true, true, query, 3e-2),
        // The prefill kernel's CTA shapes: GQA groups of 4 (32-row tiles), 6 (2 heads of 64 rows),
        // 1 (128 rows), chunks of 150/250/100 rows; a sink that ends inside a page the window
        // reaches back to, window edges inside pages.
        new Case(8, 2, 128, KvFormat.BF16, true, true, kv, 2e-2, 100, 170),
        new Case(8, 2, 128, KvFormat.INT8, true, true, kv, 3e-2, 100, 170),
        new Case(12, 2, 64, KvFormat.INT4, true, true, kv, 6e-2, 90, 130),
        new Case(4, 4, 128, KvFormat.BF16, false, false, kv, 2e-2));
  }

  /** One backend's copy of the scenario: its cache and its sequences' page tables and rings. */
  static final class Side {
    final Backend b;
    final KvCache cache;
    final SequenceKv[] seqs = new SequenceKv[2];

    Side(Backend b, KvLayout layout, AttentionPolicy policy, int[][] tables, int[][] rings) {
      this.b = b;
      this.cache = b.kvCache(layout, policy, 64, 64);
      for (int s = 0; s < 2; s++)
        seqs[s] = new SequenceKv(new PageTable(tables[s].clone()),
            rings == null ? null : new StreamingRing(1, rings[s].clone()), layout.layers());
    }
  }

  /** Keys of different pages differ in scale (0.2 to 2), so that page selection has clear winners. */
  static float pageScale(int position) {
    int page = position / KvLayout.PAGE_TOKENS;
    return (float) (0.2 * Math.pow(10, ((page * 5) % 8) / 7.0));
  }

  @ParameterizedTest
  @MethodSource("cases")
  void matchesTheCpuAttention(Case c) {
    Random r = new Random(c.d() * 31L + c.heads());
    int layers = 2;
    HeadPattern pattern = c.streaming()
        ? HeadPattern.fromGates(new double[][] {gates(c.kvHeads(), 0), gates(c.kvHeads(), 1)}, 0.5)
        : HeadPattern.allRetrieval(layers, c.kvHeads());
    KvLayout layout = new KvLayout(layers, c.kvHeads(), c.d(), c.format(), pattern, c.lserve());
    AttentionPolicy policy = new AttentionPolicy(c.lserve(), c.sink(), 64, c.prefillLocal(), 192, 3, c.selection(), false);
    int[][] tables = {{9, 3, 12, 0, 7, 1, 15, 4}, {2, 14, 6, 10, 13, 5}};
    int[][] rings = c.streaming() ? new int[][] {{20, 21, 22, 23, 24, 25, 26}, {30, 31, 32, 33, 34, 35, 36}} : null;
    Side cs = new Side(cpu, layout, policy, tables, rings), gs = new Side(gpu, layout, policy, tables, rings);
    LlamaConfig config = new LlamaConfig("llama", c.heads() * c.d(), 1, layers, c.heads(), c.kvHeads(), c.d(), 1e-5,
        10000, null, 4096, false, 10, 0, new int[0], "bfloat16");
    Rope rope = new Rope(config);
    // {sequence, start, count, decode}
    List<int[][]> steps = new ArrayList<>();
    steps.add(new int[][] {{0, 0, 150, 0}});
    steps.add(new int[][] {{0, 150, 250, 0}, {1, 0, 100, 0}});
    steps.add(new int[][] {{0, 400, 1, 1}, {1, 100, 150, 0}});
    for (int t = 0; t < 40; t++) steps.add(new int[][] {{0, 401 + t, 1, 1}, {1, 250 + t, 1, 1}});
    double worst = 0;
    for (int[][] step : steps) {
      StepBatch bc = new StepBatch(), bg = new StepBatch();
      int rows = 0;
      for (int[] s : step) {
        bc.add(cs.seqs[s[0]], s[1], s[2], s[3] == 1);
        bg.add(gs.seqs[s[0]], s[1], s[2], s[3] == 1);
        rows += s[2];
      }
      int[] positions = bc.positions();
      gpu.resetScratch();
      for (int l = 0; l < layers; l++) {
        float[] q = random(r, rows * c.heads() * c.d(), 1), k = random(r, rows * c.kvHeads() * c.d(), 1);
        float[] v = random(r, rows * c.kvHeads() * c.d(), 1);
        int kvDim = c.kvHeads() * c.d();
        for (int i = 0; i < k.length; i++) k[i] = Fp16.bf16Round(k[i] * pageScale(positions[i / kvDim]));
        Tensor[] out = new Tensor[2];
        Side[] sides = {cs, gs};
        StepBatch[] batches = {bc, bg};
        for (int s = 0; s < 2; s++) {
          Backend b = sides[s].b;
          out[s] = b.tensor(rows, c.heads() * c.d());
          b.ropeAttention(out[s], tensor(b, rows, c.heads() * c.d(), q), tensor(b, rows, kvDim, k),
              tensor(b, rows, kvDim, v), l, batches[s], sides[s].cache, rope);
        }
        double e = relativeL2(gpu.toHost(out[1]), cpu.toHost(out[0]));
        worst = Math.max(worst, e);
        assertTrue(e < c.tolerance(), c + ": layer " + l + " step at " + step[0][1] + ": relative L2 " + e);
      }
      for (StepBatch.Slice s : bc.slices()) s.kv().table().advance(s.count());
      for (StepBatch.Slice s : bg.slices()) s.kv().table().advance(s.count());
      if (c.streaming() && step.length == 2 && step[0][1] == 150) { // sequence 0's prefill ended: shrink its ring
        cs.seqs[0].ring().shrink(400, policy.local(), 3);
        gs.seqs[0].ring().shrink(400, policy.local(), 3);
      }
    }
    System.out.printf("attention %s: worst relative L2 %.2e%n", c, worst);
    cs.cache.close();
    gs.cache.close();
  }

  static double[] gates(int kvHeads, int layer) {
    double[] g = new double[kvHeads];
    for (int h = 0; h < kvHeads; h++) g[h] = (h + layer) % 2 == 0 ? 0.9 : 0.1;
    return g;
  }

  /**
   * Stored codes, scales, zeros and key statistics, read back, are the Quantizer's on the stored
   * keys: 150 positions in a prefill step (kv_key_stats), then 20 one-token decode steps (the
   * statistics updated by rope_append), across logical pages begun by either kind of step.
   */
  @Test
  void quantizedPagesAndStatisticsMatchTheQuantizer() {
    for (KvFormat format : new KvFormat[] {KvFormat.INT8, KvFormat.INT4}) {
      int heads = 4, kvHeads = 2, d = 64, prefill = 150, rows = 170;
      KvLayout layout = new KvLayout(1, kvHeads, d, format, HeadPattern.allRetrieval(1, kvHeads), true);
      AttentionPolicy policy = new AttentionPolicy(true, 64, 64, 100, 4096, 3, SparseConfig.Selection.KV_HEAD, false);
      CudaKvCache cache = (CudaKvCache) gpu.kvCache(layout, policy, 8, 0);
      int[] pages = {5, 2, 7};
      SequenceKv kv = new SequenceKv(new PageTable(pages), null, 1);
      Random r = new Random(5);
      LlamaConfig config = new LlamaConfig("llama", heads * d, 1, 1, heads, kvHeads, d, 1e-5, 10000, null, 4096,
          false, 10, 0, new int[0], "bfloat16");
      Rope rope = new Rope(config);
      float[] keys = new float[rows * kvHeads * d]; // rotated in place: what was stored
      for (int start = 0; start < rows; ) {
        int n = start == 0 ? prefill : 1;
        gpu.resetScratch();
        StepBatch batch = new StepBatch();
        batch.add(kv, start, n, start > 0);
        Tensor q = tensor(gpu, n, heads * d, random(r, n * heads * d, 1));
        Tensor k = tensor(gpu, n, kvHeads * d, random(r, n * kvHeads * d, 3));
        Tensor v = tensor(gpu, n, kvHeads * d, random(r, n * kvHeads * d, 2));
        gpu.ropeAttention(gpu.tensor(n, heads * d), q, k, v, 0, batch, cache, rope);
        System.arraycopy(gpu.toHost(k), 0, keys, start * kvHeads * d, n * kvHeads * d);
        kv.table().advance(n);
        start += n;
      }
      int codeBytes = d * format.bits / 8;
      CudaKvCache.Pool pool = cache.retrieval[0];
      ByteBuffer codes = gpu.read(pool.keys(), 8L * kvHeads * 64 * codeBytes);
      ByteBuffer params = gpu.read(pool.keyParams(), 8L * kvHeads * 64 * 4);
      ByteBuffer max = gpu.read(cache.keyMax[0], 8L * kvHeads * 4 * d * 2), min = gpu.read(cache.keyMin[0], 8L * kvHeads * 4 * d * 2);
      for (int pos = 0; pos < rows; pos++)
        for (int h = 0; h < kvHeads; h++) {
          byte[] want = new byte[codeBytes];
          short[] wantParams = new short[2];
          Quantizer.quantize(keys, (pos * kvHeads + h) * d, d, format.bits, want, 0, wantParams, 0);
          int vec = (pages[pos / 64] * kvHeads + h) * 64 + pos % 64;
          byte[] got = new byte[codeBytes];
          codes.get(vec * codeBytes, got);
          assertArrayEquals(want, got, format + " codes of position " + pos + " head " + h);
          assertEquals(wantParams[0], params.getShort(vec * 4), "scale");
          assertEquals(wantParams[1], params.getShort(vec * 4 + 2), "zero");
        }
      for (int lp = 0; lp < (rows + 15) / 16; lp++)
        for (int h = 0; h < kvHeads; h++)
          for (int ch = 0; ch < d; ch++) {
            float mx = Float.NEGATIVE_INFINITY, mn = Float.POSITIVE_INFINITY;
            for (int pos = lp * 16; pos < Math.min(rows, lp * 16 + 16); pos++) {
              float x = Fp16.round(keys[(pos * kvHeads + h) * d + ch]);
              mx = Math.max(mx, x);
              mn = Math.min(mn, x);
            }
            int at = ((pages[lp / 4] * kvHeads + h) * 4 + lp % 4) * d + ch;
            assertEquals(mx, Fp16.toFloat(max.getShort(2 * at)), format + " key max of logical page " + lp);
            assertEquals(mn, Fp16.toFloat(min.getShort(2 * at)), format + " key min of logical page " + lp);
          }
    }
  }
}
