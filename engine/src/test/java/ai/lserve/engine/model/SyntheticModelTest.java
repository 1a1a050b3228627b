package ai.lserve.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticModelTest {
  @TempDir Path dir;

  @Test
  void randomValuesHaveTheAskedMeanAndStdAndAreStable() {
    RandomTensor m = RandomTensor.of("w", new long[] {300, 1000}, 7, 0f, 0.02f);
    RandomTensor n = RandomTensor.of("n", new long[] {300_000}, 7, 1f, 0.02f);
    for (RandomTensor t : List.of(m, n)) {
      double sum = 0, sq = 0;
      for (long i = 0; i < t.numel(); i++) {
        double v = DType.bf16ToFloat(t.bf16(i));
        sum += v;
        sq += v * v;
      }
      double mean = sum / t.numel(), std = Math.sqrt(sq / t.numel() - mean * mean);
      assertEquals(t.mean(), mean, 2e-4);
      assertEquals(0.02, std, 5e-4);
    }
    ByteBuffer b = ByteBuffer.allocate(2000).order(ByteOrder.LITTLE_ENDIAN);
    m.fill(500, 1000, b);
    for (int j = 0; j < 1000; j++) assertEquals(m.bf16(500 + j), b.getShort(2 * j));
    // Another seed or name gives other values; the same gives the same.
    assertEquals(m.bf16(3), RandomTensor.of("w", new long[] {300, 1000}, 7, 0f, 0.02f).bf16(3));
    int same = 0;
    RandomTensor other = RandomTensor.of("w", new long[] {300, 1000}, 8, 0f, 0.02f);
    for (int i = 0; i < 1000; i++) if (other.bf16(i) == m.bf16(i)) same++;
    assertTrue(same < 50, same + " of 1000 equal");
  }

  @Test
  void namedShapesHaveThePublishedConfigs() {
    LlamaConfig l3 = new SyntheticModel(SyntheticShape.named("llama-3-8b"), 0).config();
    assertEquals(128, l3.headDim());
    assertEquals(8, l3.numKvHeads());
    assertEquals(131072, l3.maxPositionEmbeddings());
    assertEquals("llama3", l3.ropeScaling().type());
    assertEquals(16_060_522_496L, SyntheticShape.named("llama-3-8b").weightBytes()); // 8.03 B parameters
    LlamaConfig m = new SyntheticModel(SyntheticShape.named("minitron-4b"), 0).config();
    assertEquals(128, m.headDim()); // explicit, not 3072 / 32
    assertEquals(9216, m.intermediateSize());
    LlamaConfig l2 = new SyntheticModel(SyntheticShape.named("llama-2-7b"), 0).config();
    assertEquals(32, l2.numKvHeads());
    assertEquals(32000, l2.vocabSize());
    assertNull(l2.ropeScaling());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSource.open("synthetic:gpt-5"));
    assertTrue(e.getMessage().contains("llama-3-8b"), e.getMessage());
  }

  @Test
  void seededPatternIsDeterministic() {
    SyntheticModel a = new SyntheticModel(SyntheticShape.named("llama-3-8b"), 0);
    assertEquals(a.pattern(0.5), new SyntheticModel(SyntheticShape.named("llama-3-8b"), 0).pattern(0.5));
    assertEquals(128, a.pattern(0.5).streamingCount());
  }

  @Test
  void writtenCheckpointHoldsTheSameModel() throws Exception {
    SyntheticModel model = new SyntheticModel(SyntheticShape.named("tiny").withLayers(1), 0);
    List<Path> shards = SyntheticWriter.write(model, dir, 100_000);
    assertTrue(shards.size() > 2, shards.size() + " shards");
    assertTrue(Files.isRegularFile(dir.resolve("model.safetensors.index.json")));
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertEquals(model.config().describe(), c.config().describe());
      for (RandomTensor t : model.tensors()) {
        WeightTensor w = find(c, t.name());
        assertArrayEquals(t.shape(), w.shape());
        ByteBuffer bytes = w.bytes();
        for (long i = 0; i < t.numel(); i += 97) assertEquals(t.bf16(i), bytes.getShort((int) (2 * i)), t.name() + "[" + i + "]");
      }
    }
    int[] prompt = new Random(1).ints(200, 0, 256).toArray();
    EngineOptions cpu = EngineOptions.defaults().withDevice("cpu").withThreads(2).withSparse(SparseConfig.dense());
    GenerationRequest req = GenerationRequest.ids(prompt, SamplingParams.defaults().withMaxNewTokens(6)).withPromptLogits(3);
    GenerationResult fromDisk, synthetic;
    try (Engine e = Engine.open(dir, cpu)) {
      fromDisk = e.generate(req);
    }
    try (Engine e = Engine.open(model, cpu)) {
      synthetic = e.generate(req);
    }
    assertArrayEquals(fromDisk.outputIds(), synthetic.outputIds());
    for (int k = 0; k < 3; k++) assertArrayEquals(fromDisk.promptLogits()[k], synthetic.promptLogits()[k]);
  }

  private static WeightTensor find(Checkpoint c, String name) {
    LlamaWeights w = c.weights();
    if (name.equals("model.embed_tokens.weight")) return w.embedTokens();
    if (name.equals("model.norm.weight")) return w.finalNorm();
    if (name.equals("lm_head.weight")) return w.lmHead();
    LayerWeights l = w.layers().get(Integer.parseInt(name.split("\\.")[2]));
    String role = name.substring(name.indexOf('.', "model.layers.".length()) + 1);
    return switch (role) {
      case "input_layernorm.weight" -> l.attnNorm();
      case "self_attn.q_proj.weight" -> l.wq();
      case "self_attn.k_proj.weight" -> l.wk();
      case "self_attn.v_proj.weight" -> l.wv();
      case "self_attn.o_proj.weight" -> l.wo();
      case "post_attention_layernorm.weight" -> l.ffnNorm();
      case "mlp.gate_proj.weight" -> l.wGate();
      case "mlp.up_proj.weight" -> l.wUp();
      case "mlp.down_proj.weight" -> l.wDown();
      default -> throw new AssertionError(name);
    };
  }
}
