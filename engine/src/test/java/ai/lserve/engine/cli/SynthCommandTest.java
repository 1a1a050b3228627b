package ai.lserve.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code synth}, {@code --model synthetic:NAME}, {@code --random-prompt} and {@code --device auto} on the CPU. */
class SynthCommandTest {
  @TempDir Path dir;

  @Test
  void synthWritesWhatSyntheticGenerates() throws Exception {
    Path out = dir.resolve("tiny");
    MainTest.Run w = MainTest.run("synth", "--shape", "tiny", "--layers", "1", "--out", out.toString());
    assertEquals(0, w.exit(), w.err());
    assertEquals(1, w.lastLine().get("layers").asInt());
    assertTrue(Files.isRegularFile(out.resolve("full_attention_heads.tsv")));
    String[] gen = {"generate", "--random-prompt", "300", "--seed", "5", "--max-new-tokens", "4", "--mode", "lserve",
        "--budget", "128", "--device", "auto"};
    MainTest.Run fromDisk = MainTest.run(concat("--model", out.toString(), gen));
    assertEquals(0, fromDisk.exit(), fromDisk.err());
    assertTrue(fromDisk.err().contains("device auto: "), fromDisk.err());
    JsonNode a = fromDisk.lastLine();
    assertEquals(300, a.get("prompt_tokens").asInt());
    // The seeded prompt is the same on every run. (That the files hold the synthetic model's values,
    // logits included, SyntheticModelTest checks; this one has a layer fewer than synthetic:tiny.)
    MainTest.Run again = MainTest.run(concat("--model", out.toString(), gen));
    assertEquals(a.get("output_ids"), again.lastLine().get("output_ids"));
    MainTest.Run synthetic = MainTest.run(concat("--model", "synthetic:tiny", gen));
    assertEquals(0, synthetic.exit(), synthetic.err());
    assertEquals(4, synthetic.lastLine().get("completion_tokens").asInt());
  }

  @Test
  void synthRefusesADirectoryHoldingAModel() throws Exception {
    MainTest.Run first = MainTest.run("synth", "--shape", "tiny", "--out", dir.toString());
    assertEquals(0, first.exit(), first.err());
    MainTest.Run second = MainTest.run("synth", "--shape", "tiny", "--out", dir.toString());
    assertNotEquals(0, second.exit());
    assertTrue(second.err().contains("already holds a model"), second.err());
  }

  private static String[] concat(String flag, String value, String[] rest) {
    String[] all = new String[rest.length + 2];
    all[0] = rest[0];
    all[1] = flag;
    all[2] = value;
    System.arraycopy(rest, 1, all, 3, rest.length - 1);
    return all;
  }
}
