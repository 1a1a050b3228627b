package ai.lserve.engine.cli;

import static ai.lserve.engine.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.sparse.HeadPattern;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lserve calibrate} on the bundled needle model: a real ablation, and what it rejects before running. */
class CalibrateCommandTest {
  static final Path NEEDLE = Path.of("../examples/models/lserve-needle-7m");

  @TempDir Path dir;

  private MainTest.Run calibrate(String... args) {
    String[] all = new String[args.length + 4];
    all[0] = "calibrate";
    all[1] = "--model";
    all[2] = NEEDLE.toString();
    all[3] = "--out=" + dir.resolve("p.tsv");
    System.arraycopy(args, 0, all, 4, args.length);
    return run(all);
  }

  private void rejected(String message, String... args) {
    MainTest.Run r = calibrate(args);
    assertEquals(1, r.exit(), r.out());
    assertTrue(r.err().contains(message), r.err());
    assertTrue(Files.notExists(dir.resolve("p.tsv")));
  }

  /**
   * A passkey and a kv case of 768 tokens (seed 7) under a 64 + 64 mask, one greedy step, float32
   * KV (measured 2026-11-24 on the CPU: reference NLL 0.0052; 1:0 +0.71, 1:1 +0.38, 3:0 +0.12, the
   * rest within ±0.002, 2:0 the cheapest at −0.0018): both layer-1 heads, which the attention-mass
   * proxy made streaming, must stay retrieval heads in the pattern written, at 1/8 and at 1/2.
   */
  @Test
  void ablationKeepsTheHeadsTheAnswersNeed() throws Exception {
    MainTest.Run r = calibrate("--tasks", "passkey,kv", "--lengths", "768", "--samples", "1", "--seed", "7",
        "--sink", "64", "--local", "64", "--streaming-fraction", "0.125", "--threads", "2");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals("ablation", o.get("method").asText());
    assertEquals(32, o.get("kv_bits").asInt());
    assertEquals(2, o.get("cases").asInt());
    double reference = o.get("reference").get("nll").asDouble();
    assertEquals(1, o.get("steps").size());
    JsonNode step = o.get("steps").get(0);
    JsonNode candidates = step.get("candidates_nll");
    assertEquals(8, candidates.size());
    for (String needed : new String[] {"1:0", "1:1", "3:0"})
      assertTrue(candidates.get(needed).asDouble() > reference + 0.1, needed + ": " + candidates);
    assertEquals("2:0", step.get("streaming").asText());
    assertEquals(step.get("nll").asDouble(), candidates.get("2:0").asDouble());
    LlamaConfig config = LlamaConfig.load(NEEDLE.resolve("config.json"));
    HeadPattern one = HeadPattern.load(dir.resolve("p.tsv"), config, 0.125);
    assertEquals(1, one.streamingCount());
    assertFalse(one.retrieval(2, 0));
    HeadPattern half = HeadPattern.load(dir.resolve("p.tsv"), config, 0.5);
    assertFalse(half.retrieval(2, 0));
    assertTrue(half.retrieval(1, 0) && half.retrieval(1, 1) && half.retrieval(3, 0), half.toString());
  }

  @Test
  void badJsonlRowsAreRejectedWithTheirLine() throws Exception {
    String good = "{\"prompt\": \" The pass key is 12345. What is the pass key? The pass key is\", \"answer\": \" 12345\"}";
    String[][] bad = {
        {"{\"prompt\": \"abc\"}", "line 3: \"answer\" must be a string"},
        {"{\"prompt\": \"abc\", \"answer\": 5}", "line 3: \"answer\" must be a string"},
        {"{\"prompt\": \"abc\", \"answer\": \"\"}", "line 3: the answer is empty"},
        {"{\"prompt\": \"\", \"answer\": \"x\"}", "line 3: \"prompt\" is empty"},
        {"[1, 2]", "line 3: expected an object"},
        {"{\"prompt\": \"abc\", ", "line 3: not JSON"}};
    for (String[] b : bad) {
      Path data = Files.writeString(dir.resolve("cases.jsonl"), good + "\n\n" + b[0] + "\n" + good + "\n");
      rejected(data + " line 3: " + b[1].substring("line 3: ".length()), "--data", data.toString());
    }
    rejected("has no cases", "--data", Files.writeString(dir.resolve("empty.jsonl"), "\n").toString());
    String tooLong = "{\"prompt\": \"" + "a".repeat(40_000) + "\", \"answer\": \" b\"}\n";
    rejected("calibration case 1: prompt has 40002 tokens; the model's context holds 32768",
        "--data", Files.writeString(dir.resolve("long.jsonl"), tooLong).toString());
  }

  @Test
  void optionCombinationsAreChecked() throws Exception {
    Path data = Files.writeString(dir.resolve("c.jsonl"), "{\"prompt\": \"a\", \"answer\": \"b\"}\n");
    rejected("exactly one of --data FILE (JSONL) or --tasks");
    rejected("exactly one of --data FILE (JSONL) or --tasks", "--data", data.toString(), "--tasks", "passkey");
    rejected("--lengths, --seed and --samples apply to --tasks", "--data", data.toString(), "--seed", "3");
    rejected("--length applies to --method attention", "--tasks", "passkey", "--length", "1024");
    rejected("--method must be ablation or attention", "--method", "mass", "--tasks", "passkey");
    rejected("--streaming-fraction must be in [0, 1]", "--tasks", "passkey", "--streaming-fraction", "1.5");
    rejected("unknown task 'pass'", "--tasks", "pass");
    rejected("length 100 is too short for task passkey", "--tasks", "passkey", "--lengths", "100");
    rejected("calibration cases are too short: the longest has 254 tokens", "--tasks", "passkey", "--lengths", "256");
    rejected("--samples must be >= 1", "--tasks", "passkey", "--samples", "0");
    rejected("--tasks applies to --method ablation", "--method", "attention", "--data", data.toString(), "--tasks", "kv");
    rejected("--kv-bits applies to --method ablation", "--method", "attention", "--data", data.toString(), "--kv-bits", "4");
    rejected("--method attention needs --data", "--method", "attention");
    rejected("runs on the CPU only", "--method", "attention", "--data", data.toString(), "--device", "cuda");
  }
}
