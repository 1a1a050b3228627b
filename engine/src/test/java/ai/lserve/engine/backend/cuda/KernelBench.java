package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;

import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.PageTable;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.kv.StreamingRing;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.Arrays;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;

/**
 * Kernel timings on Llama-3-8B shapes (random data, never zeros; device events, warm-up, medians):
 * copy bandwidth, prefill GEMM, decode GEMV, decode attention over 32K/128K-token contexts.
 * Run on the GPU host: .gpu/run.sh ai.lserve.engine.backend.cuda.KernelBench [gemm] (gemm: copy and
 * GEMM only).
 */
public final class KernelBench {
  private final CudaBackend gpu = (CudaBackend) CudaBackend.open(0, 0.85, false);
  private final SplittableRandom random = new SplittableRandom(1);
  private final CUevent start = new CUevent(), stop = new CUevent();

  private KernelBench() {
    cuEventCreate(start, 0);
    cuEventCreate(stop, 0);
  }

  public static void main(String[] args) {
    KernelBench b = new KernelBench();
    try {
      b.run(args.length > 0 && args[0].equals("gemm"));
    } finally {
      b.gpu.close();
    }
  }

  /**
   * Median milliseconds of {@code reps} timed runs after 3 warm-ups, between device events: the
   * launches' host work is inside, host-to-device staging of test inputs is not.
   */
  private double time(int reps, Runnable r) {
    for (int i = 0; i < 3; i++) r.run();
    double[] ms = new double[reps];
    float[] t = {0};
    for (int i = 0; i < reps; i++) {
      cuEventRecord(start, gpu.device().stream());
      r.run();
      cuEventRecord(stop, gpu.device().stream());
      cuEventSynchronize(stop);
      cuEventElapsedTime(t, start, stop);
      ms[i] = t[0];
    }
    Arrays.sort(ms);
    return ms[reps / 2];
  }

  private short[] pattern;

  /** Permanent device memory holding random bf16 values in ±[0.05, 1) * scale (a 16M-value pattern repeated). */
  private CUdeviceptr randomBf16(long n, float scale) {
    int chunk = 1 << 24;
    if (pattern == null) {
      pattern = new short[chunk];
      for (int i = 0; i < chunk; i++)
        pattern[i] = Fp16.bf16FromFloat((float) ((0.05 + 0.95 * random.nextDouble()) * (random.nextBoolean() ? 1 : -1)));
    }
    short[] scaled = new short[chunk];
    for (int i = 0; i < chunk; i++) scaled[i] = Fp16.bf16FromFloat(Fp16.bf16ToFloat(pattern[i]) * scale);
    CUdeviceptr p = gpu.arena().allocate(2 * n, "bench data");
    for (long off = 0; off < n; off += chunk) {
      int len = (int) Math.min(chunk, n - off);
      gpu.transfers().upload(p.withByteOffset(2 * off), 2L * len, b -> b.asShortBuffer().put(scaled, 0, len));
      gpu.device().synchronize();
      gpu.transfers().reset();
    }
    return p;
  }

  private void fillBytes(CUdeviceptr p, long bytes) {
    int chunk = 1 << 25;
    byte[] bytesPattern = new byte[chunk];
    for (int i = 0; i < chunk; i++) bytesPattern[i] = (byte) random.nextInt(256);
    for (long off = 0; off < bytes; off += chunk) {
      int len = (int) Math.min(chunk, bytes - off);
      gpu.transfers().upload(p.withByteOffset(off), len, b -> b.put(bytesPattern, 0, len));
      gpu.device().synchronize();
      gpu.transfers().reset();
    }
  }

  private void fillHalfPairs(CUdeviceptr p, long pairs, float a, float b) {
    gpu.transfers().upload(p, 4 * pairs, buf -> {
      for (long i = 0; i < pairs; i++) buf.putShort(Fp16.fromFloat(a * (float) (0.5 + random.nextDouble()))).putShort(Fp16.fromFloat(b));
    });
    gpu.device().synchronize();
    gpu.transfers().reset();
  }

