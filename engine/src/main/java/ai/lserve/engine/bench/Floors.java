package ai.lserve.engine.bench;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.sparse.SparseConfig;

/**
 * Lower bounds of a bench cell on an H100: decode cannot beat the bytes one step must read over
 * the copy bandwidth, prefill cannot beat its FLOPs over cuBLAS's bf16 GEMM rate (both measured on
 * the GPU host, {@code shared/reference/peer-h100-2026-11-24.json}). Both count only what the
 * algorithm must do, so a measured figure divided by its floor is at least 1.
 */
public final class Floors {
  /** Device-to-device copy, read + write, TB/s. */
  public static final double COPY_TBPS = 2.96;
  /** bf16 GEMM through cuBLAS at 8192 x 4096 x 6144, TFLOP/s. */
  public static final double GEMM_TFLOPS = 720;

  private Floors() {}

  /** Weights of one decoder layer's matrices (q, k, v, o, gate, up, down). */
  static long linearParamsPerLayer(LlamaConfig c) {
    long q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim();
    return c.hiddenSize() * (q + 2 * kv) + q * c.hiddenSize() + 3L * c.hiddenSize() * c.intermediateSize();
  }

  /**
   * FLOPs of prefilling {@code batch} prompts of {@code context} tokens: every layer's matrices
   * for every token, lm_head for the last one, and causal attention (QKᵀ and PV, 4·d per query-key
   * pair); in lserve, streaming heads see only the sink and the prefill window.
   */
  public static double prefillFlops(LlamaConfig c, KvLayout layout, SparseConfig s, boolean lserve, long context, int batch) {
    double gemm = 2.0 * context * c.numLayers() * linearParamsPerLayer(c) + 2.0 * c.vocabSize() * c.hiddenSize();
    int group = c.numHeads() / c.numKvHeads();
    double pairs = 0;
    for (int l = 0; l < c.numLayers(); l++) {
      int streaming = lserve ? layout.streamingHeads(l) : 0;
      pairs += (double) (c.numKvHeads() - streaming) * group * keys(context, context);
      pairs += (double) streaming * group * keys(context, (long) s.sink() + s.prefillLocal());
    }
    return batch * (gemm + 4.0 * c.headDim() * pairs);
  }

  /** Query-key pairs of a causal prompt of {@code n} tokens when each query sees at most {@code window} keys. */
  static double keys(long n, long window) {
    long w = Math.min(n, window);
    return w * (w + 1) / 2.0 + (double) (n - w) * w;
  }

  /**
   * Bytes one decode step must read at {@code context} tokens: the bf16 weights (but the
   * embedding table, of which it reads one row per sequence) and, per sequence, the keys and values
   * the attention reads: all of them when dense; in lserve, retrieval heads' page budget plus the
   * key statistics of every page once per reuse interval, and streaming heads' sink and local tokens.
   */
  public static double decodeBytes(LlamaConfig c, KvLayout layout, SparseConfig s, boolean lserve, long context, int batch) {
    double weights = 2.0 * (c.numLayers() * (linearParamsPerLayer(c) + 2L * c.hiddenSize())
        + (long) c.vocabSize() * c.hiddenSize() + c.hiddenSize());
    double token = 2.0 * layout.format().bytesPerHeadToken(c.headDim()); // keys and values of one head
    double kv = 0;
    for (int l = 0; l < c.numLayers(); l++) {
      int streaming = lserve ? layout.streamingHeads(l) : 0, retrieval = c.numKvHeads() - streaming;
      long read = lserve ? Math.min(context, s.budget()) : context;
      kv += retrieval * read * token + streaming * Math.min(context, (long) s.sink() + s.local()) * token;
      if (lserve)
        kv += (double) retrieval * KvLayout.pagesFor(context) * layout.statsBytesPerHeadPage() / s.reuseInterval();
    }
    return weights + batch * kv;
  }

  public static double prefillFloorMs(double flops) {
    return flops / (GEMM_TFLOPS * 1e12) * 1e3;
  }

  public static double decodeFloorMs(double bytes) {
    return bytes / (COPY_TBPS * 1e12) * 1e3;
  }
}
