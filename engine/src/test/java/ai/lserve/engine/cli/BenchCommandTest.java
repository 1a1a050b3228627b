package ai.lserve.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchCommandTest {
  @TempDir Path dir;

  private static final String[] SMALL = {"bench", "--model", "synthetic:tiny", "--device", "cpu", "--threads", "2",
      "--contexts", "64,128", "--decode-tokens", "4", "--modes", "dense,lserve"};

  private static String[] with(String[] base, String... more) {
    String[] all = new String[base.length + more.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(more, 0, all, base.length, more.length);
    return all;
  }

  @Test
  void writesOneResultPerCellWithTablesAndPlots() throws Exception {
    Path peers = dir.resolve("peers.json");
    Files.writeString(peers, "{\"device\": \"test\", \"transformers\": [{\"context\": 64, \"batch\": 1, \"prefill_ms\": 500.0,"
        + " \"decode_ms_per_token\": 50.0}], \"sdpa\": [], \"matmul\": [], \"copy_tbps\": 2.9}");
    Path out = dir.resolve("out");
    MainTest.Run r = MainTest.run(with(SMALL, "--batch", "1,2", "--batch-contexts", "128", "--out", out.toString(),
        "--peers", peers.toString()));
    assertEquals(0, r.exit(), r.err());
    JsonNode last = r.lastLine();
    JsonNode json = new ObjectMapper().readTree(out.resolve("bench.json").toFile());
    assertEquals(json, last);
    for (String f : new String[] {"device", "date", "command", "model", "results", "peers"}) assertTrue(json.has(f), f);
    assertEquals("synthetic:tiny", json.get("model").asText());
    assertTrue(json.get("command").asText().startsWith("lserve bench --model synthetic:tiny"), json.get("command").asText());
    Set<String> cells = new HashSet<>();
    for (JsonNode c : json.get("results")) {
      assertTrue(cells.add(c.get("mode").asText() + "/" + c.get("context").asInt() + "/" + c.get("batch").asInt()), c.toString());
      assertTrue(!c.has("error"), c.toString());
      assertTrue(c.get("prefill_ms").asDouble() > 0, c.toString());
      assertTrue(c.get("decode_ms_per_token").asDouble() > 0, c.toString());
      assertTrue(c.get("decode_steps").asInt() >= 3, c.toString()); // decode-tokens 4: at least 3 steps with all decoding
      assertTrue(c.get("kv_bytes").asLong() > 0, c.toString());
      assertTrue(c.get("peak_device_bytes").isNull(), "the CPU has no device memory: " + c);
      assertTrue(c.get("decode_floor_ms").asDouble() > 0 && c.get("prefill_floor_ms").asDouble() > 0, c.toString());
    }
    assertEquals(Set.of("dense/64/1", "dense/128/1", "dense/128/2", "lserve/64/1", "lserve/128/1", "lserve/128/2"), cells);
    String md = Files.readString(out.resolve("bench.md"));
    long rows = md.lines().filter(l -> l.startsWith("| dense |") || l.startsWith("| lserve |")).count();
    assertEquals(6, rows, md);
    assertTrue(md.lines().anyMatch(l -> l.startsWith("| dense | 64 | 1 |") && !l.endsWith("| — | — |")),
        "the transformers ratio of the cell the peers ran:\n" + md);
    for (String png : new String[] {"prefill.png", "decode.png"}) {
      BufferedImage img = ImageIO.read(out.resolve(png).toFile());
      assertTrue(img != null && img.getWidth() > 100 && img.getHeight() > 100, png);
    }
  }

  @Test
  void aContextThatDoesNotFitIsAnErrorOfItsCellOnly() throws Exception {
    Path out = dir.resolve("small-cache");
    // dense bf16 pages of the tiny shape: 2 layers x 2 KV heads x (K + V) x 64 tokens x 32 x 2 bytes = 32 KiB;
    // two pages hold 64 + 4 tokens but not 128 + 4.
    MainTest.Run r = MainTest.run("bench", "--model", "synthetic:tiny", "--device", "cpu", "--threads", "2",
        "--contexts", "64,128", "--decode-tokens", "4", "--modes", "dense", "--kv-cache-bytes", "65536",
        "--out", out.toString());
    assertEquals(0, r.exit(), r.err());
    JsonNode results = r.lastLine().get("results");
    assertEquals(2, results.size());
    assertTrue(results.get(0).get("decode_ms_per_token").asDouble() > 0, results.get(0).toString());
    assertTrue(results.get(1).get("error").asText().startsWith("out of KV memory: needs"), results.get(1).toString());
    assertTrue(Files.readString(out.resolve("bench.md")).contains("out of KV memory"));
  }

  @Test
  void badOptionsAreNamed() {
    MainTest.Run mode = MainTest.run(with(new String[] {"bench", "--model", "synthetic:tiny", "--contexts", "64",
        "--out", dir.toString()}, "--modes", "dense,sparse"));
    assertNotEquals(0, mode.exit());
    assertTrue(mode.err().contains("--modes: unknown mode 'sparse'"), mode.err());
    MainTest.Run ctx = MainTest.run("bench", "--model", "synthetic:tiny", "--contexts", "8k,12q", "--out", dir.toString());
    assertNotEquals(0, ctx.exit());
    assertTrue(ctx.err().contains("--contexts: '12q' is not a count"), ctx.err());
    MainTest.Run fixed = MainTest.run("bench", "--model", "synthetic:tiny", "--contexts", "64", "--mode", "dense",
        "--out", dir.toString());
    assertNotEquals(0, fixed.exit());
    assertTrue(fixed.err().contains("use --modes"), fixed.err());
  }

  @Test
  void benchReportRendersAgainWithPeers() throws Exception {
    Path first = dir.resolve("first");
    assertEquals(0, MainTest.run(with(SMALL, "--out", first.toString())).exit());
    Path peers = dir.resolve("peers.json");
    Files.writeString(peers, "{\"transformers\": [{\"context\": 128, \"batch\": 1, \"prefill_ms\": 900.0,"
        + " \"decode_ms_per_token\": 60.0}]}");
    Path again = dir.resolve("again");
    MainTest.Run r = MainTest.run("bench-report", "--from", first.resolve("bench.json").toString(), "--out", again.toString(),
        "--peers", peers.toString());
    assertEquals(0, r.exit(), r.err());
    assertEquals(4, r.lastLine().get("results").asInt());
    JsonNode json = new ObjectMapper().readTree(again.resolve("bench.json").toFile());
    assertEquals(900.0, json.get("peers").get("transformers").get(0).get("prefill_ms").asDouble());
    assertTrue(ImageIO.read(again.resolve("decode.png").toFile()) != null);
    MainTest.Run bad = MainTest.run("bench-report", "--from", peers.toString(), "--out", again.toString());
    assertNotEquals(0, bad.exit());
    assertTrue(bad.err().contains("not a bench report"), bad.err());
  }
}
