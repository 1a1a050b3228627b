package ai.lserve.engine.backend.cuda;

import static ai.lserve.engine.backend.cuda.GpuTests.random;
import static ai.lserve.engine.backend.cuda.GpuTests.relativeL2;
import static ai.lserve.engine.backend.cuda.GpuTests.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.PageTable;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.model.DType;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.RopeScaling;
import ai.lserve.engine.model.WeightTensor;
import ai.lserve.engine.runtime.Rope;
import ai.lserve.engine.runtime.Sampler;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.PageSelector;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kernel against the CPU backend's operation on random non-zero inputs (bf16-rounded for both). */
@Tag("gpu")
class CudaKernelsTest {
  static CudaBackend gpu;
  static CpuBackend cpu;
  @TempDir static Path dir;
  final Random random = new Random(11);

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

  Weight[] both(String name, DType type, long[] shape, float[] values) {
    WeightTensor w = GpuTests.weight(dir, name, type, shape, values);
    return new Weight[] {cpu.weight(w), gpu.weight(w)};
  }

  @Test
  void float32KvPagesAreCpuOnly() {
    KvLayout layout = KvLayout.dense(1, 2, 64, KvFormat.F32);
    AttentionPolicy p = new AttentionPolicy(false, 128, 256, 8192, 4096, 4, SparseConfig.Selection.KV_HEAD, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.kvCache(layout, p, 4, 0));
    assertTrue(e.getMessage().contains("CPU-only"), e.getMessage());
    assertEquals(KvFormat.BF16, gpu.denseKvFormat());
  }

  @Test
  void embeddingGather() {
    float[] table = random(random, 50 * 72, 1);
    Weight[] w = both("embed", DType.BF16, new long[] {50, 72}, table);
    int[] ids = {3, 0, 49, 3, 17};
    Tensor a = cpu.tensor(5, 72), b = gpu.tensor(5, 72);
    cpu.embed(a, ids, w[0]);
    gpu.embed(b, ids, w[1]);
    assertArrayEquals(cpu.toHost(a), gpu.toHost(b));
  }

  /** Rows of 264 take the kernel's 16-byte path, rows of 263 its scalar one. */
  @Test
  void rmsNormInPlaceAndNot() {
    for (int cols : new int[] {264, 263})
      for (DType type : new DType[] {DType.BF16, DType.F32, DType.F16}) {
        float[] x = random(random, 7 * cols, 3), wv = random(random, cols, 1);
        Weight[] w = both("norm" + type + cols, type, new long[] {cols}, wv);
        Tensor a = tensor(cpu, 7, cols, x), b = tensor(gpu, 7, cols, x), b2 = gpu.tensor(7, cols);
        cpu.rmsNorm(a, a, w[0], 1e-5f);
        gpu.rmsNorm(b2, b, w[1], 1e-5f);
        gpu.rmsNorm(b, b, w[1], 1e-5f);
        double e = relativeL2(gpu.toHost(b), cpu.toHost(a));
        assertTrue(e < 8e-3, type + " rmsnorm error " + e + " at " + cols + " columns");
        assertArrayEquals(gpu.toHost(b), gpu.toHost(b2));
      }
  }

  /** 9 x 1000 elements take the 16-byte paths of silu_mul and add, 9 x 999 the scalar ones. */
  @Test
  void siluMulAddAndGather() {
    int rows = 9, cols = 1000;
    for (int c : new int[] {cols, cols - 1}) {
      float[] g = random(random, rows * c, 4), u = random(random, rows * c, 2);
      Tensor ga = tensor(cpu, rows, c, g), ua = tensor(cpu, rows, c, u);
      Tensor gb = tensor(gpu, rows, c, g), ub = tensor(gpu, rows, c, u);
      cpu.siluMul(ga, ga, ua);
      gpu.siluMul(gb, gb, ub);
      assertTrue(relativeL2(gpu.toHost(gb), cpu.toHost(ga)) < 8e-3, "silu_mul at " + c + " columns");
      cpu.add(ga, ua);
      gpu.add(gb, ub);
      assertTrue(relativeL2(gpu.toHost(gb), cpu.toHost(ga)) < 8e-3, "add at " + c + " columns");
    }
    float[] g = random(random, rows * cols, 4);
    int[] pick = {8, 0, 3, 3};
    Tensor oa = cpu.tensor(4, cols), ob = gpu.tensor(4, cols);
    cpu.gatherRows(oa, tensor(cpu, rows, cols, g), pick);
    gpu.gatherRows(ob, tensor(gpu, rows, cols, g), pick);
    assertArrayEquals(cpu.toHost(oa), gpu.toHost(ob));
  }

