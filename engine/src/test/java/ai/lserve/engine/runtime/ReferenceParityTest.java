package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.Tokenizer;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU engine against Hugging Face transformers in float64 on random checkpoints made by
 * scripts/make_reference_fixtures.py (MHA, GQA, MQA; f32, bf16, f16 weights; llama3 and linear
 * rope scaling; tied embeddings; explicit head_dim; sharded files; both config.json forms).
 */
class ReferenceParityTest {
  static final Path FIXTURES = Path.of("src/test/fixtures");
  /** Relative L2 error allowed per position: the issue asks for 1e-3 (f32) and 5e-3 (bf16); fp32 math gives ~1e-6. */
  static final double TOLERANCE = 1e-4;

  static Stream<String> fixtures() {
    return Stream.of("tiny-mha-f32", "tiny-gqa-bf16-llama3", "tiny-headdim-linear-f32-sharded", "tiny-mqa-f16-hd128");
  }

  static JsonNode reference(String name) throws IOException {
    return new ObjectMapper().readTree(FIXTURES.resolve(name).resolve("reference.json").toFile());
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
    return out;
  }

  static EngineOptions cpu() {
    return EngineOptions.defaults().withDevice("cpu").withThreads(2).withSparse(SparseConfig.dense());
  }

  static double relativeL2(float[] got, JsonNode want) {
    double num = 0, den = 0;
    for (int i = 0; i < got.length; i++) {
      double w = want.get(i).asDouble();
      num += (got[i] - w) * (got[i] - w);
      den += w * w;
    }
    return Math.sqrt(num / den);
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void logitsMatchTransformersInFloat64(String name) throws IOException {
    JsonNode ref = reference(name);
    int[] ids = ints(ref.get("input_ids"));
    int[] positions = ints(ref.get("logits_positions"));
    // A small step budget prefills the prompt in chunks that cross page boundaries.
    try (Engine e = Engine.open(FIXTURES.resolve(name), cpu().withMaxBatchTokens(50))) {
      float[][] logits =
          e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(ids.length)).promptLogits();
      double worst = 0;
      for (int i = 0; i < positions.length; i++) {
        float[] row = logits[positions[i]];
        assertEquals(ref.get("logits").get(i).size(), row.length);
        worst = Math.max(worst, relativeL2(row, ref.get("logits").get(i)));
      }
      System.out.printf("%s: worst relative L2 logits error %.2e over %d positions%n", name, worst, positions.length);
      assertTrue(worst <= TOLERANCE, name + ": relative L2 error " + worst);
    }
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void greedyTokensMatch(String name) throws IOException {
    JsonNode g = reference(name).get("greedy");
    try (Engine e = Engine.open(FIXTURES.resolve(name), cpu())) {
      GenerationResult r = e.generate(GenerationRequest.ids(ints(g.get("input_ids")), SamplingParams.greedy(24)));
      assertArrayEquals(ints(g.get("output_ids")), r.outputIds());
      assertEquals(g.get("finish_reason").asText(), r.finishReason().wire());
    }
  }

  @org.junit.jupiter.api.Test
  void tokenizerAndTextGenerationMatch() throws IOException {
    String name = "tiny-gqa-bf16-llama3";
    JsonNode ref = reference(name);
    try (Tokenizer t = Tokenizer.load(FIXTURES.resolve(name).resolve("tokenizer.json"))) {
      for (JsonNode c : ref.get("text_cases")) {
        assertArrayEquals(ints(c.get("ids")), t.encode(c.get("text").asText()), c.get("text").asText());
        assertEquals(c.get("text").asText(), t.decode(ints(c.get("ids"))));
      }
    }
    JsonNode g = ref.get("greedy_text");
    try (Engine e = Engine.open(FIXTURES.resolve(name), cpu())) {
      GenerationResult r = e.generate(GenerationRequest.text(g.get("prompt").asText(), SamplingParams.greedy(24)));
      assertEquals(g.get("input_ids").size(), r.promptTokens());
      assertArrayEquals(ints(g.get("output_ids")), r.outputIds());
      assertEquals(g.get("text").asText(), r.text());
    }
  }
}
