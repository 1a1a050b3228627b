package ai.lserve.engine.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The parts of a Hugging Face Llama config.json the engine needs, in either the classic form
 * ({@code rope_theta}, {@code rope_scaling}, {@code torch_dtype}) or the one transformers 5 writes
 * ({@code rope_parameters}, {@code dtype}).
 *
 * @param ropeScaling null when the model uses plain RoPE
 * @param bosTokenId -1 when the config names none
 * @param eosTokenIds empty when the config names none; shared, do not modify
 * @param dtype the checkpoint's declared torch dtype ("bfloat16", ...), null when not given
 */
public record LlamaConfig(
    String modelType,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    double rmsNormEps,
    double ropeTheta,
    RopeScaling ropeScaling,
    int maxPositionEmbeddings,
    boolean tieWordEmbeddings,
    int vocabSize,
    int bosTokenId,
    int[] eosTokenIds,
    String dtype) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Width of the concatenated query heads (rows of q_proj). */
  public int qDim() {
    return numHeads * headDim;
  }

  /** Width of the concatenated key (or value) heads (rows of k_proj and v_proj). */
  public int kvDim() {
    return numKvHeads * headDim;
  }

  /** Query heads per KV head. */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  public static LlamaConfig load(Path configJson) {
    String json;
    try {
      json = Files.readString(configJson);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(configJson, "cannot read: " + e, e);
    }
    return parse(json, configJson);
  }

  /** Parses config.json text; {@code source} is only used to name the file in errors. */
  public static LlamaConfig parse(String json, Path source) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new CheckpointException(source, "bad JSON: " + e.getOriginalMessage(), e);
    }
    if (!root.isObject()) {
      throw new CheckpointException(source, "bad JSON: expected an object");
    }
    Fields f = new Fields(root, source);

    String modelType = f.requiredText("model_type");
    if (!modelType.equals("llama")) {
      throw new CheckpointException(
          source, "unsupported model_type '" + modelType + "' (only 'llama' is supported)");
    }
    String act = f.optionalText("hidden_act", "silu");
    if (!act.equals("silu")) {
      throw new CheckpointException(
          source, "unsupported hidden_act '" + act + "' (only 'silu' is supported)");
    }
    for (String bias : new String[] {"attention_bias", "mlp_bias"}) {
      if (f.optionalBoolean(bias, false)) {
        throw new CheckpointException(source, bias + " = true is not supported");
      }
    }

    int hidden = f.positiveInt("hidden_size");
    int heads = f.positiveInt("num_attention_heads");
    int kvHeads =
        root.hasNonNull("num_key_value_heads") ? f.positiveInt("num_key_value_heads") : heads;
    if (heads % kvHeads != 0) {
      throw new CheckpointException(
          source,
          "num_attention_heads " + heads + " is not divisible by num_key_value_heads " + kvHeads);
    }
    // An explicit head_dim wins: Minitron-Width has 128 where hidden/heads would say 96.
    int headDim;
    if (root.hasNonNull("head_dim")) {
      headDim = f.positiveInt("head_dim");
    } else if (hidden % heads == 0) {
      headDim = hidden / heads;
    } else {
      throw new CheckpointException(
          source,
          String.format(
              "no head_dim and hidden_size %d is not divisible by num_attention_heads %d",
              hidden, heads));
    }
    if (headDim % 2 != 0) {
      throw new CheckpointException(source, "head_dim " + headDim + " must be even for RoPE");
    }

    // transformers 5 moves rope_theta and the scaling fields into rope_parameters.
    JsonNode ropeParameters = root.get("rope_parameters");
    boolean v5 = ropeParameters != null && !ropeParameters.isNull();
    Fields rope = v5 ? new Fields(ropeParameters, source, "rope_parameters.") : f;
    double ropeTheta =
        rope.root.hasNonNull("rope_theta")
            ? rope.positiveNumber("rope_theta")
            : root.hasNonNull("rope_theta") ? f.positiveNumber("rope_theta") : 10000.0;
    RopeScaling scaling =
        v5
            ? RopeScaling.parse(ropeParameters, source, "rope_parameters")
            : RopeScaling.parse(root.get("rope_scaling"), source, "rope_scaling");

    return new LlamaConfig(
        modelType,
        hidden,
        f.positiveInt("intermediate_size"),
        f.positiveInt("num_hidden_layers"),
        heads,
        kvHeads,
        headDim,
        f.positiveNumber("rms_norm_eps"),
        ropeTheta,
        scaling,
        f.positiveInt("max_position_embeddings"),
        f.optionalBoolean("tie_word_embeddings", false),
        f.positiveInt("vocab_size"),
        root.hasNonNull("bos_token_id") ? f.nonNegativeInt("bos_token_id") : -1,
        f.tokenIds("eos_token_id", new int[0]),
        f.optionalText("dtype", f.optionalText("torch_dtype", null)));
  }

  /** A short human summary, one aspect per line. */
  public String describe() {
    String rope =
        ropeScaling == null
            ? "none"
            : ropeScaling.type().equals("linear")
                ? "linear (factor " + ropeScaling.factor() + ")"
                : String.format(
                    "llama3 (factor %s, low %s, high %s, original %d)",
                    ropeScaling.factor(),
                    ropeScaling.lowFreqFactor(),
                    ropeScaling.highFreqFactor(),
                    ropeScaling.originalMaxPositionEmbeddings());
    return String.format(
        "%s: %d layers, hidden %d, intermediate %d, vocab %d%n"
            + "attention: %d query heads, %d KV heads (group %d), head_dim %d%n"
            + "rope: theta %s, scaling %s, max positions %d%n"
            + "rms_norm_eps %s, tied embeddings %s, dtype %s",
        modelType,
        numLayers,
        hiddenSize,
        intermediateSize,
        vocabSize,
        numHeads,
        numKvHeads,
        groupSize(),
        headDim,
        ropeTheta,
        rope,
        maxPositionEmbeddings,
        rmsNormEps,
        tieWordEmbeddings,
        dtype == null ? "unspecified" : dtype);
  }
}
