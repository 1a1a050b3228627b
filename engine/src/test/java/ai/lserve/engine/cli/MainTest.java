package ai.lserve.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The command line's JSON contract: the last line of stdout; errors on stderr, non-zero exit. */
public class MainTest {
  static final Path FIXTURES = Path.of("src/test/fixtures");
  static final ObjectMapper JSON = new ObjectMapper();

  /** One in-process run of the command line; other command tests reuse it. */
  public record Run(int exit, String out, String err) {
    public JsonNode lastLine() throws Exception {
      String[] lines = out.strip().split("\n");
      return JSON.readTree(lines[lines.length - 1]);
    }
  }

  public static Run run(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = Main.run(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  static String csv(JsonNode ids, int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) b.append(i > 0 ? "," : "").append(ids.get(i).asInt());
    return b.toString();
  }

  @Test
  void logitsPrintsTheLastPositions() throws Exception {
    String name = "tiny-mha-f32";
    JsonNode ref = JSON.readTree(FIXTURES.resolve(name).resolve("reference.json").toFile());
    // Positions 127 and 128 of the reference prompt are the last two of its first 129 ids.
    Run r = run("logits", "--model", FIXTURES.resolve(name).toString(), "--input-ids", csv(ref.get("input_ids"), 129),
        "--last", "2", "--device", "cpu");
    assertEquals(0, r.exit(), r.err());
    JsonNode logits = r.lastLine().get("logits");
    assertEquals(2, logits.size());
    for (int k = 0; k < 2; k++) {
      int refIndex = k == 0 ? 7 : 8; // logits_positions [.., 127, 128, 149]
      assertEquals(127 + k, ref.get("logits_positions").get(refIndex).asInt());
      JsonNode want = ref.get("logits").get(refIndex);
      assertEquals(want.size(), logits.get(k).size());
      for (int i = 0; i < want.size(); i++)
        assertEquals(want.get(i).asDouble(), logits.get(k).get(i).asDouble(), 1e-4);
    }
  }

  @Test
  void generateFromTextAndIds() throws Exception {
    String model = FIXTURES.resolve("tiny-gqa-bf16-llama3").toString();
    JsonNode ref = JSON.readTree(FIXTURES.resolve("tiny-gqa-bf16-llama3").resolve("reference.json").toFile()).get("greedy_text");
    Run r = run("generate", "--model", model, "--prompt", ref.get("prompt").asText(), "--max-new-tokens", "24");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals(ref.get("output_ids"), o.get("output_ids"));
    assertEquals(ref.get("text").asText(), o.get("text").asText());
    assertEquals("length", o.get("finish_reason").asText());
    assertEquals(ref.get("input_ids").size(), o.get("prompt_tokens").asInt());
    assertEquals(24, o.get("completion_tokens").asInt());
    assertTrue(o.get("timings").get("total_ms").asDouble() > 0);

    Run sampled = run("generate", "--model", model, "--input-ids", "0,5,9,33", "--max-new-tokens", "6",
        "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--seed", "3", "--ignore-eos");
    Run again = run("generate", "--model", model, "--input-ids", "0,5,9,33", "--max-new-tokens", "6",
        "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--seed", "3", "--ignore-eos");
    assertEquals(0, sampled.exit(), sampled.err());
    assertEquals(6, sampled.lastLine().get("output_ids").size());
    assertEquals(sampled.lastLine().get("output_ids"), again.lastLine().get("output_ids"));
  }

  @Test
  void stopStringEndsTheText() throws Exception {
    String model = FIXTURES.resolve("tiny-gqa-bf16-llama3").toString();
    Run r = run("generate", "--model", model, "--prompt", "Once upon a time, the little model", "--max-new-tokens", "24",
        "--stop", "lll");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals("stop", o.get("finish_reason").asText());
    assertEquals("lll", o.get("stop_reason").asText());
    assertEquals("", o.get("text").asText());
    assertEquals(3, o.get("completion_tokens").asInt());
  }

  @Test
  void infoPrintsConfigAndParameters() throws Exception {
    Run r = run("info", "--model", FIXTURES.resolve("tiny-headdim-linear-f32-sharded").toString());
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals(32, o.get("config").get("headDim").asInt());
    assertEquals(332_448, o.get("parameters").asLong());
  }

  @Test
  void errorsGoToStderrWithNonZeroExit() {
    Run missing = run("generate", "--model", "/nonexistent/model", "--input-ids", "1,2", "--max-new-tokens", "2");
    assertNotEquals(0, missing.exit());
    assertTrue(missing.err().contains("/nonexistent/model"), missing.err());
    assertEquals("", missing.out());
    Run badIds = run("logits", "--model", FIXTURES.resolve("tiny-mha-f32").toString(), "--input-ids", "1,x", "--last", "1");
    assertNotEquals(0, badIds.exit());
    assertTrue(badIds.err().contains("'x' is not a token id"), badIds.err());
    Run usage = run("generate", "--model", "m");
    assertNotEquals(0, usage.exit());
    assertTrue(usage.err().contains("--max-new-tokens"), usage.err());
    Run noCuda = run("logits", "--model", FIXTURES.resolve("tiny-mha-f32").toString(), "--input-ids", "1,2", "--device", "cuda:0");
    assertNotEquals(0, noCuda.exit());
    assertTrue(noCuda.err().contains("cuda:0"), noCuda.err());
  }
}