  private void run(boolean gemmOnly) {
    System.out.println("device: " + gpu.name());
    long copyBytes = 1L << 30;
    CUdeviceptr src = randomBf16(copyBytes / 2, 1), dst = gpu.arena().allocate(copyBytes, "copy");
    double copyMs = time(10, () -> cuMemcpyDtoDAsync(dst, src, copyBytes, gpu.device().stream()));
    System.out.printf("copy 1 GiB device-to-device: %.3f ms, %.0f GB/s (read + write)%n", copyMs, 2 * copyBytes / copyMs / 1e6);

    // N x K: fused QKV, q or O, k or v alone (the engine launches q, k, v apart), gate or up, down;
    // M: prefill chunks of the default --max-batch-tokens (8192) and of smaller settings.
    int[][] nks = {{6144, 4096}, {4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}};
    for (int m : new int[] {8192, 2048, 512}) {
      for (int[] s : nks) {
        int n = s[0], k = s[1];
        CudaTensor x = new CudaTensor(randomBf16((long) m * k, 1), m, k);
        CudaWeight w = new CudaWeight("w", randomBf16((long) n * k, 0.05f), n, k);
        CudaTensor y = new CudaTensor(gpu.arena().allocate(2L * m * n, "y"), m, n);
        double ms = time(10, () -> gpu.matmul(y, x, w));
        System.out.printf("GEMM M=%d N=%d K=%d (%s): %.3f ms, %.0f TFLOP/s%n", m, n, k, gpu.gemmKernel(m, n, k), ms,
            2.0 * m * n * k / ms / 1e9);
      }
    }
    if (gemmOnly) return;
    int[][] gemvs = {{14336, 4096}, {4096, 14336}, {28672, 4096}};
    for (int[] s : gemvs) {
      int n = s[0], k = s[1];
      CudaWeight w = new CudaWeight("w", randomBf16((long) n * k, 0.05f), n, k);
      for (int m : new int[] {1, 4, 8, 16}) {
        CudaTensor x = new CudaTensor(randomBf16((long) m * k, 1), m, k);
        CudaTensor y = new CudaTensor(gpu.arena().allocate(2L * m * n, "y"), m, n);
        double ms = time(20, () -> gpu.matmul(y, x, w));
        System.out.printf("GEMV batch %d N=%d K=%d: %.4f ms, %.0f GB/s of weights%n", m, n, k, ms, 2.0 * n * k / ms / 1e6);
      }
    }
    for (int chunk : new int[] {512, 2048, 4096})
      for (KvFormat format : new KvFormat[] {KvFormat.BF16, KvFormat.INT8, KvFormat.INT4})
        prefill(32768, chunk, format, false);
    for (int tokens : new int[] {32768, 131072})
      for (int chunk : new int[] {512, 4096}) {
        prefill(tokens, chunk, KvFormat.BF16, false);
        prefill(tokens, chunk, KvFormat.BF16, true);
      }
    for (int tokens : new int[] {32768, 131072}) {
      decode(tokens, KvFormat.BF16, false);
      decode(tokens, KvFormat.INT8, false);
      decode(tokens, KvFormat.INT8, true);
    }
  }

