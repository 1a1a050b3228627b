package ai.lserve.engine.model;

import static ai.lserve.engine.model.Rejections.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.SafeTensorsWriter.Tensor;
import ai.lserve.engine.model.TinyCheckpoints.Spec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CheckpointTest {
  private static final Spec TINY = Spec.tiny();

  @TempDir Path dir;

  @ParameterizedTest
  @EnumSource(DType.class)
  void loadsEveryTensorExactly(DType dtype) {
    Spec spec = TINY.withDtype(dtype);
    try (Checkpoint c = Checkpoint.open(TinyCheckpoints.write(dir, spec))) {
      assertEquals(dir, c.directory());
      assertEquals(spec.hidden(), c.config().hiddenSize());
      assertEquals(spec.kvHeads(), c.config().numKvHeads());
      assertEquals(parameters(spec), c.parameterCount());
      LlamaWeights w = c.weights();
      assertSame(w, c.weights());
      assertNotSame(w.embedTokens(), w.lmHead());
      assertValues(spec, w);
      assertEquals(dtype, w.layers().get(1).wq().dtype());
    }
  }

  @Test
  void loadsShardedCheckpoints() {
    Spec spec = TINY.withDtype(DType.BF16).withShards(3).withSeed(7);
    TinyCheckpoints.write(dir, spec);
    assertTrue(Files.exists(dir.resolve("model.safetensors.index.json")));
    assertTrue(Files.exists(dir.resolve("model-00003-of-00003.safetensors")));
    assertFalse(Files.exists(dir.resolve("model.safetensors")));
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertEquals(parameters(spec), c.parameterCount());
      assertValues(spec, c.weights());
    }
  }

  @Test
  void tiedEmbeddingsShareOneTensor() {
    Spec spec = TINY.withTied(true).withShards(2);
    try (Checkpoint c = Checkpoint.open(TinyCheckpoints.write(dir, spec))) {
      LlamaWeights w = c.weights();
      assertSame(w.embedTokens(), w.lmHead());
      assertEquals(parameters(spec), c.parameterCount());
      assertEquals(parameters(TINY) - (long) spec.vocab() * spec.hidden(), c.parameterCount());
      assertValues(spec, w);
    }
  }

  @Test
  void tiedConfigIgnoresAStoredLmHeadAndStrayInvFreq() {
    Spec spec = TINY.withTied(true);
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(spec));
    Map<String, Tensor> tensors = TinyCheckpoints.tensors(TINY); // has lm_head.weight
    tensors.put(
        "model.layers.0.self_attn.rotary_emb.inv_freq",
        Tensor.of(DType.F32, new long[] {4}, new float[4]));
    TinyCheckpoints.writeWeights(dir, 1, tensors);
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertSame(c.weights().embedTokens(), c.weights().lmHead());
      assertEquals(parameters(spec), c.parameterCount());
    }
  }

  @Test
  void explicitHeadDimShapesTheProjections() {
    Spec spec = TINY.withHeads(4, 2, 16); // hidden 32 / 4 heads would be 8
    try (Checkpoint c = Checkpoint.open(TinyCheckpoints.write(dir, spec))) {
      assertEquals(16, c.config().headDim());
      LayerWeights l = c.weights().layers().get(0);
      assertArrayEquals(new long[] {64, 32}, l.wq().shape());
      assertArrayEquals(new long[] {32, 32}, l.wk().shape());
      assertArrayEquals(new long[] {32, 64}, l.wo().shape());
    }
  }

  @Test
  void exposesTokenizerAndGenerationConfig() throws Exception {
    TinyCheckpoints.write(dir, TINY);
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertTrue(c.tokenizerJson().isEmpty());
      assertSame(GenerationConfig.none(), c.generationConfig());
    }
    Files.writeString(dir.resolve("tokenizer.json"), "{}");
    Files.writeString(
        dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 3], \"temperature\": 0.7}");
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertEquals(dir.resolve("tokenizer.json"), c.tokenizerJson().orElseThrow());
      assertArrayEquals(new int[] {2, 3}, c.generationConfig().eosTokenIds());
      assertEquals(0.7, c.generationConfig().temperature());
    }
  }

  @Test
  void missingConfigJsonNamesTheDirectory() {
    TinyCheckpoints.writeWeights(dir, 1, TinyCheckpoints.tensors(TINY));
    assertRejected(dir, "no config.json in the model directory", () -> Checkpoint.open(dir));
    Path absent = dir.resolve("nope");
    assertRejected(absent, "not a model directory", () -> Checkpoint.open(absent));
  }

  @Test
  void badConfigJson() {
    TinyCheckpoints.write(dir, TINY);
    TinyCheckpoints.writeConfig(dir, "{\"model_type\": \"llama\", ");
    assertRejected(dir.resolve("config.json"), "bad JSON: ", () -> Checkpoint.open(dir));
  }

  @Test
  void unsupportedModelTypeAndRopeType() {
    TinyCheckpoints.write(dir, TINY);
    String config = TinyCheckpoints.configJson(TINY);
    TinyCheckpoints.writeConfig(dir, config.replace("\"llama\"", "\"nemotron\""));
    assertRejected(
        dir.resolve("config.json"),
        "unsupported model_type 'nemotron' (only 'llama' is supported)",
        () -> Checkpoint.open(dir));
    TinyCheckpoints.writeConfig(
        dir,
        config.replace(
            "\"rope_scaling\": null",
            "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}"));
    assertRejected(
        dir.resolve("config.json"), "unsupported rope type 'dynamic'", () -> Checkpoint.open(dir));
  }

  @Test
  void noWeightsFile() {
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(TINY));
    assertRejected(
        dir, "no model.safetensors or model.safetensors.index.json", () -> Checkpoint.open(dir));
  }

  @Test
  void missingTensor() {
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(TINY));
    Map<String, Tensor> tensors = TinyCheckpoints.tensors(TINY);
    tensors.remove("model.layers.1.mlp.up_proj.weight");
    TinyCheckpoints.writeWeights(dir, 1, tensors);
    assertRejected(
        dir.resolve("model.safetensors"),
        "missing tensor model.layers.1.mlp.up_proj.weight",
        () -> Checkpoint.open(dir));
    TinyCheckpoints.writeWeights(dir.resolve("sharded"), 2, tensors);
    TinyCheckpoints.writeConfig(dir.resolve("sharded"), TinyCheckpoints.configJson(TINY));
    assertRejected(
        dir.resolve("sharded").resolve("model.safetensors.index.json"),
        "missing tensor model.layers.1.mlp.up_proj.weight",
        () -> Checkpoint.open(dir.resolve("sharded")));
    // One layer fewer than config.json says.
    TinyCheckpoints.write(dir, TINY);
    TinyCheckpoints.writeConfig(
        dir,
        TinyCheckpoints.configJson(TINY)
            .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
    assertRejected(
        dir.resolve("model.safetensors"),
        "missing tensor model.layers.2.input_layernorm.weight",
        () -> Checkpoint.open(dir));
  }

  @Test
  void unexpectedTensor() {
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(TINY));
    Map<String, Tensor> tensors = TinyCheckpoints.tensors(TINY);
    tensors.put(
        "model.layers.0.self_attn.q_proj.bias",
        Tensor.of(DType.F32, new long[] {32}, new float[32]));
    TinyCheckpoints.writeWeights(dir, 1, tensors);
    assertRejected(
        dir.resolve("model.safetensors"),
        "unexpected tensor model.layers.0.self_attn.q_proj.bias",
        () -> Checkpoint.open(dir));
  }

  @Test
  void shapeNotMatchingConfig() {
    TinyCheckpoints.write(dir, TINY);
    TinyCheckpoints.writeConfig(
        dir,
        TinyCheckpoints.configJson(TINY)
            .replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4"));
    assertRejected(
        dir.resolve("model.safetensors"),
        "tensor model.layers.0.self_attn.k_proj.weight has shape [16, 32], config.json implies [32,"
            + " 32]",
        () -> Checkpoint.open(dir));
  }

  @Test
  void unsupportedDtypeInACheckpoint() {
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(TINY));
    Map<String, Tensor> tensors = TinyCheckpoints.tensors(TINY);
    tensors.put("model.norm.weight", new Tensor("F64", new long[] {32}, new byte[32 * 8]));
    TinyCheckpoints.writeWeights(dir, 1, tensors);
    assertRejected(
        dir.resolve("model.safetensors"),
        "unsupported dtype F64 of tensor model.norm.weight",
        () -> Checkpoint.open(dir));
  }

  @Test
  void missingShardFile() throws Exception {
    TinyCheckpoints.write(dir, TINY.withShards(2));
    Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
    assertRejected(
        dir.resolve("model.safetensors.index.json"),
        "shard model-00002-of-00002.safetensors named in weight_map is missing",
        () -> Checkpoint.open(dir));
  }

  @Test
  void weightMapMustAgreeWithTheShards() throws Exception {
    TinyCheckpoints.write(dir, TINY.withShards(2));
    Path index = dir.resolve("model.safetensors.index.json");
    String json = Files.readString(index);
    Files.writeString(
        index,
        json.replace(
            "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"",
            "\"model.embed_tokens.weight\": \"model-00002-of-00002.safetensors\""));
    assertRejected(
        dir.resolve("model-00002-of-00002.safetensors"),
        "tensor model.embed_tokens.weight is mapped to this shard by model.safetensors.index.json"
            + " but is not in it",
        () -> Checkpoint.open(dir));
    Files.writeString(index, "{\"metadata\": {}}");
    assertRejected(index, "missing or empty weight_map", () -> Checkpoint.open(dir));
  }

  @Test
  void aTensorInTwoShardsIsRejected() {
    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(TINY));
    Map<String, Tensor> tensors = TinyCheckpoints.tensors(TINY);
    TinyCheckpoints.writeWeights(dir, 2, tensors);
    Path shard2 = dir.resolve("model-00002-of-00002.safetensors");
    Map<String, Tensor> second = new LinkedHashMap<>();
    try (SafeTensorsFile st = SafeTensorsFile.open(shard2)) {
      st.tensors().keySet().forEach(name -> second.put(name, tensors.get(name)));
    }
    second.put(
        "model.embed_tokens.weight", tensors.get("model.embed_tokens.weight")); // also in shard 1
    SafeTensorsWriter.write(shard2, second);
    assertRejected(
        shard2,
        "tensor model.embed_tokens.weight is also in "
            + dir.resolve("model-00001-of-00002.safetensors"),
        () -> Checkpoint.open(dir));
  }

  /**
   * A 2.6 GB checkpoint whose data section is a sparse hole: opening and validating it reads only
   * headers and mapping maps per tensor, so both are instant, and a wrong config is caught before
   * any mapping.
   */
  @Test
  void validatesAndMapsWithoutReadingTensorData() throws Exception {
    Spec big = new Spec(65536, 8192, 8192, 1, 64, 8, 0, DType.BF16, false, 1, 0);
    Map<String, Map.Entry<DType, long[]>> header = new LinkedHashMap<>();
    TinyCheckpoints.shapes(big)
        .forEach((name, shape) -> header.put(name, Map.entry(DType.BF16, shape)));
    SafeTensorsWriter.writeSparse(dir.resolve("model.safetensors"), header);
    assertTrue(Files.size(dir.resolve("model.safetensors")) > Integer.MAX_VALUE);

    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(big).replace("65536", "65535"));
    assertRejected(
        dir.resolve("model.safetensors"),
        "tensor model.embed_tokens.weight has shape [65536, 8192], config.json implies [65535,"
            + " 8192]",
        () -> Checkpoint.open(dir));

    TinyCheckpoints.writeConfig(dir, TinyCheckpoints.configJson(big));
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertEquals(parameters(big), c.parameterCount());
      WeightTensor head = c.weights().lmHead();
      assertEquals(65536, head.rows());
      float[] row = new float[8192];
      head.readRow(65535, row, 0);
      assertArrayEquals(new float[8192], row);
    }
  }

  private static long parameters(Spec spec) {
    return TinyCheckpoints.shapes(spec).values().stream().mapToLong(TinyCheckpoints::numel).sum();
  }

  private static void assertValues(Spec spec, LlamaWeights w) {
    Map<String, float[]> expected = TinyCheckpoints.values(spec);
    assertArrayEquals(expected.get("model.embed_tokens.weight"), w.embedTokens().toFloatArray());
    assertArrayEquals(expected.get("model.norm.weight"), w.finalNorm().toFloatArray());
    assertArrayEquals(
        expected.getOrDefault("lm_head.weight", expected.get("model.embed_tokens.weight")),
        w.lmHead().toFloatArray());
    assertEquals(spec.layers(), w.layers().size());
    for (int i = 0; i < spec.layers(); i++) {
      String p = "model.layers." + i + ".";
      LayerWeights l = w.layers().get(i);
      assertArrayEquals(expected.get(p + "input_layernorm.weight"), l.attnNorm().toFloatArray());
      assertArrayEquals(expected.get(p + "self_attn.q_proj.weight"), l.wq().toFloatArray());
      assertArrayEquals(expected.get(p + "self_attn.k_proj.weight"), l.wk().toFloatArray());
      assertArrayEquals(expected.get(p + "self_attn.v_proj.weight"), l.wv().toFloatArray());
      assertArrayEquals(expected.get(p + "self_attn.o_proj.weight"), l.wo().toFloatArray());
      assertArrayEquals(
          expected.get(p + "post_attention_layernorm.weight"), l.ffnNorm().toFloatArray());
      assertArrayEquals(expected.get(p + "mlp.gate_proj.weight"), l.wGate().toFloatArray());
      assertArrayEquals(expected.get(p + "mlp.up_proj.weight"), l.wUp().toFloatArray());
      assertArrayEquals(expected.get(p + "mlp.down_proj.weight"), l.wDown().toFloatArray());
    }
  }
}
