package ai.lserve.engine.cli;

import static ai.lserve.engine.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lserve calibrate}: what it rejects before running anything (the needle model's tokenizer). */
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
