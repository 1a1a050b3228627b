package ai.lserve.engine.runtime;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.ModelSource;

/** The Llama forward pass, written once against {@link Backend}. */
public final class LlamaModel {
  private record Layer(
      Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo,
      Weight ffnNorm, Weight wGate, Weight wUp, Weight wDown) {}

  private final LlamaConfig config;
  private final Backend backend;
  private final Rope rope;
  private final Weight embed, finalNorm, lmHead;
  private final Layer[] layers;

  /** Loads every weight of {@code source} onto {@code backend}, by its Hugging Face name. */
  public LlamaModel(ModelSource source, Backend backend) {
    this.config = source.config();
    this.backend = backend;
    this.rope = new Rope(config);
    this.embed = source.load("model.embed_tokens.weight", backend);
    this.layers = new Layer[config.numLayers()];
    for (int i = 0; i < layers.length; i++) {
      String p = "model.layers." + i + ".";
      layers[i] = new Layer(
          source.load(p + "input_layernorm.weight", backend), source.load(p + "self_attn.q_proj.weight", backend),
          source.load(p + "self_attn.k_proj.weight", backend), source.load(p + "self_attn.v_proj.weight", backend),
          source.load(p + "self_attn.o_proj.weight", backend), source.load(p + "post_attention_layernorm.weight", backend),
          source.load(p + "mlp.gate_proj.weight", backend), source.load(p + "mlp.up_proj.weight", backend),
          source.load(p + "mlp.down_proj.weight", backend));
    }
    this.finalNorm = source.load("model.norm.weight", backend);
    this.lmHead = config.tieWordEmbeddings() ? embed : source.load("lm_head.weight", backend);
  }

  public LlamaConfig config() {
    return config;
  }

  /** Activation values {@link #forward} allocates for a step of {@code rows} rows, logits included. */
  public long activationValues(int rows) {
    LlamaConfig c = config;
    return (long) rows * (4L * c.hiddenSize() + 2L * c.qDim() + 2L * c.kvDim() + 2L * c.intermediateSize() + c.vocabSize());
  }

  /**
   * Runs the step's tokens through the model, appending their keys and values to the cache, and
   * returns the logits of the rows in {@code logitRows} (row-major, vocab values each).
   */
  public float[] forward(StepBatch batch, int[] tokens, int[] logitRows, KvCache cache) {
    Tensor logits = logits(batch, tokens, logitRows, cache);
    return logits == null ? new float[0] : backend.toHost(logits);
  }

  /**
   * Like {@link #forward}, but returns a token sampled from each logits row ({@code params} and
   * {@code uniforms} per row), so a GPU need not copy the logits to the host.
   */
  public int[] forwardSample(StepBatch batch, int[] tokens, int[] logitRows, KvCache cache,
      SamplingParams.Resolved[] params, double[] uniforms) {
    Tensor logits = logits(batch, tokens, logitRows, cache);
    return logits == null ? new int[0] : backend.sample(logits, params, uniforms);
  }

  /** The step on the backend; the logits of logitRows, or null when there are none. */
  private Tensor logits(StepBatch batch, int[] tokens, int[] logitRows, KvCache cache) {
    backend.resetScratch();
    int n = batch.rows(), hidden = config.hiddenSize(), inter = config.intermediateSize();
    float eps = (float) config.rmsNormEps();
    Tensor x = backend.tensor(n, hidden);
    Tensor q = backend.tensor(n, config.qDim()), att = backend.tensor(n, config.qDim());
    Tensor k = backend.tensor(n, config.kvDim()), v = backend.tensor(n, config.kvDim());
    Tensor act = backend.tensor(n, inter);

    backend.embed(x, tokens, embed);
    for (int l = 0; l < layers.length; l++) {
      Layer w = layers[l];
      // Attention block: x += Wo · attention(rope(Wq h), rope(Wk h), Wv h), h = norm(x)
      backend.normMatmul(x, w.attnNorm(), eps, new Tensor[] {q, k, v}, new Weight[] {w.wq(), w.wk(), w.wv()});
      backend.ropeAttention(att, q, k, v, l, batch, cache, rope);
      backend.matmulAdd(x, att, w.wo());
      // MLP block: x += Wdown · (silu(Wgate h) * Wup h), h = norm(x)
      backend.normGatedMlp(act, x, w.ffnNorm(), eps, w.wGate(), w.wUp());
      backend.matmulAdd(x, act, w.wDown());
    }
    if (logitRows.length == 0) return null;
    Tensor last = backend.tensor(logitRows.length, hidden);
    backend.gatherRows(last, x, logitRows);
    Tensor logits = backend.tensor(logitRows.length, config.vocabSize());
    backend.normMatmul(last, finalNorm, eps, new Tensor[] {logits}, new Weight[] {lmHead});
    return logits;
  }
}
