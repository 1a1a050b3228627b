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

  /**
   * Rows of vocabulary-wide logits one pass computes. A step that wants more (a request's prompt
   * logits over a long chunk) runs the final norm and lm_head in passes of this many rows into the
   * same tensors, so the activation reserve holds at most this many rows of logits however many
   * rows the step has (the logits of an 8192-row chunk alone would be 4 GiB at Llama-3's vocabulary).
   */
  static final int LOGIT_ROWS = 1024;

  /** Activation values {@link #forward} allocates for a step of {@code rows} rows, logits included. */
  public long activationValues(int rows) {
    LlamaConfig c = config;
    return (long) rows * (4L * c.hiddenSize() + 2L * c.qDim() + 2L * c.kvDim() + 2L * c.intermediateSize())
        + (long) Math.min(rows, LOGIT_ROWS) * (c.hiddenSize() + c.vocabSize());
  }

  /**
   * Runs the step's tokens through the model, appending their keys and values to the cache, and
   * returns the logits of the rows in {@code logitRows} (row-major, vocab values each).
   */
  public float[] forward(StepBatch batch, int[] tokens, int[] logitRows, KvCache cache) {
    LogitPasses passes = new LogitPasses(hiddenStates(batch, tokens, cache), logitRows);
    int vocab = config.vocabSize();
    float[] out = new float[Math.multiplyExact(logitRows.length, vocab)];
    for (int from = 0; from < logitRows.length; from += LOGIT_ROWS) {
      float[] part = backend.toHost(passes.logits(from));
      System.arraycopy(part, 0, out, from * vocab, Math.min(LOGIT_ROWS, logitRows.length - from) * vocab);
    }
    return out;
  }

  /**
   * Like {@link #forward}, but returns a token sampled from each logits row ({@code params} and
   * {@code uniforms} per row), so a GPU need not copy the logits to the host.
   */
  public int[] forwardSample(StepBatch batch, int[] tokens, int[] logitRows, KvCache cache,
      SamplingParams.Resolved[] params, double[] uniforms) {
    LogitPasses passes = new LogitPasses(hiddenStates(batch, tokens, cache), logitRows);
    int[] out = new int[logitRows.length];
    for (int from = 0; from < logitRows.length; from += LOGIT_ROWS) {
      int width = passes.width();
      SamplingParams.Resolved[] p = new SamplingParams.Resolved[width];
      double[] u = new double[width];
      for (int i = 0; i < width; i++) {
        p[i] = params[passes.source(from + i)];
        u[i] = uniforms[passes.source(from + i)];
      }
      int[] sampled = backend.sample(passes.logits(from), p, u);
      System.arraycopy(sampled, 0, out, from, Math.min(width, logitRows.length - from));
    }
    return out;
  }

  /** The step on the backend up to the last layer's output (every row; the cache gets their keys and values). */
  private Tensor hiddenStates(StepBatch batch, int[] tokens, KvCache cache) {
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
    return x;
  }

  /**
   * The logits of {@code rows} of x in passes of at most {@link #LOGIT_ROWS} rows, all into one
   * pair of tensors: a pass is rows [from, from + width) (the last pass, when there are several,
   * repeats the final row to fill its width; those rows' logits are left out).
   */
  private final class LogitPasses {
    private final Tensor x, last, logits;
    private final int[] rows;

    LogitPasses(Tensor x, int[] rows) {
      int width = Math.min(rows.length, LOGIT_ROWS);
      this.x = x;
      this.rows = rows;
      this.last = width == 0 ? null : backend.tensor(width, config.hiddenSize());
      this.logits = width == 0 ? null : backend.tensor(width, config.vocabSize());
    }

    int width() {
      return last.rows();
    }

    /** Index into rows of pass position i (past the end: the last row again). */
    int source(int i) {
      return Math.min(i, rows.length - 1);
    }

    Tensor logits(int from) {
      int[] pass = new int[width()];
      for (int i = 0; i < pass.length; i++) pass[i] = rows[source(from + i)];
      backend.gatherRows(last, x, pass);
      backend.normMatmul(last, finalNorm, (float) config.rmsNormEps(), new Tensor[] {logits}, new Weight[] {lmHead});
      return logits;
    }
  }
}
