package ai.lserve.engine.model;

import static ai.lserve.engine.model.Rejections.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LlamaConfigTest {
  private static final Path CONFIG = Path.of("models", "llama", "config.json");

  /** Llama-3.1-8B-Instruct's config.json as published (classic form). */
  static final String LLAMA31_CLASSIC =
      """
      {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": 128000,
        "eos_token_id": [128001, 128008, 128009],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "initializer_range": 0.02,
        "intermediate_size": 14336,
        "max_position_embeddings": 131072,
        "mlp_bias": false,
        "model_type": "llama",
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
          "factor": 8.0,
          "low_freq_factor": 1.0,
          "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192,
          "rope_type": "llama3"
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.0.dev0",
        "use_cache": true,
        "vocab_size": 128256
      }
      """;

  /** The same model as transformers 5 saves it. */
  static final String LLAMA31_V5 =
      """
      {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": false,
        "bos_token_id": 128000,
        "dtype": "bfloat16",
        "eos_token_id": [128001, 128008, 128009],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 131072,
        "mlp_bias": false,
        "model_type": "llama",
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_parameters": {
          "factor": 8.0,
          "high_freq_factor": 4.0,
          "low_freq_factor": 1.0,
          "original_max_position_embeddings": 8192,
          "rope_theta": 500000.0,
          "rope_type": "llama3"
        },
        "tie_word_embeddings": false,
        "transformers_version": "5.0.0",
        "vocab_size": 128256
      }
      """;

  /** Llama-2-7B: MHA, no num_key_value_heads in old copies, fp16, no rope_theta. */
  static final String LLAMA2 =
      """
      {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
       "num_hidden_layers": 32, "num_attention_heads": 32, "rms_norm_eps": 1e-05,
       "max_position_embeddings": 4096, "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2,
       "torch_dtype": "float16", "rope_scaling": null}
      """;

  @Test
  void readsTheClassicForm() {
    LlamaConfig c = LlamaConfig.parse(LLAMA31_CLASSIC, CONFIG);
    assertEquals("llama", c.modelType());
    assertEquals(4096, c.hiddenSize());
    assertEquals(14336, c.intermediateSize());
    assertEquals(32, c.numLayers());
    assertEquals(32, c.numHeads());
    assertEquals(8, c.numKvHeads());
    assertEquals(128, c.headDim());
    assertEquals(4096, c.qDim());
    assertEquals(1024, c.kvDim());
    assertEquals(4, c.groupSize());
    assertEquals(1e-5, c.rmsNormEps());
    assertEquals(500000.0, c.ropeTheta());
    assertEquals(new RopeScaling("llama3", 8, 1, 4, 8192), c.ropeScaling());
    assertEquals(131072, c.maxPositionEmbeddings());
    assertFalse(c.tieWordEmbeddings());
    assertEquals(128256, c.vocabSize());
    assertEquals(128000, c.bosTokenId());
    assertArrayEquals(new int[] {128001, 128008, 128009}, c.eosTokenIds());
    assertEquals("bfloat16", c.dtype());
  }

  @Test
  void readsTheTransformers5FormAsTheSameModel() {
    LlamaConfig classic = LlamaConfig.parse(LLAMA31_CLASSIC, CONFIG);
    LlamaConfig v5 = LlamaConfig.parse(LLAMA31_V5, CONFIG);
    assertArrayEquals(classic.eosTokenIds(), v5.eosTokenIds());
    int[] shared = classic.eosTokenIds();
    assertEquals(
        classic,
        new LlamaConfig(
            v5.modelType(),
            v5.hiddenSize(),
            v5.intermediateSize(),
            v5.numLayers(),
            v5.numHeads(),
            v5.numKvHeads(),
            v5.headDim(),
            v5.rmsNormEps(),
            v5.ropeTheta(),
            v5.ropeScaling(),
            v5.maxPositionEmbeddings(),
            v5.tieWordEmbeddings(),
            v5.vocabSize(),
            v5.bosTokenId(),
            shared,
            v5.dtype()));
  }

  @Test
  void transformers5DefaultRopeHasNoScaling() {
    String json =
        LLAMA2.replace(
            "\"rope_scaling\": null",
            "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 20000.0}");
    LlamaConfig c = LlamaConfig.parse(json, CONFIG);
    assertNull(c.ropeScaling());
    assertEquals(20000.0, c.ropeTheta());
  }

  @Test
  void defaultsForOlderConfigs() {
    LlamaConfig c = LlamaConfig.parse(LLAMA2, CONFIG);
    assertEquals(32, c.numKvHeads()); // absent: MHA
    assertEquals(128, c.headDim()); // absent: hidden / heads
    assertEquals(10000.0, c.ropeTheta());
    assertNull(c.ropeScaling());
    assertFalse(c.tieWordEmbeddings());
    assertEquals(1, c.bosTokenId());
    assertArrayEquals(new int[] {2}, c.eosTokenIds()); // a single int
    assertEquals("float16", c.dtype());

    LlamaConfig bare =
        LlamaConfig.parse(
            LLAMA2
                .replace("\"bos_token_id\": 1, \"eos_token_id\": 2,", "")
                .replace("\"torch_dtype\": \"float16\", ", ""),
            CONFIG);
    assertEquals(-1, bare.bosTokenId());
    assertEquals(0, bare.eosTokenIds().length);
    assertNull(bare.dtype());
    LlamaConfig nullEos =
        LlamaConfig.parse(LLAMA2.replace("\"eos_token_id\": 2", "\"eos_token_id\": null"), CONFIG);
    assertEquals(0, nullEos.eosTokenIds().length);
  }

  @Test
  void explicitHeadDimIsUsedAsIs() {
    // Llama-3.1-Minitron-4B-Width: hidden / heads would be 96.
    String json =
        LLAMA31_CLASSIC.replace(
            "\"hidden_size\": 4096", "\"hidden_size\": 3072, \"head_dim\": 128");
    LlamaConfig c = LlamaConfig.parse(json, CONFIG);
    assertEquals(3072, c.hiddenSize());
    assertEquals(128, c.headDim());
    assertEquals(4096, c.qDim());
    assertEquals(1024, c.kvDim());
  }

  @Test
  void headDimMustBeDerivableWhenAbsent() {
    String json = LLAMA2.replace("\"hidden_size\": 4096", "\"hidden_size\": 4100");
    assertRejected(
        CONFIG,
        "no head_dim and hidden_size 4100 is not divisible by num_attention_heads 32",
        () -> LlamaConfig.parse(json, CONFIG));
  }

  @Test
  void describeSummarisesTheModel() {
    String d = LlamaConfig.parse(LLAMA31_CLASSIC, CONFIG).describe();
    assertTrue(d.contains("32 layers, hidden 4096"), d);
    assertTrue(d.contains("32 query heads, 8 KV heads (group 4), head_dim 128"), d);
    assertTrue(d.contains("llama3 (factor 8.0, low 1.0, high 4.0, original 8192)"), d);
    assertTrue(d.lines().count() >= 3, d);
  }

  @Test
  void loadsFromAFile(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("config.json");
    Files.writeString(f, LLAMA2);
    assertEquals(32000, LlamaConfig.load(f).vocabSize());
    Path absent = dir.resolve("absent").resolve("config.json");
    assertRejected(absent, "cannot read", () -> LlamaConfig.load(absent));
  }

  @Test
  void badJson() {
    assertRejected(
        CONFIG, "bad JSON: ", () -> LlamaConfig.parse("{\"hidden_size\": 4096,", CONFIG));
    assertRejected(CONFIG, "bad JSON: expected an object", () -> LlamaConfig.parse("[1]", CONFIG));
    assertRejected(CONFIG, "bad JSON: expected an object", () -> LlamaConfig.parse("", CONFIG));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "vocab_size",
        "rms_norm_eps",
        "max_position_embeddings",
        "model_type"
      })
  void missingRequiredField(String field) {
    String json = LLAMA31_CLASSIC.replace("\"" + field + "\"", "\"renamed_" + field + "\"");
    assertRejected(
        CONFIG, "missing required field " + field, () -> LlamaConfig.parse(json, CONFIG));
  }

  @Test
  void nonPositiveOrMistypedSizes() {
    assertRejected(
        CONFIG,
        "field num_hidden_layers must be a positive integer, got 0",
        () ->
            LlamaConfig.parse(
                LLAMA2.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 0"), CONFIG));
    assertRejected(
        CONFIG,
        "field vocab_size must be a positive integer, got -5",
        () ->
            LlamaConfig.parse(
                LLAMA2.replace("\"vocab_size\": 32000", "\"vocab_size\": -5"), CONFIG));
    assertRejected(
        CONFIG,
        "field hidden_size must be a positive integer, got \"4096\"",
        () ->
            LlamaConfig.parse(
                LLAMA2.replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""), CONFIG));
    assertRejected(
        CONFIG,
        "field rms_norm_eps must be a positive number, got 0",
        () ->
            LlamaConfig.parse(
                LLAMA2.replace("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0"), CONFIG));
  }

  @Test
  void headsMustBeDivisibleByKvHeads() {
    String json =
        LLAMA31_CLASSIC.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 6");
    assertRejected(
        CONFIG,
        "num_attention_heads 32 is not divisible by num_key_value_heads 6",
        () -> LlamaConfig.parse(json, CONFIG));
  }

  @Test
  void unsupportedModelType() {
    CheckpointException e =
        assertRejected(
            CONFIG,
            "unsupported model_type",
            () -> LlamaConfig.parse(LLAMA2.replace("\"llama\"", "\"nemotron\""), CONFIG));
    assertEquals(
        CONFIG + ": unsupported model_type 'nemotron' (only 'llama' is supported)", e.getMessage());
  }

  @Test
  void unsupportedActivationAndBiases() {
    assertRejected(
        CONFIG,
        "unsupported hidden_act 'relu2'",
        () -> LlamaConfig.parse(LLAMA31_CLASSIC.replace("\"silu\"", "\"relu2\""), CONFIG));
    assertRejected(
        CONFIG,
        "attention_bias = true is not supported",
        () ->
            LlamaConfig.parse(
                LLAMA31_CLASSIC.replace("\"attention_bias\": false", "\"attention_bias\": true"),
                CONFIG));
    assertRejected(
        CONFIG,
        "mlp_bias = true is not supported",
        () ->
            LlamaConfig.parse(
                LLAMA31_CLASSIC.replace("\"mlp_bias\": false", "\"mlp_bias\": true"), CONFIG));
  }

  @Test
  void unsupportedRopeType() {
    assertRejected(
        CONFIG,
        "unsupported rope type 'yarn' in rope_scaling",
        () -> LlamaConfig.parse(LLAMA31_CLASSIC.replace("\"llama3\"", "\"yarn\""), CONFIG));
    assertRejected(
        CONFIG,
        "unsupported rope type 'dynamic' in rope_parameters",
        () -> LlamaConfig.parse(LLAMA31_V5.replace("\"llama3\"", "\"dynamic\""), CONFIG));
  }

  @Test
  void eosTokenIdMustBeIdsAndTheLinearTypeIsAccepted() {
    assertRejected(
        CONFIG,
        "field eos_token_id must be a token id or a list of them",
        () ->
            LlamaConfig.parse(
                LLAMA2.replace("\"eos_token_id\": 2", "\"eos_token_id\": \"</s>\""), CONFIG));
    LlamaConfig linear =
        LlamaConfig.parse(
            LLAMA2.replace(
                "\"rope_scaling\": null",
                "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"),
            CONFIG);
    assertEquals(new RopeScaling("linear", 2, 0, 0, 0), linear.ropeScaling());
  }
}
