package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuProfilerStart;
import static jcuda.driver.JCudaDriver.cuProfilerStop;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.model.RandomTensor;
import ai.lserve.engine.model.WeightTensor;
import ai.lserve.engine.runtime.Rope;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;
import java.nio.ByteBuffer;
import java.nio.ShortBuffer;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;

/**
 * The GPU backend: the operations of {@link Backend} as our kernels (kernels/src), launched through
 * JCuda's driver API on one stream of one GPU. bf16 activations and weights, fp32 accumulation;
 * weights, KV pages and per-step scratch live in one device arena sized from the memory fraction.
 * Every entry point binds the GPU's primary context to the calling thread. A decode step (every
 * slice one token) runs as a CUDA graph from its first attention to its sampled tokens (see
 * {@link StepGraph}), unless graphs are off.
 */
public final class CudaBackend implements Backend {
  /**
   * Scratch kept free beside the activations when sizing the KV pool: attention partial results
   * (up to CudaAttention.MAX_ROW_SPLITS rows of every query head in fp32, 136 MB for 32 heads of
   * 128) and step metadata; 256 MiB was too little for Llama-2-7B's 2048-token chunks on the H100.
   */
  private static final long SCRATCH_MARGIN = 768L << 20;

  private final CudaDevice device;
  private final DeviceArena arena;
  private final StepGraph graph;
  private final Launcher launcher;
  private final Transfers transfers;
  private final CudaAttention attention;
  private final int multiprocessors;
  private final boolean wideGemm; // the 128 x 256 GEMM tile fits the block's shared memory (not on sm_89)
  private final boolean hopper; // compute capability 9.0: the fatbin's sm_90a code has the wgmma GEMM and attention
  private final TensorMaps tensorMaps; // on Hopper, for the wgmma GEMM's loads; null where the driver's encoder is out of reach
  private final Map<Rope, CUdeviceptr> inverseFrequencies = new IdentityHashMap<>();
  private final Map<String, CudaTensor> stepScratch = new HashMap<>(); // until resetScratch
  private WeightUploader uploader; // while weights are being uploaded
  private StepMeta meta; // the current step's, in scratch

