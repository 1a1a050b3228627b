package ai.lserve.engine.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The greedy search and its gates, on scorers with known answers (the engine-backed run is in the CLI tests). */
class AblationCalibratorTest {
  /**
   * 2 layers x 2 KV heads, flat index l·2 + h. Alone, 0:0 and 0:1 cost (almost) nothing, 1:1 a
   * lot; together 0:0 and 0:1 cost more than anything: the ranking by single-head cost would pick
   * both, the greedy must not.
   */
  static AblationCalibrator.Score interacting(boolean[] s) {
    double nll = 0.01 + (s[0] ? 0.001 : 0) + (s[1] ? 0.002 : 0) + (s[2] ? 0.1 : 0) + (s[3] ? 0.5 : 0)
        + (s[0] && s[1] ? 2.0 : 0);
    return new AblationCalibrator.Score(nll, 1);
  }

  @Test
  void greedyAvoidsHeadsThatAreHarmlessAloneButHarmfulTogether() {
    List<boolean[]> calls = new ArrayList<>();
    Function<boolean[], AblationCalibrator.Score> scorer = s -> {
      calls.add(s);
      return interacting(s);
    };
    AblationCalibrator.Result r = AblationCalibrator.greedy(2, 2, 2, scorer, line -> {});
    assertEquals(1 + 4 + 3, calls.size()); // the reference, then every remaining head at each step
    assertEquals(0.01, r.reference().nll(), 1e-12);
    assertEquals(List.of("0:0", "1:0"), r.steps().stream().map(s -> s.layer() + ":" + s.kvHead()).toList());
    assertEquals(0.111, r.steps().get(1).score().nll(), 1e-12);
    assertEquals(3, r.steps().get(1).candidates().size());
    // Rank gates: 0:0 first, 1:0 second, then by the last step's cost: 1:1 (0.511) before 0:1 (2.013).
    assertArrayEquals(new double[] {0.125, 0.875}, r.gates()[0], 1e-12);
    assertArrayEquals(new double[] {0.375, 0.625}, r.gates()[1], 1e-12);
    assertEquals(HeadPattern.fromGates(r.gates(), 0.5), pattern(false, true, false, true));
    assertEquals(HeadPattern.fromGates(r.gates(), 0.25), pattern(false, true, true, true));
  }

  @Test
  void zeroStreamingHeadsRunsOnlyTheReference() {
    int[] calls = {0};
    AblationCalibrator.Result r = AblationCalibrator.greedy(2, 2, 0, s -> {
      calls[0]++;
      return interacting(s);
    }, line -> {});
    assertEquals(1, calls[0]);
    assertEquals(0, r.steps().size());
    assertEquals(HeadPattern.allRetrieval(2, 2), HeadPattern.fromGates(r.gates(), 0));
    assertThrows(IllegalArgumentException.class, () -> AblationCalibrator.greedy(2, 2, 5, s -> interacting(s), line -> {}));
  }

  @Test
  void logProbabilityIsALogSoftmax() {
    float[] logits = {1f, 2f, 3f};
    double z = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    assertEquals(2 - z, AblationCalibrator.logProbability(logits, 1), 1e-9);
    assertEquals(0, AblationCalibrator.logProbability(new float[] {0f, 1000f}, 1), 1e-9);
  }

  @Test
  void aCaseNeedsAPromptAndAnAnswer() {
    assertThrows(IllegalArgumentException.class, () -> new AblationCalibrator.Case(new int[] {1, 2}, 2));
    assertThrows(IllegalArgumentException.class, () -> new AblationCalibrator.Case(new int[] {1, 2}, 0));
  }

  /** A pattern from retrieval flags, layer-major. */
  private static HeadPattern pattern(boolean... retrieval) {
    double[][] g = new double[2][2];
    int streaming = 0;
    for (int i = 0; i < 4; i++) {
      g[i / 2][i % 2] = retrieval[i] ? 1 : 0;
      streaming += retrieval[i] ? 0 : 1;
    }
    return HeadPattern.fromGates(g, streaming / 4.0);
  }
}