  @Test
  void matmulAllPathsAndShapes() {
    int[][] nk = {{200, 256}, {67, 96}, {130, 172}, {512, 1024}, {8, 8}, {17000, 264}};
    int[] ms = {1, 3, 8, 9, 16, 17, 130, 300};
    int shape = 0;
    for (int[] s : nk) {
      int n = s[0], k = s[1];
      DType type = shape % 3 == 0 ? DType.BF16 : shape % 3 == 1 ? DType.F32 : DType.F16;
      float[] wv = random(random, n * k, 0.1f);
      Weight[] w = both("w" + shape++, type, new long[] {n, k}, wv);
      for (int m : ms) {
        float[] x = random(random, m * k, 1);
        Tensor a = cpu.tensor(m, n), b = gpu.tensor(m, n);
        cpu.matmul(a, tensor(cpu, m, k, x), w[0]);
        gpu.matmul(b, tensor(gpu, m, k, x), w[1]);
        double e = relativeL2(gpu.toHost(b), cpu.toHost(a));
        assertTrue(e < 1e-2, String.format("matmul %dx%dx%d (%s weights): relative L2 %.2e", m, n, k, type, e));
      }
    }
  }

  /**
   * The decode step's fused GEMVs (gemv_norm with three products, gemv_glu, gemv_add) against the
   * CPU backend and against the unfused kernels on the GPU, at 1-16 rows of x (and 40, where the
   * backend takes the unfused path itself), ragged outputs, split K (small outputs) and 1, 2 or 4
   * whole weight rows per warp (large ones). Outputs are poisoned with NaN first.
   */
  @Test
  void fusedDecodeProducts() {
    int k = 264;
    int[][] outputs = {{200, 67, 130}, {17000, 1030, 30}}; // split K; then whole rows per warp
    for (int[] ns : outputs) {
      Weight[][] w = new Weight[3][];
      for (int i = 0; i < 3; i++) w[i] = both("p" + ns[0] + "_" + i, DType.BF16, new long[] {ns[i], k}, random(random, ns[i] * k, 0.1f));
      Weight[] norm = both("n" + ns[0], DType.BF16, new long[] {k}, random(random, k, 1));
      Weight[] up = both("u" + ns[0], DType.BF16, new long[] {ns[0], k}, random(random, ns[0] * k, 0.1f));
      for (int m : new int[] {1, 3, 6, 8, 13, 40}) {
        float[] x = random(random, m * k, 2);
        Tensor[] a = new Tensor[3], b = new Tensor[3], c = new Tensor[3];
        for (int i = 0; i < 3; i++) {
          a[i] = cpu.tensor(m, ns[i]);
          b[i] = tensor(gpu, m, ns[i], nan(m * ns[i]));
          c[i] = gpu.tensor(m, ns[i]);
        }
        cpu.normMatmul(tensor(cpu, m, k, x), norm[0], 1e-5f, a, new Weight[] {w[0][0], w[1][0], w[2][0]});
        gpu.normMatmul(tensor(gpu, m, k, x), norm[1], 1e-5f, b, new Weight[] {w[0][1], w[1][1], w[2][1]});
        Tensor h = gpu.tensor(m, k);
        gpu.rmsNorm(h, tensor(gpu, m, k, x), norm[1], 1e-5f);
        for (int i = 0; i < 3; i++) {
          gpu.matmul(c[i], h, w[i][1]);
          String what = String.format("normMatmul product %d of %dx%dx%d", i, m, ns[i], k);
          assertTrue(relativeL2(gpu.toHost(b[i]), cpu.toHost(a[i])) < 1e-2, what + " vs CPU");
          assertTrue(relativeL2(gpu.toHost(b[i]), gpu.toHost(c[i])) < 1e-3, what + " vs unfused");
        }

        Tensor ga = cpu.tensor(m, ns[0]), gb = tensor(gpu, m, ns[0], nan(m * ns[0])), gc = gpu.tensor(m, ns[0]);
        cpu.normGatedMlp(ga, tensor(cpu, m, k, x), norm[0], 1e-5f, w[0][0], up[0]);
        gpu.normGatedMlp(gb, tensor(gpu, m, k, x), norm[1], 1e-5f, w[0][1], up[1]);
        gpu.matmul(gc, h, up[1]);
        gpu.siluMul(gc, c[0], gc);
        String what = String.format("normGatedMlp %dx%dx%d", m, ns[0], k);
        assertTrue(relativeL2(gpu.toHost(gb), cpu.toHost(ga)) < 1e-2, what + " vs CPU");
        assertTrue(relativeL2(gpu.toHost(gb), gpu.toHost(gc)) < 1e-3, what + " vs unfused");

        float[] y = random(random, m * k, 1), acc = random(random, m * ns[0], 1);
        Tensor xa = tensor(cpu, m, ns[0], acc), xb = tensor(gpu, m, ns[0], acc), xc = tensor(gpu, m, ns[0], acc);
        Tensor o = gpu.tensor(m, ns[0]);
        cpu.matmulAdd(xa, tensor(cpu, m, k, y), w[0][0]);
        gpu.matmulAdd(xb, tensor(gpu, m, k, y), w[0][1]);
        gpu.matmul(o, tensor(gpu, m, k, y), w[0][1]);
        gpu.add(xc, o);
        what = String.format("matmulAdd %dx%dx%d", m, ns[0], k);
        assertTrue(relativeL2(gpu.toHost(xb), cpu.toHost(xa)) < 1e-2, what + " vs CPU");
        assertArrayEquals(gpu.toHost(xc), gpu.toHost(xb), what + " vs unfused");
      }
    }
  }

