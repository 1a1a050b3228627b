package ai.lserve.engine.backend;

import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.model.RandomTensor;
import ai.lserve.engine.model.WeightTensor;
import ai.lserve.engine.runtime.Rope;
import ai.lserve.engine.runtime.Sampler;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.runtime.StepBatch;
import ai.lserve.engine.sparse.AttentionPolicy;

/**
 * The operations a Llama forward pass needs. {@link ai.lserve.engine.runtime.LlamaModel} is written
 * once against this interface; the CPU backend is the reference and the CUDA backend runs the same
 * operations with our kernels. Activations are rows of tokens; a row never depends on the others
 * except inside {@link #attention}, so results do not change with the batch.
 */
public interface Backend extends AutoCloseable {
  String name();

  /** The KV format of dense mode unless one is asked for: the backend's activation precision. */
  KvFormat denseKvFormat();

  /** Makes a weight usable by this backend (the CPU wraps the mapped tensor, a GPU uploads it). */
  Weight weight(WeightTensor tensor);

  /** Makes a synthetic model's random weight (a GPU generates it in place). */
  Weight weight(RandomTensor tensor);

  /**
   * Bytes the KV pages may take when the engine sizes them itself, after the weights are loaded;
   * {@code activationValues} is how many activation values one forward step allocates at most.
   */
  default long kvBudgetBytes(long activationValues) {
    return Runtime.getRuntime().maxMemory() / 4;
  }

  /**
   * Scratch bytes a step prefilling {@code tokens} tokens of this layout may take beyond its
   * activations (the CUDA backend's fp16 copies of quantized pages); the engine keeps them out of
   * the KV budget.
   */
  default long prefillScratchBytes(KvLayout layout, int tokens) {
    return 0;
  }

  /**
   * The most device memory this backend's allocations have taken at once (weights, KV pages and
   * scratch), or -1 where the backend has no device memory of its own (the CPU).
   */
  default long peakDeviceBytes() {
    return -1;
  }

  /** Scratch activations, valid until the next {@link #resetScratch()}. */
  Tensor tensor(int rows, int cols);

  /** Releases every scratch tensor handed out since the last reset. */
  void resetScratch();

  /** The paged KV cache: the two page pools of this layout, attended to as the policy says. */
  KvCache kvCache(KvLayout layout, AttentionPolicy policy, int retrievalPages, int streamingPages);

  /** out[t] = table[ids[t]]. */
  void embed(Tensor out, int[] ids, Weight table);

  /** out[t] = x[t] / rms(x[t]) * w. */
  void rmsNorm(Tensor out, Tensor x, Weight w, float eps);

  /** out[t] = W x[t], with W stored as [out features, in features]. */
  void matmul(Tensor out, Tensor x, Weight w);

  /**
   * outs[i] = ws[i] h for each i, with h = rmsNorm(x) by {@code normWeight}: the projections that
   * read one normalized input (q, k, v; gate, up; the LM head). Backends may fuse the norm into
   * the products; x is left as it is.
   */
  default void normMatmul(Tensor x, Weight normWeight, float eps, Tensor[] outs, Weight[] ws) {
    if (outs.length != ws.length) throw new IllegalArgumentException(outs.length + " outputs for " + ws.length + " weights");
    Tensor h = tensor(x.rows(), x.cols());
    rmsNorm(h, x, normWeight, eps);
    for (int i = 0; i < outs.length; i++) matmul(outs[i], h, ws[i]);
  }

  /** out = silu(Wgate h) * (Wup h), h = rmsNorm(x) by {@code normWeight}: the gated MLP's first half. */
  default void normGatedMlp(Tensor out, Tensor x, Weight normWeight, float eps, Weight gate, Weight up) {
    Tensor u = tensor(out.rows(), out.cols());
    normMatmul(x, normWeight, eps, new Tensor[] {out, u}, new Weight[] {gate, up});
    siluMul(out, out, u);
  }

  /** x += W y: a projection added to the residual stream. */
  default void matmulAdd(Tensor x, Tensor y, Weight w) {
    Tensor o = tensor(x.rows(), x.cols());
    matmul(o, y, w);
    add(x, o);
  }

  /** Rotates each head of x in place by the position of its row (Hugging Face rotate-half pairs). */
  void rope(Tensor x, int heads, StepBatch batch, Rope rope);

  /**
   * Appends this step's keys and values to the cache of {@code layer}, then attends each query row
   * to the keys of its own sequence that its head may see (all earlier ones when dense; the Λ mask
   * for streaming heads; selected pages for retrieval heads in sparse decode).
   */
  void attention(Tensor out, Tensor q, Tensor k, Tensor v, int layer, StepBatch batch, KvCache cache);

  /**
   * Rotates q and k by their rows' positions, then does what {@link #attention} does. Backends may
   * fuse the rotation with the cache write.
   */
  default void ropeAttention(
      Tensor out, Tensor q, Tensor k, Tensor v, int layer, StepBatch batch, KvCache cache, Rope rope) {
    rope(q, q.cols() / rope.headDim(), batch, rope);
    rope(k, k.cols() / rope.headDim(), batch, rope);
    attention(out, q, k, v, layer, batch, cache);
  }

  /** out = silu(gate) * up. */
  void siluMul(Tensor out, Tensor gate, Tensor up);

  /** x += y. */
  void add(Tensor x, Tensor y);

  /** out[i] = x[rows[i]]. */
  void gatherRows(Tensor out, Tensor x, int[] rows);

  /**
   * A token from each row of logits, as {@link Sampler#sample} picks it with the uniform draw
   * {@code uniforms[row]}. Backends may sample on the device so that the logits stay there.
   */
  default int[] sample(Tensor logits, SamplingParams.Resolved[] params, double[] uniforms) {
    float[] host = toHost(logits);
    int vocab = logits.cols();
    int[] tokens = new int[logits.rows()];
    for (int r = 0; r < tokens.length; r++) tokens[r] = Sampler.sample(host, r * vocab, vocab, params[r], uniforms[r]);
    return tokens;
  }

  /** Copies a tensor to the host, row-major. */
  float[] toHost(Tensor t);

  /** Sets a tensor from the host, row-major (rounded to the backend's activation precision). */
  void fromHost(Tensor t, float[] values);

  @Override
  void close();
}