  /**
   * The last prefill chunk of {@code chunk} rows of a {@code tokens}-token prompt, one layer: all
   * heads dense, or (lserve) half the KV heads streaming (sink 128, the default prefill window).
   */
  private void prefill(int tokens, int chunk, KvFormat format, boolean lserve) {
    int heads = 32, kvHeads = 8, d = 128, pages = KvLayout.pagesFor(tokens), sinkPages = 2;
    double[] gates = new double[kvHeads];
    for (int h = 0; h < kvHeads; h++) gates[h] = h % 2 == 0 ? 0.9 : 0.1;
    HeadPattern pattern = lserve ? HeadPattern.fromGates(new double[][] {gates}, 0.5) : HeadPattern.allRetrieval(1, kvHeads);
    KvLayout layout = new KvLayout(1, kvHeads, d, format, pattern, lserve);
    int window = SparseConfig.defaults().prefillLocal();
    AttentionPolicy policy = new AttentionPolicy(lserve, 128, 256, window, 4096, 4, SparseConfig.Selection.KV_HEAD, false);
    int ringPages = lserve ? sinkPages + KvLayout.pagesFor(window + chunk) + 1 : 0;
    CudaKvCache cache = (CudaKvCache) gpu.kvCache(layout, policy, pages, ringPages);
    fillPool(cache.retrieval[0], pages, format);
    if (lserve) fillPool(cache.streaming[0], ringPages, format);
    int[] table = new int[pages];
    for (int i = 0; i < pages; i++) table[i] = i;
    PageTable pageTable = new PageTable(table);
    pageTable.advance(tokens - chunk);
    int[] ring = new int[ringPages];
    for (int i = 0; i < ringPages; i++) ring[i] = i;
    SequenceKv kv = new SequenceKv(pageTable, lserve ? new StreamingRing(sinkPages, ring) : null, 1);
    float[] qv = new float[chunk * heads * d], kvv = new float[chunk * kvHeads * d];
    for (int i = 0; i < qv.length; i++) qv[i] = (float) random.nextGaussian();
    for (int i = 0; i < kvv.length; i++) kvv[i] = (float) random.nextGaussian();
    gpu.resetScratch();
    StepBatch batch = new StepBatch();
    batch.add(kv, tokens - chunk, chunk, false);
    CudaTensor q = (CudaTensor) GpuTests.tensor(gpu, chunk, heads * d, qv);
    CudaTensor k = (CudaTensor) GpuTests.tensor(gpu, chunk, kvHeads * d, kvv), v = (CudaTensor) GpuTests.tensor(gpu, chunk, kvHeads * d, kvv);
    CudaTensor out = (CudaTensor) gpu.tensor(chunk, heads * d);
    double ms = time(10, () -> gpu.attention(out, q, k, v, 0, batch, cache)); // the cache write, both kernels, the merge
    double flops = 4.0 * heads * d * chunk * (tokens - chunk / 2.0); // dense heads' work
    System.out.printf("prefill attention (tensor cores) %s, last %d rows of %d tokens, 32/8 heads, d 128, %s, one layer:"
        + " %.3f ms, %.0f TFLOP/s dense-equivalent%n", format, chunk, tokens, lserve ? "4/8 KV heads streaming" : "dense",
        ms, flops / ms / 1e9);
    cache.close();
  }

  /** Random codes (bf16 values, or bytes with scales and zeros) in every page of a pool. */
  private void fillPool(CudaKvCache.Pool pool, int pages, KvFormat format) {
    long vectors = (long) pages * pool.heads() * KvLayout.PAGE_TOKENS;
    long codeBytes = vectors * 128 * format.bits / 8;
    if (format == KvFormat.BF16) { // random bytes can be NaN in bf16: use values
      gpu.device().synchronize();
      CUdeviceptr k = randomBf16(vectors * 128, 1);
      cuMemcpyDtoDAsync(pool.keys(), k, codeBytes, gpu.device().stream());
      cuMemcpyDtoDAsync(pool.values(), k, codeBytes, gpu.device().stream());
    } else {
      fillBytes(pool.keys(), codeBytes);
      fillBytes(pool.values(), codeBytes);
      fillHalfPairs(pool.keyParams(), vectors, 2f / 255, -1f);
      fillHalfPairs(pool.valueParams(), vectors, 2f / 255, -1f);
    }
  }

