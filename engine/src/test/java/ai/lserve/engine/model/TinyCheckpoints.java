package ai.lserve.engine.model;

import ai.lserve.engine.model.SafeTensorsWriter.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Writes small random Llama checkpoint directories (config.json + safetensors) for tests. */
public final class TinyCheckpoints {
  private TinyCheckpoints() {}

  /**
   * The model to write.
   *
   * @param headDim 0 derives it as hidden / heads and leaves head_dim out of config.json
   * @param shards 1 writes model.safetensors; more write model-0000k-of-0000n files and an index
   */
  public record Spec(
      int vocab,
      int hidden,
      int inter,
      int layers,
      int heads,
      int kvHeads,
      int headDim,
      DType dtype,
      boolean tied,
      int shards,
      long seed) {

    /** vocab 64, hidden 32, inter 48, 2 layers, 4 heads, 2 KV heads, F32, untied, one file. */
    public static Spec tiny() {
      return new Spec(64, 32, 48, 2, 4, 2, 0, DType.F32, false, 1, 42);
    }

    public int effectiveHeadDim() {
      return headDim > 0 ? headDim : hidden / heads;
    }

    public Spec withDtype(DType d) {
      return new Spec(vocab, hidden, inter, layers, heads, kvHeads, headDim, d, tied, shards, seed);
    }

    public Spec withTied(boolean t) {
      return new Spec(
          vocab, hidden, inter, layers, heads, kvHeads, headDim, dtype, t, shards, seed);
    }

    public Spec withShards(int s) {
      return new Spec(vocab, hidden, inter, layers, heads, kvHeads, headDim, dtype, tied, s, seed);
    }

    public Spec withHeads(int h, int kv, int hd) {
      return new Spec(vocab, hidden, inter, layers, h, kv, hd, dtype, tied, shards, seed);
    }

    public Spec withSeed(long s) {
      return new Spec(
          vocab, hidden, inter, layers, heads, kvHeads, headDim, dtype, tied, shards, s);
    }
  }

  /** Writes config.json and the weights into {@code dir} (created if needed); returns dir. */
  public static Path write(Path dir, Spec spec) {
    writeConfig(dir, configJson(spec));
    writeWeights(dir, spec.shards(), tensors(spec));
    return dir;
  }

  /** A classic-form config.json for the spec (rope_theta 10000, no scaling, 256 positions). */
  public static String configJson(Spec s) {
    return """
           {
             "architectures": ["LlamaForCausalLM"],
             "model_type": "llama",
             "hidden_act": "silu",
             "hidden_size": %d,
             "intermediate_size": %d,
             "num_hidden_layers": %d,
             "num_attention_heads": %d,
             "num_key_value_heads": %d,%s
             "rms_norm_eps": 1e-05,
             "rope_theta": 10000.0,
             "rope_scaling": null,
             "max_position_embeddings": 256,
             "tie_word_embeddings": %s,
             "vocab_size": %d,
             "bos_token_id": 1,
             "eos_token_id": 2,
             "attention_bias": false,
             "mlp_bias": false,
             "torch_dtype": "%s"
           }
           """
        .formatted(
            s.hidden(),
            s.inter(),
            s.layers(),
            s.heads(),
            s.kvHeads(),
            s.headDim() > 0 ? "\n  \"head_dim\": " + s.headDim() + "," : "",
            s.tied(),
            s.vocab(),
            torchName(s.dtype()));
  }

