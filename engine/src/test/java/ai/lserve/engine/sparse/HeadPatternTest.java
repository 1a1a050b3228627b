package ai.lserve.engine.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.CheckpointException;
import ai.lserve.engine.model.LlamaConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HeadPatternTest {
  @TempDir Path dir;

  @Test
  void streamingHeadsAreTheGloballyLowestGates() {
    SplittableRandom rnd = new SplittableRandom(3);
    for (int trial = 0; trial < 200; trial++) {
      int layers = rnd.nextInt(1, 40);
      int heads = rnd.nextInt(1, 33);
      double[][] gates = randomGates(rnd, layers, heads);
      double fraction = trial % 2 == 0 ? rnd.nextDouble() : rnd.nextInt(21) / 20.0;
      HeadPattern p = HeadPattern.fromGates(gates, fraction);
      boolean[] expected = bruteForceRetrieval(gates, fraction);
      for (int l = 0; l < layers; l++) {
        for (int h = 0; h < heads; h++) {
          assertEquals(expected[l * heads + h], p.retrieval(l, h), "layer " + l + " head " + h);
        }
      }
      assertEquals(Math.round(fraction * layers * heads), p.streamingCount());
    }
  }

  @Test
  void exactCountsAtTheUsualFractions() {
    SplittableRandom rnd = new SplittableRandom(4);
    int[][] shapes = {{32, 8}, {32, 32}, {3, 5}, {1, 1}};
    for (int[] shape : shapes) {
      double[][] gates = randomGates(rnd, shape[0], shape[1]);
      int total = shape[0] * shape[1];
      for (double f : new double[] {0, 0.25, 0.5, 1}) {
        HeadPattern p = HeadPattern.fromGates(gates, f);
        assertEquals(Math.round(f * total), p.streamingCount(), shape[0] + "x" + shape[1]);
      }
      assertEquals(HeadPattern.allRetrieval(shape[0], shape[1]), HeadPattern.fromGates(gates, 0));
      assertEquals(total, HeadPattern.fromGates(gates, 1).streamingCount());
    }
    assertEquals(4, HeadPattern.fromGates(new double[3][5], 0.25).streamingCount()); // 3.75
    assertEquals(8, HeadPattern.fromGates(new double[3][5], 0.5).streamingCount()); // 7.5
  }

  /** DuoAttention patterns have many gates at exactly 1.0; lower flat indices go first. */
  @Test
  void tiesBreakTowardTheLowerFlatIndex() {
    double[][] ones = {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}};
    HeadPattern p = HeadPattern.fromGates(ones, 0.25);
    assertArrayEquals(new int[] {0, 1, 2, 3}, p.streamingHeads(0));
    for (int l = 1; l < 4; l++) {
      assertArrayEquals(new int[] {0, 1, 2, 3}, p.retrievalHeads(l));
    }
    double[][] mixed = {{1, 0.9, 1}, {1, 0.2, 1}};
    // 0.2 and 0.9 first, then the 1.0 with the lowest index: layer 0, head 0.
    HeadPattern q = HeadPattern.fromGates(mixed, 0.5);
    assertArrayEquals(new int[] {0, 1}, q.streamingHeads(0));
    assertArrayEquals(new int[] {1}, q.streamingHeads(1));
    assertEquals(q, HeadPattern.fromGates(mixed, 0.5));
  }

  @Test
  void gatesAreClippedBeforeRanking() {
    // -0.5 and -0.1 both clip to 0 and tie, so the lower index wins, not the lower raw value;
    // likewise 1.5 ties with 1.0.
    HeadPattern p = HeadPattern.fromGates(new double[][] {{1.5, -0.1}, {-0.5, 0.7}}, 0.25);
    assertFalse(p.retrieval(0, 1));
    assertTrue(p.retrieval(1, 0));
    HeadPattern q = HeadPattern.fromGates(new double[][] {{1.5, 1.0}}, 0.5);
    assertFalse(q.retrieval(0, 0));
    assertTrue(q.retrieval(0, 1));
  }

  @Test
  void perLayerListsAndDescription() {
    double[][] gates = {{0.1, 0.9, 0.2}, {0.8, 0.7, 0.95}};
    HeadPattern p = HeadPattern.fromGates(gates, 0.5);
    assertEquals(2, p.layers());
    assertEquals(3, p.kvHeads());
    assertArrayEquals(new int[] {1}, p.retrievalHeads(0));
    assertArrayEquals(new int[] {0, 2}, p.streamingHeads(0));
    assertArrayEquals(new int[] {0, 2}, p.retrievalHeads(1));
    assertArrayEquals(new int[] {1}, p.streamingHeads(1));
    assertEquals(3, p.streamingCount());
    assertEquals(
        "2 layers x 3 KV heads: 3 retrieval, 3 streaming; retrieval heads per layer [1, 2]",
        p.describe());
    assertThrows(IndexOutOfBoundsException.class, () -> p.retrieval(2, 0));
    assertThrows(IndexOutOfBoundsException.class, () -> p.retrieval(0, 3));
    assertThrows(IndexOutOfBoundsException.class, () -> p.retrievalHeads(-1));
    HeadPattern all = HeadPattern.allRetrieval(2, 3);
    assertEquals(0, all.streamingCount());
    assertArrayEquals(new int[0], all.streamingHeads(1));
  }

  @Test
  void rejectsBadGatesAndFractions() {
    assertArg("streaming fraction must be in [0, 1], got 1.5",
        () -> HeadPattern.fromGates(new double[1][1], 1.5));
    assertArg("streaming fraction must be in [0, 1], got NaN",
        () -> HeadPattern.fromGates(new double[1][1], Double.NaN));
    assertArg("layer 1 has 2 gates, layer 0 has 3",
        () -> HeadPattern.fromGates(new double[][] {{1, 1, 1}, {1, 1}}, 0.5));
    assertArg("gate of layer 0, KV head 1 is NaN",
        () -> HeadPattern.fromGates(new double[][] {{1, Double.NaN}}, 0.5));
    assertArg("at least one layer", () -> HeadPattern.fromGates(new double[0][], 0.5));
    assertArg("at least one layer", () -> HeadPattern.allRetrieval(0, 8));
    assertArg("gate of layer 0, KV head 0 is Infinity",
        () -> HeadPattern.writeGates(dir.resolve("x.tsv"), new double[][] {{Double.POSITIVE_INFINITY}}));
  }

  @Test
  void readsDuoAttentionTsv() throws IOException {
    Path tsv = write("1.0\t0.25\t0\n9.614000000000000000e-01 \t  .5\t-0.1\r\n0.3\t1e-3\t1\n\n  \n");
    double[][] gates = HeadPattern.readGates(tsv, config(3, 3));
    assertArrayEquals(new double[] {1, 0.25, 0}, gates[0]);
    assertArrayEquals(new double[] {0.9614, 0.5, -0.1}, gates[1]);
    assertArrayEquals(new double[] {0.3, 1e-3, 1}, gates[2]);
    assertEquals(HeadPattern.fromGates(gates, 0.5), HeadPattern.load(tsv, config(3, 3), 0.5));
  }

  @Test
  void rejectsMalformedTsvNamingFileLineAndProblem() throws IOException {
    LlamaConfig c = config(3, 8);
    String row = "1\t1\t1\t1\t1\t1\t1\t1\n";
    assertRejected(write(row + row + "1\t1\t1\t1\t1\t1\t1\n"), c,
        "line 3 has 7 values, the model has 8 KV heads");
    assertRejected(write(row + row), config(32, 8), "2 rows, the model has 32 layers");
    assertRejected(write(row), c, "1 row, the model has 3 layers");
    assertRejected(write(""), c, "empty, expected 3 rows (layers) of 8 gates (KV heads)");
    assertRejected(write("\n\n \n"), c, "empty");
    assertRejected(write(row + "\n" + row + "\n"), c, "line 2 is blank");
    assertRejected(write(row + "1\t1\tabc\t1\t1\t1\t1\t1\n" + row), c,
        "line 2, column 3: 'abc' is not a number");
    assertRejected(write(row + row + "1\t1\t1\t1\t1\t1\t1\tnan\n"), c,
        "line 3, column 8: gate is NaN");
    assertRejected(write("1e999\t1\t1\t1\t1\t1\t1\t1\n" + row + row), c,
        "line 1, column 1: '1e999' is out of range");
    assertRejected(write(row + row + "1,1,1,1,1,1,1,1\n"), c, "line 3 has 1 values");
    assertRejected(write(row + "1\t1\t1\t1\t1\t1\t1\t1.0f\n" + row), c,
        "line 2, column 8: '1.0f' is not a number");
    Path missing = dir.resolve("missing.tsv");
    assertRejected(missing, c, "cannot read");
  }

  @Test
  void writtenGatesReadBackExactly() {
    SplittableRandom rnd = new SplittableRandom(5);
    double[][] gates = randomGates(rnd, 32, 8);
    gates[0] = new double[] {1.0, 0.0, -0.0, 1e-300, Math.nextUp(0.5), 0.1 + 0.2, 1e-5, 2.5};
    for (int l = 1; l < 32; l++) {
      gates[l][0] = rnd.nextDouble(); // full 53-bit values
    }
    Path tsv = dir.resolve("full_attention_heads.tsv");
    HeadPattern.writeGates(tsv, gates);
    double[][] back = HeadPattern.readGates(tsv, config(32, 8));
    for (int l = 0; l < 32; l++) {
      assertArrayEquals(gates[l], back[l], "layer " + l);
    }
  }

  /** Streaming iff fewer than k heads rank below: lower gate, or equal gate and lower index. */
  private static boolean[] bruteForceRetrieval(double[][] gates, double fraction) {
    int heads = gates[0].length;
    int n = gates.length * heads;
    long k = Math.round(fraction * n);
    boolean[] retrieval = new boolean[n];
    for (int i = 0; i < n; i++) {
      double gi = clip(gates[i / heads][i % heads]);
      int rank = 0;
      for (int j = 0; j < n; j++) {
        double gj = clip(gates[j / heads][j % heads]);
        rank += gj < gi || (gj == gi && j < i) ? 1 : 0;
      }
      retrieval[i] = rank >= k;
    }
    return retrieval;
  }

  private static double clip(double g) {
    return Math.min(1, Math.max(0, g));
  }

  /** Gates like DuoAttention's: many exactly 1.0, a few out of [0, 1], coarse values that tie. */
  private static double[][] randomGates(SplittableRandom rnd, int layers, int heads) {
    double[][] g = new double[layers][heads];
    for (double[] row : g) {
      for (int h = 0; h < heads; h++) {
        double u = rnd.nextDouble();
        row[h] = u < 0.4 ? 1.0 : u < 0.45 ? rnd.nextDouble(-0.2, 1.2) : rnd.nextInt(100) / 100.0;
      }
    }
    return g;
  }

  private static LlamaConfig config(int layers, int kvHeads) {
    String json = String.format(
        "{\"model_type\": \"llama\", \"hidden_size\": %d, \"intermediate_size\": 64,"
            + " \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
            + " \"num_key_value_heads\": %d, \"rms_norm_eps\": 1e-5,"
            + " \"max_position_embeddings\": 128, \"vocab_size\": 100}",
        kvHeads * 2 * 16, layers, kvHeads * 2, kvHeads);
    return LlamaConfig.parse(json, Path.of("config.json"));
  }

  private int files;

  private Path write(String text) throws IOException {
    return Files.writeString(dir.resolve("pattern" + files++ + ".tsv"), text);
  }

  private static void assertRejected(Path tsv, LlamaConfig c, String problem) {
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> HeadPattern.readGates(tsv, c));
    assertEquals(tsv, e.file());
    assertTrue(e.getMessage().startsWith(tsv + ": "), e.getMessage());
    assertTrue(e.getMessage().contains(problem), () -> "expected '" + problem + "' in: " + e.getMessage());
  }

  private static void assertArg(String expected, Runnable action) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
