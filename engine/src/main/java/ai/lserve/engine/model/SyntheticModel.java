package ai.lserve.engine.model;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.sparse.HeadPattern;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

/**
 * A model of a named shape with random bf16 weights ({@link RandomTensor}): matrices uniform with
 * std 0.02, norm weights uniform around 1 with std 0.02. A GPU makes them in place, so a full-size
 * model needs no download and no host memory; the CPU materializes them, for small shapes only.
 */
public final class SyntheticModel implements ModelSource {
  public static final long DEFAULT_SEED = 0;
  private static final float STD = 0.02f;

  private final SyntheticShape shape;
  private final long seed;
  private final LlamaConfig config;

  public SyntheticModel(SyntheticShape shape, long seed) {
    this.shape = shape;
    this.seed = seed;
    this.config = LlamaConfig.parse(shape.configJson(), Path.of(name()));
  }

  public SyntheticShape shape() {
    return shape;
  }

  @Override
  public String name() {
    return SYNTHETIC + shape.name();
  }

  @Override
  public LlamaConfig config() {
    return config;
  }

  @Override
  public GenerationConfig generationConfig() {
    return GenerationConfig.none();
  }

  @Override
  public Optional<Path> tokenizerJson() {
    return Optional.empty();
  }

  @Override
  public Optional<Path> modelDirectory() {
    return Optional.empty();
  }

  @Override
  public Weight load(String name, Backend backend) {
    for (RandomTensor t : tensors()) if (t.name().equals(name)) return backend.weight(t);
    throw new IllegalArgumentException(name() + " has no tensor " + name);
  }

  /** Every tensor, in checkpoint order (embeddings, layers, final norm, lm_head). */
  public List<RandomTensor> tensors() {
    long h = shape.hidden(), inter = shape.intermediate(), q = (long) shape.heads() * shape.headDim();
    long kv = (long) shape.kvHeads() * shape.headDim();
    List<RandomTensor> ts = new ArrayList<>();
    ts.add(matrix("model.embed_tokens.weight", shape.vocab(), h));
    for (int i = 0; i < shape.layers(); i++) {
      String p = "model.layers." + i + ".";
      ts.add(norm(p + "input_layernorm.weight"));
      ts.add(matrix(p + "self_attn.q_proj.weight", q, h));
      ts.add(matrix(p + "self_attn.k_proj.weight", kv, h));
      ts.add(matrix(p + "self_attn.v_proj.weight", kv, h));
      ts.add(matrix(p + "self_attn.o_proj.weight", h, q));
      ts.add(norm(p + "post_attention_layernorm.weight"));
      ts.add(matrix(p + "mlp.gate_proj.weight", inter, h));
      ts.add(matrix(p + "mlp.up_proj.weight", inter, h));
      ts.add(matrix(p + "mlp.down_proj.weight", h, inter));
    }
    ts.add(norm("model.norm.weight"));
    ts.add(matrix("lm_head.weight", shape.vocab(), h));
    return ts;
  }

  /**
   * The head pattern of lserve mode, as no calibration exists for random weights: gates drawn by
   * {@code java.util.Random(seed)} in layer-major order, the lowest {@code streamingFraction} of
   * them streaming ({@link HeadPattern#fromGates}). The same seed gives the same pattern.
   */
  public HeadPattern pattern(double streamingFraction) {
    return HeadPattern.fromGates(gates(), streamingFraction);
  }

  /** The gates behind {@link #pattern}, [layer][kv head]. */
  public double[][] gates() {
    Random r = new Random(seed);
    double[][] gates = new double[shape.layers()][shape.kvHeads()];
    for (double[] row : gates) for (int h = 0; h < row.length; h++) row[h] = r.nextDouble();
    return gates;
  }

  private RandomTensor matrix(String name, long rows, long cols) {
    return RandomTensor.of(name, new long[] {rows, cols}, seed, 0f, STD);
  }

  private RandomTensor norm(String name) {
    return RandomTensor.of(name, new long[] {shape.hidden()}, seed, 1f, STD);
  }

  @Override
  public void close() {}
}
