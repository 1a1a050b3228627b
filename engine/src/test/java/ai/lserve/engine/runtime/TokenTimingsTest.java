package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.ModelSource;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class TokenTimingsTest {
  private static EngineOptions cpu() {
    return EngineOptions.defaults().withDevice("cpu").withThreads(2);
  }

  @Test
  void medianLeavesTheFirstStepOut() {
    assertEquals(2.0, Timings.medianAfterFirst(new double[] {100, 1, 3, 2}));
    assertEquals(2.5, Timings.medianAfterFirst(new double[] {100, 4, 1, 3, 2}));
    assertEquals(5.0, Timings.medianAfterFirst(new double[] {5}));
    assertTrue(Double.isNaN(Timings.medianAfterFirst(new double[0])));
    assertTrue(Double.isNaN(new Timings(1, 2, 3, 6).decodeStepMedianMs()));
  }

  @Test
  void eachTokenIsStampedAndStepsAddUpToDecode() {
    try (Engine e = Engine.open(ModelSource.open("synthetic:tiny"), cpu())) {
      GenerationResult r = e.generate(GenerationRequest.ids(new int[] {5, 6, 7, 8, 9, 10, 11, 12},
          SamplingParams.greedy(9).withIgnoreEos(true)));
      assertEquals(9, r.tokenTimesNanos().length);
      double[] steps = r.decodeStepsMs();
      assertEquals(8, steps.length);
      for (double s : steps) assertTrue(s > 0, "step " + s + " ms in " + Arrays.toString(steps));
      assertEquals(Timings.medianAfterFirst(steps), r.timings().decodeStepMedianMs());
      double[] rest = Arrays.copyOfRange(steps, 1, steps.length);
      double median = r.timings().decodeStepMedianMs();
      assertTrue(median >= Arrays.stream(rest).min().getAsDouble() && median <= Arrays.stream(rest).max().getAsDouble());
      double sum = Arrays.stream(steps).sum();
      assertTrue(sum <= r.timings().decodeMs() + 1e-6, sum + " ms of steps > " + r.timings().decodeMs() + " ms of decode");
    }
  }

  @Test
  void requestsDecodingTogetherShareTheStepStamp() {
    try (Engine e = Engine.open(ModelSource.open("synthetic:tiny"), cpu())) {
      SamplingParams p = SamplingParams.greedy(6).withIgnoreEos(true);
      CompletableFuture<GenerationResult> a = e.submit(GenerationRequest.ids(new int[] {1, 2, 3, 4}, p));
      CompletableFuture<GenerationResult> b = e.submit(GenerationRequest.ids(new int[] {9, 8, 7, 6}, p));
      long[] ta = a.join().tokenTimesNanos(), tb = b.join().tokenTimesNanos();
      // Both fit one step's token budget, so they are prefilled and decoded in the same steps.
      long shared = Arrays.stream(ta).filter(t -> Arrays.stream(tb).anyMatch(u -> u == t)).count();
      assertTrue(shared >= 5, "shared stamps " + shared + ": " + Arrays.toString(ta) + " vs " + Arrays.toString(tb));
    }
  }
}
