package ai.lserve.engine.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ai.lserve.engine.cli.MainTest.run;

import ai.lserve.engine.cli.MainTest.Run;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lserve eval niah|ruler} on a tiny random model (its answers are noise; the plumbing is what is tested). */
class EvalCommandTest {
  static final Path MODEL = Path.of("src/test/fixtures/tiny-gqa-bf16-llama3");
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  @Test
  void niahPrintsJsonPerCellAndWritesAHeatMap() throws Exception {
    Run r = run("eval", "niah", "--model", MODEL.toString(), "--lengths", "256,384", "--depths", "0,50,...,100",
        "--samples", "2", "--seed", "3", "--out-dir", dir.toString(), "--threads", "2");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals("niah", o.get("eval").asText());
    assertEquals(List.of(0, 50, 100), JSON.convertValue(o.get("depths"), List.class));
    assertEquals(12, o.get("cases").asInt());
    double acc = o.get("accuracy").asDouble();
    assertTrue(acc >= 0 && acc <= 1);
    assertEquals(6, o.get("cells").size());
    int correct = 0;
    for (JsonNode c : o.get("cells")) {
      assertTrue(c.has("length") && c.has("depth") && c.has("accuracy"));
      assertEquals(2, c.get("total").asInt());
      assertTrue(c.get("prompt_tokens").asInt() > 0 && c.get("prompt_tokens").asInt() <= c.get("length").asInt());
      correct += c.get("correct").asInt();
      String marks = c.get("samples").asText();
      assertEquals(2, marks.length());
      assertEquals(c.get("correct").asInt(), marks.chars().filter(ch -> ch == '1').count());
    }
    assertEquals(o.get("correct").asInt(), correct);
    assertEquals(acc, correct / 12.0, 1e-4);
    assertTrue(o.get("by_length").has("256") && o.get("by_length").has("384"));
    Path png = dir.resolve("niah.png");
    assertEquals(png.toString(), o.get("heatmap").asText());
    BufferedImage img = ImageIO.read(png.toFile());
    assertNotNull(img);
    assertTrue(img.getWidth() > 100 && img.getHeight() > 100);
    assertEquals(o, JSON.readTree(Files.readString(dir.resolve("niah.json"))));
  }

  @Test
  void rulerCoversEveryTaskAndLength() throws Exception {
    Run r = run("eval", "ruler", "--model", MODEL.toString(), "--lengths", "512", "--samples", "1", "--seed", "5",
        "--out-dir", dir.toString(), "--name", "r", "--mode", "dense", "--threads", "2");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals("ruler", o.get("eval").asText());
    assertEquals("dense", o.get("mode").asText());
    assertEquals(4, o.get("cells").size());
    for (String t : Tasks.TASKS) assertTrue(o.get("by_task").has(t), t);
    assertTrue(Files.size(dir.resolve("r.png")) > 0);
  }

  @Test
  void badArgumentsFailWithAMessage() {
    Run r = run("eval", "ruler", "--model", MODEL.toString(), "--tasks", "summaries", "--lengths", "512",
        "--out-dir", dir.toString());
    assertNotEquals(0, r.exit());
    assertTrue(r.err().contains("unknown task"), r.err());
    r = run("eval", "ruler", "--model", MODEL.toString(), "--tasks", "multikey", "--lengths", "300",
        "--out-dir", dir.toString());
    assertNotEquals(0, r.exit());
    assertTrue(r.err().contains("too short"), r.err());
    r = run("eval", "niah", "--model", MODEL.toString(), "--lengths", "2x", "--out-dir", dir.toString());
    assertNotEquals(0, r.exit());
    assertFalse(Files.exists(dir.resolve("niah.png")));
  }

  @Test
  void exactMatchIgnoresSurroundingSpaceOnly() {
    assertTrue(Evaluator.exactMatch(" 12345", "12345"));
    assertTrue(Evaluator.exactMatch("12345\n", "12345"));
    assertFalse(Evaluator.exactMatch("123456", "12345"));
    assertFalse(Evaluator.exactMatch("1234", "12345"));
    assertFalse(Evaluator.exactMatch("12345.", "12345"));
    assertFalse(Evaluator.exactMatch(null, "12345"));
  }

  @Test
  void heatMapColoursGoFromRedToGreen() throws Exception {
    assertTrue(HeatMap.color(0).getRed() > HeatMap.color(0).getGreen());
    assertTrue(HeatMap.color(1).getGreen() > HeatMap.color(1).getRed());
    Path png = dir.resolve("sub/h.png");
    HeatMap.write(png, "t", "x", List.of("1K", "2K"), "y", List.of("a"), new double[][] {{0.5, Double.NaN}});
    assertNotNull(ImageIO.read(png.toFile()));
  }
}
