package ai.lserve.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.TreeMap;

/**
 * The named model shapes a synthetic model can take: the configs of the published checkpoints
 * (weights aside), plus {@code tiny} for tests. {@link #configJson} is the config.json a Hugging
 * Face checkpoint of that shape carries.
 *
 * @param llama3Scaling Llama-3.1's rope scaling (factor 8, low 1, high 4, original 8192)
 */
public record SyntheticShape(
    String name, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim, int vocab,
    double ropeTheta, boolean llama3Scaling, int maxPositions, int bos, int eos) {

  private static final Map<String, SyntheticShape> NAMED = new TreeMap<>(Map.of(
      "llama-3-8b", new SyntheticShape("llama-3-8b", 4096, 14336, 32, 32, 8, 128, 128256, 500000, true, 131072, 128000, 128001),
      "llama-2-7b", new SyntheticShape("llama-2-7b", 4096, 11008, 32, 32, 32, 128, 32000, 10000, false, 4096, 1, 2),
      // Llama-3.1-Minitron-4B-Width: pruned in width from Llama-3.1-8B; head_dim 128 is explicit (not 3072 / 32)
      "minitron-4b", new SyntheticShape("minitron-4b", 3072, 9216, 32, 32, 8, 128, 128256, 500000, true, 131072, 128000, 128001),
      "tiny", new SyntheticShape("tiny", 128, 256, 2, 4, 2, 32, 256, 10000, false, 4096, 1, 2)));

  public static SyntheticShape named(String name) {
    SyntheticShape s = NAMED.get(name);
    if (s == null)
      throw new IllegalArgumentException("unknown synthetic shape '" + name + "' (known: " + String.join(", ", NAMED.keySet()) + ")");
    return s;
  }

  /** The same shape with {@code n} decoder layers (to shrink it for tests). */
  public SyntheticShape withLayers(int n) {
    if (n < 1) throw new IllegalArgumentException("layers must be at least 1, got " + n);
    return new SyntheticShape(name, hidden, intermediate, n, heads, kvHeads, headDim, vocab, ropeTheta, llama3Scaling,
        maxPositions, bos, eos);
  }

  /** bf16 bytes of all weights (embeddings and lm_head untied). */
  public long weightBytes() {
    long layer = 2L * hidden + (long) hidden * headDim * (2L * heads + 2L * kvHeads) + 3L * hidden * intermediate;
    return 2 * (layers * layer + 2L * vocab * hidden + hidden);
  }

  public String configJson() {
    ObjectNode c = new ObjectMapper().createObjectNode();
    c.putArray("architectures").add("LlamaForCausalLM");
    c.put("model_type", "llama");
    c.put("hidden_act", "silu");
    c.put("hidden_size", hidden);
    c.put("intermediate_size", intermediate);
    c.put("num_hidden_layers", layers);
    c.put("num_attention_heads", heads);
    c.put("num_key_value_heads", kvHeads);
    c.put("head_dim", headDim);
    c.put("vocab_size", vocab);
    c.put("rms_norm_eps", 1e-5);
    c.put("rope_theta", ropeTheta);
    if (llama3Scaling) {
      ObjectNode s = c.putObject("rope_scaling");
      s.put("rope_type", "llama3");
      s.put("factor", 8.0);
      s.put("low_freq_factor", 1.0);
      s.put("high_freq_factor", 4.0);
      s.put("original_max_position_embeddings", 8192);
    }
    c.put("max_position_embeddings", maxPositions);
    c.put("tie_word_embeddings", false);
    c.put("bos_token_id", bos);
    c.put("eos_token_id", eos);
    c.put("torch_dtype", "bfloat16");
    return c.toPrettyString();
  }
}