  /** One decode token of one layer (32 query heads, 8 KV heads, d 128) at a context of {@code tokens}. */
  private void decode(int tokens, KvFormat format, boolean lserve) {
    int heads = 32, kvHeads = 8, d = 128, pages = KvLayout.pagesFor(tokens + 1);
    KvLayout layout = new KvLayout(1, kvHeads, d, format, HeadPattern.allRetrieval(1, kvHeads), lserve);
    AttentionPolicy policy = new AttentionPolicy(lserve, 128, 256, 8192, 4096, 4, SparseConfig.Selection.KV_HEAD, false);
    CudaKvCache cache = (CudaKvCache) gpu.kvCache(layout, policy, pages, 0);
    CudaKvCache.Pool pool = cache.retrieval[0];
    long vectors = (long) pages * kvHeads * KvLayout.PAGE_TOKENS;
    if (format == KvFormat.BF16) {
      gpu.device().synchronize();
      CUdeviceptr k = randomBf16(vectors * d, 1), v = randomBf16(vectors * d, 1);
      cuMemcpyDtoDAsync(pool.keys(), k, vectors * d * 2, gpu.device().stream());
      cuMemcpyDtoDAsync(pool.values(), v, vectors * d * 2, gpu.device().stream());
    } else {
      fillBytes(pool.keys(), vectors * d);
      fillBytes(pool.values(), vectors * d);
      fillHalfPairs(pool.keyParams(), vectors, 2f / 255, -1f);
      fillHalfPairs(pool.valueParams(), vectors, 2f / 255, -1f);
    }
    if (lserve) {
      long stats = (long) pages * kvHeads * 4 * d;
      gpu.transfers().upload(cache.keyMax[0], 2 * stats, b -> { for (long i = 0; i < stats; i++) b.putShort(Fp16.fromFloat((float) random.nextDouble())); });
      gpu.transfers().upload(cache.keyMin[0], 2 * stats, b -> { for (long i = 0; i < stats; i++) b.putShort(Fp16.fromFloat((float) -random.nextDouble())); });
      gpu.device().synchronize();
      gpu.transfers().reset();
    }
    int[] table = new int[pages];
    for (int i = 0; i < pages; i++) table[i] = i;
    PageTable pageTable = new PageTable(table);
    pageTable.advance(tokens);
    float[] qv = new float[heads * d], kvv = new float[kvHeads * d];
    for (int i = 0; i < qv.length; i++) qv[i] = (float) random.nextGaussian();
    for (int i = 0; i < kvv.length; i++) kvv[i] = (float) random.nextGaussian();
    SequenceKv reused = new SequenceKv(pageTable, null, 1);
    gpu.resetScratch();
    CudaTensor q = (CudaTensor) GpuTests.tensor(gpu, 1, heads * d, qv), out = (CudaTensor) gpu.tensor(1, heads * d);
    CudaTensor k = (CudaTensor) GpuTests.tensor(gpu, 1, kvHeads * d, kvv), v = (CudaTensor) GpuTests.tensor(gpu, 1, kvHeads * d, kvv);
    for (boolean select : lserve ? new boolean[] {true, false} : new boolean[] {false}) {
      // Each call is a new step (its metadata uploaded, as in the engine). A fresh sequence has no
      // selection yet, so its step selects pages (scores and top-k on the device); the same
      // sequence at the same position reuses its selection.
      double ms = time(20, () -> {
        StepBatch batch = new StepBatch();
        batch.add(select ? new SequenceKv(pageTable, null, 1) : reused, tokens, 1, true);
        gpu.attention(out, q, k, v, 0, batch, cache);
      });
      long attended = lserve ? Math.min(tokens, 4096) : tokens;
      double bytes = (double) attended * kvHeads * 2 * format.bytesPerHeadToken(d);
      System.out.printf("decode attention %s %s, context %d (batch 1, 32/8 heads, d 128, one layer): %.3f ms,"
              + " %.0f GB/s of KV read%n", lserve ? (select ? "lserve budget 4096, selecting step" : "lserve budget 4096, reuse step")
              : "dense", format, tokens, ms, bytes / ms / 1e6);
    }
  }
}