  private CudaBackend(CudaDevice device, double memoryFraction, boolean graphs, boolean dependentLaunches) {
    this.device = device;
    long free = device.memory()[0];
    this.arena = new DeviceArena((long) (free * memoryFraction),
        String.format("memory fraction %.2f of %.1f GiB free", memoryFraction, free / (double) (1L << 30)));
    this.graph = new StepGraph(device, graphs && !Launcher.DEBUG, dependentLaunches
        && device.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) >= 9);
    this.launcher = new Launcher(device, graph);
    this.transfers = new Transfers(device, arena, graph);
    this.multiprocessors = device.multiprocessors();
    this.wideGemm = device.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN) >= GEMM_WIDE_SMEM;
    this.hopper = device.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) == 9
        && device.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR) == 0;
    this.tensorMaps = hopper ? TensorMaps.open() : null;
    this.attention = new CudaAttention(launcher, transfers, arena, multiprocessors,
        device.attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN), hopper);
  }

  /**
   * Opens GPU {@code ordinal}, taking {@code memoryFraction} of its free memory. Fails with a clear
   * message on a machine without a GPU, driver or compiled kernels. {@code graphs}: run decode
   * steps as CUDA graphs (off under LSERVE_CUDA_DEBUG, which synchronizes after every launch).
   */
  public static Backend open(int ordinal, double memoryFraction, boolean graphs) {
    return open(ordinal, memoryFraction, graphs, DependentLaunch.ENABLED);
  }

  /** As above; {@code dependentLaunches}: GEMVs as programmatic dependents where the device has them. */
  static Backend open(int ordinal, double memoryFraction, boolean graphs, boolean dependentLaunches) {
    CudaDevice device = CudaDevice.open(ordinal);
    try {
      return new CudaBackend(device, memoryFraction, graphs, dependentLaunches);
    } catch (RuntimeException | Error e) {
      device.close();
      throw e;
    }
  }

  @Override
  public String name() {
    return "cuda:" + device.ordinal() + " (" + device.name() + ")";
  }

  @Override
  public KvFormat denseKvFormat() {
    return KvFormat.BF16;
  }

  @Override
  public Weight weight(WeightTensor tensor) {
    device.bind();
    if (uploader == null) {
      long chunk = WeightUploader.stagingBytes();
      uploader = new WeightUploader(device, launcher, new CUdeviceptr[] {arena.scratch(chunk), arena.scratch(chunk)});
    }
    long elements = (long) tensor.rows() * tensor.cols();
    CUdeviceptr p = arena.allocate(2 * elements, "weight " + tensor.name());
    uploader.upload(tensor, p);
    return new CudaWeight(tensor.name(), p, tensor.rows(), tensor.cols());
  }

  /** Generated in place by the synth kernel: nothing crosses the bus. */
  @Override
  public Weight weight(RandomTensor tensor) {
    device.bind();
    long n = tensor.numel();
    CUdeviceptr p = arena.allocate(2 * n, "weight " + tensor.name());
    launcher.launch("synth_uniform_bf16", Launcher.blocks(n), 1, 1, 256, 0, p, n, tensor.key(), tensor.scale(),
        tensor.mean());
    return new CudaWeight(tensor.name(), p, tensor.rows(), tensor.cols());
  }

  @Override
  public Tensor tensor(int rows, int cols) {
    return new CudaTensor(arena.scratch(2L * rows * cols), rows, cols);
  }

  @Override
  public void resetScratch() {
    device.bind();
    graph.flush();
    device.synchronize();
    if (uploader != null) {
      uploader.close();
      uploader = null;
    }
    if (profiling) {
      cuProfilerStop();
      profiling = false;
    }
    arena.resetScratch();
    stepScratch.clear();
    transfers.reset();
    meta = null;
  }

  /** The arena's high-water mark (the arena itself, memory fraction × free memory, is held from the start). */
  @Override
  public long peakDeviceBytes() {
    return arena.peak();
  }

  @Override
  public long kvBudgetBytes(long activationValues) {
    return Math.max(0, arena.free() - 4 * activationValues - SCRATCH_MARGIN);
  }

  @Override
  public long prefillScratchBytes(KvLayout layout, int tokens) {
    return attention.prefillScratchBytes(layout, tokens);
  }

  @Override
  public KvCache kvCache(KvLayout layout, AttentionPolicy policy, int retrievalPages, int streamingPages) {
    device.bind();
    CudaAttention.check(layout.headDim(), 1);
    return new CudaKvCache(arena, transfers, layout, policy, retrievalPages, streamingPages);
  }

  @Override
  public void embed(Tensor out, int[] ids, Weight table) {
    device.bind();
    CudaTensor o = (CudaTensor) out;
    CudaWeight t = (CudaWeight) table;
    launcher.launch("embedding_gather_bf16", ids.length, 1, 1, 256, 0, o.ptr(), t.ptr(), transfers.ints(ids), t.cols());
  }

  @Override
  public void rmsNorm(Tensor out, Tensor x, Weight w, float eps) {
    device.bind();
    CudaTensor o = (CudaTensor) out, in = (CudaTensor) x;
    int perThread = in.cols() % 8 == 0 ? 8 : 1; // the kernel's 16-byte accesses
    launcher.launch("rmsnorm_bf16", in.rows(), 1, 1, Math.min(1024, CudaAttention.roundUp(in.cols() / perThread, 32)), 0,
        o.ptr(), in.ptr(), ((CudaWeight) w).ptr(), in.cols(), eps);
  }

  @Override
  public void matmul(Tensor out, Tensor x, Weight w) {
    device.bind();
    CudaTensor o = (CudaTensor) out, in = (CudaTensor) x;
    CudaWeight wt = (CudaWeight) w;
    int m = in.rows(), k = in.cols(), n = wt.rows();
    checkShapes(o, in, w);
    String kernel = gemmKernel(m, n, k);
    switch (kernel) {
      case GEMV -> gemv(o, in, wt, m, n, k);
      case "gemv_bf16_any" ->
          launcher.launch(kernel, (n + 7) / 8, (m + 7) / 8, 1, 256, 0, o.ptr(), in.ptr(), wt.ptr(), m, n, k);
      case GEMM_WGMMA, GEMM_WGMMA_NARROW -> wgmma(kernel, "", o, in, wt, null, n);
      case "gemm_bf16_tc_wide" -> launcher.launch(kernel, (n + 255) / 256, (m + 127) / 128, 1, 256, GEMM_WIDE_SMEM,
          o.ptr(), in.ptr(), wt.ptr(), m, n, k);
      case "gemm_bf16_tc" -> launcher.launch(kernel, (n + 127) / 128, (m + 127) / 128, 1, 256, GEMM_SMEM, o.ptr(),
          in.ptr(), wt.ptr(), m, n, k);
      default -> launcher.launch(kernel, (n + 15) / 16, (m + 15) / 16, 1, 256, 0, o.ptr(), in.ptr(), wt.ptr(), m, n, k);
    }
  }

  /**
   * The persistent wgmma GEMM {@code kernel} with an epilogue ({@code ""} or {@code "_glu"}:
   * kernels/src/gemm_sm90.cuh) into n output columns; w2 is the up weight of _glu.
   */
  private void wgmma(String kernel, String epilogue, CudaTensor out, CudaTensor in, CudaWeight w, CudaWeight w2, int n) {
    int m = in.rows(), k = in.cols(), rows = kernel.equals(GEMM_WGMMA) ? 128 : 64;
    int cols = w2 == null ? 256 : 128, wRows = w2 == null ? 256 : 64; // a tile's output columns; rows of a weight box
    long tiles = (long) ((m + rows - 1) / rows) * ((n + cols - 1) / cols);
    TensorMaps.TensorMap tw = tensorMaps.bf16(w.ptr(), w.rows(), k, wRows);
    launcher.launch(kernel + epilogue, (int) Math.min(tiles, multiprocessors), 1, 1, 384,
        kernel.equals(GEMM_WGMMA) ? GEMM_WGMMA_SMEM : GEMM_WGMMA_NARROW_SMEM, out.ptr(),
        tensorMaps.bf16(in.ptr(), m, k, rows), tw, w2 == null ? tw : tensorMaps.bf16(w2.ptr(), w2.rows(), k, wRows), m, n,
        k);
  }

  /**
   * A decode step (up to 16 rows) runs the norm inside the GEMV (gemv_norm: q, k and v in one
   * launch); longer steps normalize into scratch and run the GEMMs.
   */
  @Override
  public void normMatmul(Tensor x, Weight normWeight, float eps, Tensor[] outs, Weight[] ws) {
    device.bind();
    CudaTensor in = (CudaTensor) x;
    int m = in.rows(), k = in.cols();
    if (outs.length != ws.length || outs.length == 0 || outs.length > 3)
      throw new IllegalArgumentException("normMatmul takes 1 to 3 products, got " + outs.length + " outputs for "
          + ws.length + " weights");
    if (!GEMV.equals(gemmKernel(m, 1, k))) {
      CudaTensor h = stepTensor("norm", m, k);
      rmsNorm(h, x, normWeight, eps);
      for (int i = 0; i < outs.length; i++) matmul(outs[i], h, ws[i]);
      return;
    }
    int n = 0;
    for (int i = 0; i < outs.length; i++) n += checkShapes((CudaTensor) outs[i], in, ws[i]).rows();
    GemvShape g = gemvShape(m, n, true);
    // (y, w, rows) of up to three products (absent ones with 0 rows), then x, the norm, eps, m, k.
    Object[] args = {null, null, 0, null, null, 0, null, null, 0, in.ptr(), ((CudaWeight) normWeight).ptr(), eps, m, k};
    int blocks = 0;
    for (int i = 0; i < outs.length; i++) {
      CudaWeight w = (CudaWeight) ws[i];
      args[3 * i] = ((CudaTensor) outs[i]).ptr();
      args[3 * i + 1] = w.ptr();
      args[3 * i + 2] = w.rows();
      blocks += g.blocks(w.rows());
    }
    launcher.launchDependent("gemv_norm_bf16_" + g.suffix(), blocks, (m + g.mr - 1) / g.mr, 1, 128, 0, args);
  }

  /**
   * A decode step: norm, both products and silu(gate) * up in one GEMV (gemv_glu). On Hopper a
   * longer step normalizes into scratch and runs one wgmma GEMM over both weights that stores
   * silu(gate) * up (_glu); elsewhere two GEMMs and silu_mul.
   */
  @Override
  public void normGatedMlp(Tensor out, Tensor x, Weight normWeight, float eps, Weight gate, Weight up) {
    device.bind();
    CudaTensor o = (CudaTensor) out, in = (CudaTensor) x;
    int m = in.rows(), k = in.cols();
    CudaWeight g = checkShapes(o, in, gate), u = checkShapes(o, in, up);
    int n = g.rows();
    String kernel = gemmKernel(m, 2 * n, k);
    if (isWgmma(kernel)) {
      CudaTensor h = stepTensor("norm", m, k);
      rmsNorm(h, x, normWeight, eps);
      wgmma(kernel, "_glu", o, h, g, u, n);
      return;
    }
    if (!GEMV.equals(kernel)) {
      CudaTensor t = stepTensor("up", o.rows(), o.cols());
      normMatmul(x, normWeight, eps, new Tensor[] {out, t}, new Weight[] {gate, up});
      siluMul(out, out, t);
      return;
    }
    GemvShape shape = gemvShape(m, n, false);
    launcher.launchDependent("gemv_glu_bf16_" + shape.suffix(), shape.blocks(n), (m + shape.mr - 1) / shape.mr, 1, 128, 0,
        o.ptr(), in.ptr(), ((CudaWeight) normWeight).ptr(), eps, g.ptr(), u.ptr(), m, n, k);
  }

  /** A decode step adds in the GEMV's store (gemv_add). */
  @Override
  public void matmulAdd(Tensor x, Tensor y, Weight w) {
    device.bind();
    CudaTensor acc = (CudaTensor) x, in = (CudaTensor) y;
    int m = in.rows(), k = in.cols();
    if (!GEMV.equals(gemmKernel(m, 1, k))) {
      CudaTensor o = stepTensor("residual", acc.rows(), acc.cols());
      matmul(o, y, w);
      add(x, o);
      return;
    }
    CudaWeight wt = checkShapes(acc, in, w);
    int n = wt.rows();
    GemvShape g = gemvShape(m, n, true);
    launcher.launchDependent("gemv_add_bf16_" + g.suffix(), g.blocks(n), (m + g.mr - 1) / g.mr, 1, 128, 0, acc.ptr(),
        in.ptr(), wt.ptr(), m, n, k);
  }

  private static CudaWeight checkShapes(CudaTensor out, CudaTensor in, Weight w) {
    CudaWeight wt = (CudaWeight) w;
    if (wt.cols() != in.cols() || out.cols() != wt.rows() || out.rows() != in.rows())
      throw new IllegalArgumentException("matmul shape mismatch for " + wt.name() + ": [" + wt.rows() + ", "
          + wt.cols() + "] from [" + in.rows() + ", " + in.cols() + "] into [" + out.rows() + ", " + out.cols() + "]");
    return wt;
  }

  /**
   * Scratch of one role reused by every layer of a step (the unfused paths' intermediates), so a
   * 2048-row chunk does not take a new buffer per layer.
   */
  private CudaTensor stepTensor(String role, int rows, int cols) {
    CudaTensor t = stepScratch.get(role);
    if (t == null || t.rows() != rows || t.cols() != cols) {
      t = (CudaTensor) tensor(rows, cols);
      stepScratch.put(role, t);
    }
    return t;
  }

  /**
   * The kernel for Y[m, n] = X[m, k] W[n, k]^T. On compute capability 9.0 (with the driver's
   * tensor-map encoder in reach, {@link TensorMaps}) with k % 64 == 0 and n % 8 == 0, the
   * persistent wgmma kernel (kernels/src/gemm_sm90.cuh): 128 x 256 tiles, or 64 x 256 where those
   * need enough fewer waves over the SMs; a 64-row tile does half the work at
   * about 0.77 of the rate (kernels/bench/gemm_bench.py on the H100), so it wins when
   * 0.65 x its waves < the 128-row tiles' waves (e.g. 512 x 4096 or 2048 x 1024 outputs).
   */
  String gemmKernel(int m, int n, int k) {
    if (m <= 16) return k % 8 == 0 ? GEMV : "gemv_bf16_any";
    if (tensorMaps != null && k % 64 == 0 && n % 8 == 0) {
      long wide = waves((long) ((m + 127) / 128) * ((n + 255) / 256));
      long narrow = waves((long) ((m + 63) / 64) * ((n + 255) / 256));
      return 13 * narrow < 20 * wide ? GEMM_WGMMA_NARROW : GEMM_WGMMA;
    }
    if (k % 8 != 0) return "gemm_bf16_simple";
    return wideGemm && (long) ((n + 255) / 256) * ((m + 127) / 128) >= multiprocessors ? "gemm_bf16_tc_wide" : "gemm_bf16_tc";
  }

  private static boolean isWgmma(String kernel) {
    return kernel.equals(GEMM_WGMMA) || kernel.equals(GEMM_WGMMA_NARROW);
  }

  private long waves(long tiles) {
    return (tiles + multiprocessors - 1) / multiprocessors;
  }

  private static final String GEMV = "gemv", GEMM_WGMMA = "gemm_bf16_wgmma_128x256", GEMM_WGMMA_NARROW = "gemm_bf16_wgmma_64x256";

  /**
   * The decode GEMV (kernels/src/gemv.cuh): up to 8 rows of x per pass (the smallest of 1, 2, 4, 8
   * that holds them); 2 weight rows per warp (4 above 4 rows of x, where an x chunk then feeds more
   * weight rows), fewer while that leaves under GEMV_BLOCKS_PER_SM blocks of 4 warps per
   * multiprocessor (measured on the H100, docs/BENCHMARKS.md).
   */
  private void gemv(CudaTensor o, CudaTensor in, CudaWeight wt, int m, int n, int k) {
    GemvShape g = gemvShape(m, n, true);
    launcher.launchDependent("gemv_bf16_" + g.suffix(), g.blocks(n), (m + g.mr - 1) / g.mr, 1, 128, 0, o.ptr(), in.ptr(),
        wt.ptr(), m, n, k);
  }

  /**
   * How a GEMV of m rows of x and n outputs runs (kernels/src/gemv.cuh): r weight rows per warp,
   * K split over ks warps of a block, mr rows of x per pass.
   */
  private record GemvShape(int r, int ks, int mr) {
    String suffix() {
      return "r" + r + (ks > 1 ? "k" + ks : "") + "_m" + mr;
    }

    int blocks(int n) {
      int per = (ks > 1 ? 1 : 4) * r;
      return (n + per - 1) / per;
    }
  }

  /**
   * Up to 8 rows of x per pass (the smallest of 1, 2, 4, 8 that holds them). Up to 4 rows, outputs
   * that would give under GEMV_SPLIT_K_BELOW blocks per multiprocessor split K over a block's warps
   * (2 rows per warp); others take 2 weight rows per warp, above 4 rows of x 4 (an x chunk then
   * feeds more weight rows; split K measured slower there, docs/BENCHMARKS.md), fewer while that
   * leaves under GEMV_BLOCKS_PER_SM blocks per multiprocessor. {@code splitK}: the kernel has
   * split-K entries.
   */
  private GemvShape gemvShape(int m, int n, boolean splitK) {
    int mr = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
    int r = m > 4 && splitK ? 4 : 2;
    if (splitK && m <= 4 && (long) (n + 4 * r - 1) / (4 * r) < (long) GEMV_SPLIT_K_BELOW * multiprocessors)
      return new GemvShape(2, 4, mr);
    while (r > 1 && (long) (n + 4 * r - 1) / (4 * r) < (long) GEMV_BLOCKS_PER_SM * multiprocessors) r /= 2;
    return new GemvShape(r, 1, mr);
  }

  private static final int GEMV_SPLIT_K_BELOW = 8;
  private static final int GEMV_BLOCKS_PER_SM = 2;

  /** Shared memory of the GEMM kernels (kernels/src/gemm.cuh): stages x (128 + BN) rows x 40 bf16. */
  private static final int GEMM_SMEM = 3 * 256 * 40 * 2, GEMM_WIDE_SMEM = 4 * 384 * 40 * 2;

  /**
   * Of the wgmma kernels (gemm_sm90.cuh): stages x (BM + 256) rows x 128 bytes, 16 bytes of
   * mbarriers a stage, 1024 bytes to align the ring.
   */
  private static final int GEMM_WGMMA_SMEM = 4 * 384 * 128 + 4 * 16 + 1024,
      GEMM_WGMMA_NARROW_SMEM = 5 * 320 * 128 + 5 * 16 + 1024;

  @Override
  public void rope(Tensor x, int heads, StepBatch batch, Rope rope) {
    device.bind();
    CudaTensor t = (CudaTensor) x;
    launcher.launch("rope_bf16", t.rows(), 1, 1, 128, 0, t.ptr(), inverseFrequencies(rope), heads, rope.headDim(),
        meta(batch, null).rowPos);
  }

  @Override
  public void attention(Tensor out, Tensor q, Tensor k, Tensor v, int layer, StepBatch batch, KvCache cache) {
    device.bind();
    attention.run((CudaTensor) out, (CudaTensor) q, (CudaTensor) k, (CudaTensor) v, layer,
        stepMeta(batch, (CudaKvCache) cache), (CudaKvCache) cache, null);
  }

  /** Rotation of q and k fused with the cache write (one kernel for both). */
  @Override
  public void ropeAttention(Tensor out, Tensor q, Tensor k, Tensor v, int layer, StepBatch batch, KvCache cache, Rope rope) {
    device.bind();
    CUdeviceptr invFreq = inverseFrequencies(rope);
    attention.run((CudaTensor) out, (CudaTensor) q, (CudaTensor) k, (CudaTensor) v, layer,
        stepMeta(batch, (CudaKvCache) cache), (CudaKvCache) cache, invFreq);
  }

  @Override
  public void siluMul(Tensor out, Tensor gate, Tensor up) {
    device.bind();
    CudaTensor o = (CudaTensor) out;
    launcher.launch("silu_mul_bf16", Launcher.blocks(o.elements()), 1, 1, 256, 0, o.ptr(),
        ((CudaTensor) gate).ptr(), ((CudaTensor) up).ptr(), o.elements());
  }

  @Override
  public void add(Tensor x, Tensor y) {
    device.bind();
    CudaTensor a = (CudaTensor) x;
    launcher.launch("add_bf16", Launcher.blocks(a.elements()), 1, 1, 256, 0, a.ptr(), ((CudaTensor) y).ptr(),
        a.elements());
  }

  @Override
  public void gatherRows(Tensor out, Tensor x, int[] rows) {
    device.bind();
    CudaTensor o = (CudaTensor) out;
    launcher.launch("gather_rows_bf16", rows.length, 1, 1, 256, 0, o.ptr(), ((CudaTensor) x).ptr(),
        transfers.ints(rows), o.cols());
  }

  @Override
  public float[] toHost(Tensor t) {
    device.bind();
    CudaTensor c = (CudaTensor) t;
    ShortBuffer b = transfers.download(c.ptr(), 2 * c.elements()).asShortBuffer();
    float[] out = new float[Math.toIntExact(c.elements())];
    for (int i = 0; i < out.length; i++) out[i] = Fp16.bf16ToFloat(b.get(i));
    return out;
  }

  @Override
  public void fromHost(Tensor t, float[] values) {
    device.bind();
    CudaTensor c = (CudaTensor) t;
    if (values.length != c.elements()) throw new IllegalArgumentException("fromHost: " + values.length + " values for " + c.elements());
    transfers.upload(c.ptr(), 2 * c.elements(), b -> {
      for (float v : values) b.putShort(Fp16.bf16FromFloat(v));
    });
  }

  /** On the device (kernels/src/sampling.cuh): only the chosen ids come back. */
  @Override
  public int[] sample(Tensor logits, SamplingParams.Resolved[] params, double[] uniforms) {
    device.bind();
    CudaTensor l = (CudaTensor) logits;
    int rows = l.rows();
    int[] temperature = new int[rows], topK = new int[rows], topP = new int[rows], u = new int[rows];
    for (int r = 0; r < rows; r++) {
      temperature[r] = Float.floatToRawIntBits((float) params[r].temperature());
      topK[r] = params[r].topK();
      topP[r] = Float.floatToRawIntBits((float) params[r].topP());
      u[r] = Float.floatToRawIntBits((float) uniforms[r]);
    }
    CUdeviceptr out = arena.scratch(4L * rows);
    launcher.launch("sample_bf16", rows, 1, 1, 1024, 0, out, l.ptr(), l.cols(), transfers.ints(temperature),
        transfers.ints(topK), transfers.ints(topP), transfers.ints(u));
    int[] ids = new int[rows];
    transfers.download(out, 4L * rows).asIntBuffer().get(ids);
    return ids;
  }

  /** Greedy tokens of each row of bf16 logits (the argmax kernel). */
  int[] argmax(Tensor logits) {
    device.bind();
    CudaTensor l = (CudaTensor) logits;
    CUdeviceptr out = arena.scratch(4L * l.rows());
    launcher.launch("argmax_bf16", l.rows(), 1, 1, 1024, 0, out, l.ptr(), l.cols());
    int[] ids = new int[l.rows()];
    transfers.download(out, 4L * l.rows()).asIntBuffer().get(ids);
    return ids;
  }

  /** Raw device bytes, for tests that inspect the cache layout. */
  ByteBuffer read(CUdeviceptr p, long bytes) {
    device.bind();
    ByteBuffer b = transfers.download(p, bytes);
    ByteBuffer copy = ByteBuffer.allocate((int) bytes).order(b.order());
    return copy.put(b).flip();
  }

  CudaDevice device() {
    return device;
  }

  Transfers transfers() {
    return transfers;
  }

  DeviceArena arena() {
    return arena;
  }

  Launcher launcher() {
    return launcher;
  }

  StepGraph graph() {
    return graph;
  }

  private StepMeta meta(StepBatch batch, CudaKvCache cache) {
    if (meta == null || meta.batch != batch || (cache != null && meta.cache != cache)) {
      meta = new StepMeta(batch, transfers, cache);
      if (meta.decodeOnly && ++decodeSteps == NCU_DECODE_STEP) {
        cuProfilerStart();
        profiling = true;
      }
    }
    return meta;
  }

  /**
   * LSERVE_NCU_DECODE_STEP=N: Nsight Compute (run with --profile-from-start off) sees the kernels
   * of the N-th decode step only, from its first attention to the next step (docs/BENCHMARKS.md).
   */
  private static final int NCU_DECODE_STEP = Integer.parseInt(System.getenv().getOrDefault("LSERVE_NCU_DECODE_STEP", "-1"));
  private int decodeSteps;
  private boolean profiling;

  /**
   * The step's metadata for attention (uploaded at once when new). In a decode step each layer's
   * attention issues the segment recorded since the previous one (as a graph) and opens the next,
   * so the GPU runs one layer while this thread records the next; the step's first wait on the
   * device (its sampled tokens) issues the last.
   */
  private StepMeta stepMeta(StepBatch batch, CudaKvCache cache) {
    StepMeta m = meta(batch, cache);
    if (graph.profile != null) graph.profile.phase(m.decodeOnly ? "decode" : "prefill");
    if (m.decodeOnly) {
      graph.flush();
      graph.open();
    }
    return m;
  }

  private CUdeviceptr inverseFrequencies(Rope rope) {
    return inverseFrequencies.computeIfAbsent(rope, r -> {
      float[] f = r.inverseFrequencies();
      CUdeviceptr p = arena.allocate(4L * f.length, "RoPE frequencies");
      transfers.upload(p, 4L * f.length, b -> b.asFloatBuffer().put(f));
      return p;
    });
  }

  @Override
  public void close() {
    device.bind();
    graph.close();
    device.synchronize();
    if (uploader != null) uploader.close();
    transfers.close();
    arena.close();
    device.close();
  }
}