  /** Every tensor of the model in HF order, with its shape. */
  public static Map<String, long[]> shapes(Spec s) {
    long q = (long) s.heads() * s.effectiveHeadDim();
    long kv = (long) s.kvHeads() * s.effectiveHeadDim();
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("model.embed_tokens.weight", new long[] {s.vocab(), s.hidden()});
    for (int i = 0; i < s.layers(); i++) {
      String p = "model.layers." + i + ".";
      m.put(p + "input_layernorm.weight", new long[] {s.hidden()});
      m.put(p + "self_attn.q_proj.weight", new long[] {q, s.hidden()});
      m.put(p + "self_attn.k_proj.weight", new long[] {kv, s.hidden()});
      m.put(p + "self_attn.v_proj.weight", new long[] {kv, s.hidden()});
      m.put(p + "self_attn.o_proj.weight", new long[] {s.hidden(), q});
      m.put(p + "post_attention_layernorm.weight", new long[] {s.hidden()});
      m.put(p + "mlp.gate_proj.weight", new long[] {s.inter(), s.hidden()});
      m.put(p + "mlp.up_proj.weight", new long[] {s.inter(), s.hidden()});
      m.put(p + "mlp.down_proj.weight", new long[] {s.hidden(), s.inter()});
    }
    m.put("model.norm.weight", new long[] {s.hidden()});
    if (!s.tied()) {
      m.put("lm_head.weight", new long[] {s.vocab(), s.hidden()});
    }
    return m;
  }

  /**
   * The values the spec's checkpoint holds, already rounded to its dtype: matrices N(0, 0.02²),
   * norm weights around 1.0, never zero. Deterministic in the seed.
   */
  public static Map<String, float[]> values(Spec s) {
    Random random = new Random(s.seed());
    Map<String, float[]> m = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : shapes(s).entrySet()) {
      boolean norm = e.getValue().length == 1;
      float[] v = new float[Math.toIntExact(numel(e.getValue()))];
      for (int i = 0; i < v.length; i++) {
        float x =
            SafeTensorsWriter.round(
                s.dtype(), (float) ((norm ? 1 : 0) + random.nextGaussian() * (norm ? 0.1 : 0.02)));
        v[i] = x != 0 ? x : SafeTensorsWriter.round(s.dtype(), 0.02f);
      }
      m.put(e.getKey(), v);
    }
    return m;
  }

  /** The spec's tensors, ready for {@link #writeWeights} (tests may edit the map first). */
  public static Map<String, Tensor> tensors(Spec s) {
    Map<String, long[]> shapes = shapes(s);
    Map<String, Tensor> m = new LinkedHashMap<>();
    values(s).forEach((name, v) -> m.put(name, Tensor.of(s.dtype(), shapes.get(name), v)));
    return m;
  }

  public static void writeConfig(Path dir, String json) {
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve("config.json"), json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Writes model.safetensors, or {@code shards} consecutive slices of the tensors and the index.
   */
  public static void writeWeights(Path dir, int shards, Map<String, Tensor> tensors) {
    try {
      Files.createDirectories(dir);
      if (shards == 1) {
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), tensors);
        return;
      }
      List<String> names = new ArrayList<>(tensors.keySet());
      StringBuilder weightMap = new StringBuilder();
      long total = 0;
      for (int k = 0; k < shards; k++) {
        String file = String.format("model-%05d-of-%05d.safetensors", k + 1, shards);
        Map<String, Tensor> slice = new LinkedHashMap<>();
        for (String name :
            names.subList(k * names.size() / shards, (k + 1) * names.size() / shards)) {
          slice.put(name, tensors.get(name));
          total += tensors.get(name).data().length;
          weightMap
              .append(weightMap.length() == 0 ? "" : ",\n")
              .append("    \"")
              .append(name)
              .append("\": \"")
              .append(file)
              .append('"');
        }
        SafeTensorsWriter.write(dir.resolve(file), slice);
      }
      Files.writeString(
          dir.resolve("model.safetensors.index.json"),
          "{\n  \"metadata\": {\"total_size\": "
              + total
              + "},\n  \"weight_map\": {\n"
              + weightMap
              + "\n  }\n}\n");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private static String torchName(DType d) {
    return switch (d) {
      case BF16 -> "bfloat16";
      case F16 -> "float16";
      case F32 -> "float32";
    };
  }
}