  private static float[] nan(int n) {
    float[] v = new float[n];
    Arrays.fill(v, Float.NaN);
    return v;
  }

  @Test
  void matmulWideTilesOnALargeShape() {
    int m = 1100, n = 4000, k = 264; // enough 128 x 256 tiles for the wide kernel; ragged edges
    Weight[] w = both("wide", DType.BF16, new long[] {n, k}, random(random, n * k, 0.1f));
    float[] x = random(random, m * k, 1);
    Tensor a = cpu.tensor(m, n), b = gpu.tensor(m, n);
    cpu.matmul(a, tensor(cpu, m, k, x), w[0]);
    gpu.matmul(b, tensor(gpu, m, k, x), w[1]);
    double e = relativeL2(gpu.toHost(b), cpu.toHost(a));
    assertTrue(e < 1e-2, "wide matmul relative L2 " + e);
  }

  /**
   * Edges of the Hopper wgmma GEMM (K % 64 == 0, N % 8 == 0): ragged M and N tiles, a single row
   * past the GEMV cut-off, more tiles than SMs (each persistent CTA loops), both tile shapes. The
   * output is poisoned with NaN first, so an element left unwritten fails. On other GPUs the same
   * shapes check the mma.sync kernels.
   */
  @Test
  void matmulHopperTilesOnRaggedShapes() {
    int[][] mnk = {{17, 136, 64}, {300, 4104, 192}, {1100, 4000, 320}, {2100, 4104, 128}, {129, 1000, 4160}};
    Set<String> kernels = new HashSet<>();
    for (int[] s : mnk) {
      int m = s[0], n = s[1], k = s[2];
      Weight[] w = both("h" + m, DType.BF16, new long[] {n, k}, random(random, n * k, 0.1f));
      float[] x = random(random, m * k, 1);
      Tensor a = cpu.tensor(m, n), b = tensor(gpu, m, n, nan(m * n));
      cpu.matmul(a, tensor(cpu, m, k, x), w[0]);
      gpu.matmul(b, tensor(gpu, m, k, x), w[1]);
      double e = relativeL2(gpu.toHost(b), cpu.toHost(a));
      String kernel = gpu.gemmKernel(m, n, k);
      kernels.add(kernel);
      assertTrue(e < 1e-2, String.format("matmul %dx%dx%d (%s): relative L2 %.2e", m, n, k, kernel, e));
    }
    if (gpu.device().attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) == 9)
      assertEquals(Set.of("gemm_bf16_wgmma_128x256", "gemm_bf16_wgmma_64x256"), kernels);
  }

  /**
   * The prefill MLP's first half (on Hopper one wgmma _glu GEMM over gate and up, elsewhere two
   * GEMMs and silu_mul): against the CPU backend and against the unfused steps on the GPU, on
   * ragged shapes (outputs not a multiple of the 128-column tile, M edges, both tile shapes, more
   * tiles than SMs). The output is poisoned with NaN first, so an element left unwritten fails.
   */
  @Test
  void gatedMlpOnRaggedShapes() {
    int[][] mnk = {{17, 136, 64}, {300, 4104, 192}, {1100, 4000, 320}, {129, 1000, 4160}};
    Set<String> kernels = new HashSet<>();
    for (int[] s : mnk) {
      int m = s[0], n = s[1], k = s[2];
      Weight[] gate = both("g" + m, DType.BF16, new long[] {n, k}, random(random, n * k, 0.1f));
      Weight[] up = both("u" + m, DType.BF16, new long[] {n, k}, random(random, n * k, 0.1f));
      Weight[] norm = both("n" + m, DType.BF16, new long[] {k}, random(random, k, 1));
      float[] x = random(random, m * k, 1);
      Tensor a = cpu.tensor(m, n), b = tensor(gpu, m, n, nan(m * n)), h = gpu.tensor(m, k);
      Tensor g = gpu.tensor(m, n), u = gpu.tensor(m, n);
      cpu.normGatedMlp(a, tensor(cpu, m, k, x), norm[0], 1e-5f, gate[0], up[0]);
      gpu.normGatedMlp(b, tensor(gpu, m, k, x), norm[1], 1e-5f, gate[1], up[1]);
      gpu.rmsNorm(h, tensor(gpu, m, k, x), norm[1], 1e-5f);
      gpu.matmul(g, h, gate[1]);
      gpu.matmul(u, h, up[1]);
      gpu.siluMul(g, g, u);
      String what = String.format("normGatedMlp %dx%dx%d (%s)", m, n, k, gpu.gemmKernel(m, 2 * n, k));
      assertTrue(relativeL2(gpu.toHost(b), cpu.toHost(a)) < 1e-2, what + " vs CPU");
      assertTrue(relativeL2(gpu.toHost(b), gpu.toHost(g)) < 1e-3, what + " vs unfused");
      kernels.add(gpu.gemmKernel(m, 2 * n, k));
    }
    if (gpu.device().attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) == 9)
      assertEquals(Set.of("gemm_bf16_wgmma_128x256", "gemm_bf16_wgmma_64x256"), kernels);
  }

  @Test
  void ropeWithLlama3Scaling() {
    int heads = 3, d = 64, rows = 6;
    LlamaConfig c = new LlamaConfig("llama", heads * d, 1, 1, heads, heads, d, 1e-5, 500000,
        new RopeScaling("llama3", 8, 1, 4, 8192), 131072, false, 10, 0, new int[0], "bfloat16");
    Rope rope = new Rope(c);
    StepBatch batch = new StepBatch();
    batch.add(new SequenceKv(new PageTable(new int[2000]), null, 1), 0, 2, false);
    batch.add(new SequenceKv(new PageTable(new int[2000]), null, 1), 100_000, 4, false);
    float[] x = random(random, rows * heads * d, 1);
    Tensor a = tensor(cpu, rows, heads * d, x), b = tensor(gpu, rows, heads * d, x);
    cpu.rope(a, heads, batch, rope);
    gpu.rope(b, heads, batch, rope);
    double e = relativeL2(gpu.toHost(b), cpu.toHost(a));
    assertTrue(e < 8e-3, "rope error " + e);
  }

  @Test
  void greedyArgmaxTiesToTheLowerId() {
    int rows = 5, vocab = 3001;
    float[] logits = random(random, rows * vocab, 2);
    logits[2 * vocab + 10] = logits[2 * vocab + 20] = 5f; // a tie
    int[] got = gpu.argmax(tensor(gpu, rows, vocab, logits));
    for (int r = 0; r < rows; r++) assertEquals(Sampler.argmax(logits, r * vocab, vocab), got[r], "row " + r);
  }

  @Test
  void topPagesAsThePageSelector() {
    int[] candidates = {1, 2, 70, 300, 2047};
    int[] want = {1, 1, 63, 63, 63};
    int selRows = 3, stride = 2047, n = candidates.length;
    float[][] scores = new float[n * selRows][];
    float[] flat = new float[n * selRows * stride];
    for (int i = 0; i < n * selRows; i++) {
      scores[i] = new float[candidates[i / selRows]];
      for (int p = 0; p < scores[i].length; p++) {
        scores[i][p] = random.nextInt(4) == 0 ? 1.5f : (random.nextInt(200) - 100) / 16f; // many ties
        flat[i * stride + p] = scores[i][p];
      }
    }
    int maxRanked = 63, slotStride = selRows * maxRanked;
    int[] entries = new int[4 * n]; // {slot, due, ranked, candidates}: slot i, all due
    for (int i = 0; i < n; i++) {
      entries[4 * i] = n - 1 - i;
      entries[4 * i + 1] = 1;
      entries[4 * i + 2] = want[i];
      entries[4 * i + 3] = candidates[i];
    }
    for (boolean pin : new boolean[] {false, true}) {
      gpu.resetScratch();
      CUdeviceptr dev = gpu.arena().scratch(4L * flat.length), store = gpu.arena().scratch(4L * n * slotStride);
      gpu.transfers().upload(dev, 4L * flat.length, b -> b.asFloatBuffer().put(flat));
      gpu.launcher().launch("page_topk", n * selRows, 1, 1, 256, 0, store, slotStride, maxRanked, dev, stride, selRows,
          gpu.transfers().ints(entries), pin ? 1 : 0);
      java.nio.IntBuffer got = gpu.read(store, 4L * n * slotStride).asIntBuffer();
      for (int i = 0; i < n * selRows; i++) {
        int[] row = new int[want[i / selRows]];
        got.get(((n - 1 - i / selRows) * selRows + i % selRows) * maxRanked, row);
        assertArrayEquals(PageSelector.top(scores[i], want[i / selRows] + 1, pin), row, "row " + i + " pin " + pin);
      }
    }
  }
}
