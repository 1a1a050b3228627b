package ai.lserve.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.model.DType;
import ai.lserve.engine.model.GenerationConfig;
import ai.lserve.engine.model.SafeTensorsWriter;
import ai.lserve.engine.runtime.Sampler;
import ai.lserve.engine.runtime.SamplingParams;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The sampling kernel against the CPU Sampler: for the same uniform draw u, the same token, or (where
 * float32 sums on the GPU and double sums on the CPU put u on other sides of a boundary) a token the
 * CPU picks for a draw within 1e-4 of u, so the two inverse CDFs agree to 1e-4.
 */
@Tag("gpu")
class CudaSamplingTest {
  @BeforeAll
  static void gpu() {
    GpuTests.assumeGpu();
  }

  record Case(double temperature, int topK, double topP) {}

  @Test
  void sameTokensAsTheCpuSamplerForTheSameDraws() {
    List<Case> cases = List.of(new Case(0, 0, 1), new Case(1, 0, 1), new Case(0.8, 50, 0.9), new Case(0.7, 0, 0.8),
        new Case(1.3, 7, 1), new Case(0.5, 1, 1), new Case(1, 3000, 0.5));
    try (CudaBackend b = GpuTests.open()) {
      for (int vocab : new int[] {5000, 128256}) {
        int rows = vocab > 10000 ? 128 : 1024;
        Random r = new Random(vocab);
        float[] row = new float[vocab];
        // Coarse values make many ties, which the order breaks by id.
        for (int i = 0; i < vocab; i++) row[i] = SafeTensorsWriter.round(DType.BF16, Math.round(r.nextGaussian() * 24) / 8f);
        float[] all = new float[rows * vocab];
        for (int k = 0; k < rows; k++) System.arraycopy(row, 0, all, k * vocab, vocab);
        Tensor logits = GpuTests.tensor(b, rows, vocab, all);
        int[] rank = rank(row);
        for (Case c : cases) {
          SamplingParams.Resolved p = SamplingParams.defaults().withTemperature(c.temperature()).withTopK(c.topK() > 0 ? c.topK() : null)
              .withTopP(c.topP() < 1 ? c.topP() : null).withMaxNewTokens(1).resolve(GenerationConfig.none());
          SamplingParams.Resolved[] params = new SamplingParams.Resolved[rows];
          Arrays.fill(params, p);
          double[] u = new double[rows];
          SplittableRandom rng = new SplittableRandom(c.hashCode());
          for (int k = 0; k < rows; k++) u[k] = (float) rng.nextDouble(); // the kernel takes u as a float
          int[] gpu = b.sample(logits, params, u);
          int same = 0;
          for (int k = 0; k < rows; k++) {
            if (gpu[k] == Sampler.sample(row, 0, vocab, p, u[k])) {
              same++;
              continue;
            }
            int low = rank[Sampler.sample(row, 0, vocab, p, Math.max(0, u[k] - 1e-4))];
            int high = rank[Sampler.sample(row, 0, vocab, p, Math.min(0.99999999, u[k] + 1e-4))];
            assertTrue(gpu[k] >= 0 && rank[gpu[k]] >= low && rank[gpu[k]] <= high,
                c + ": u " + u[k] + " gave " + gpu[k] + ", outside the CPU's tokens for u ± 1e-4");
          }
          System.out.printf("sampling vocab %d, %s: %d of %d tokens as the CPU Sampler, the others within u ± 1e-4%n",
              vocab, c, same, rows);
          assertTrue(same >= rows * 0.95, c + ": " + same + " of " + rows);
        }
      }
    }
  }

  /** Each id's place in the Sampler's order: descending logit, ties to the lower id. */
  private static int[] rank(float[] row) {
    Integer[] order = new Integer[row.length];
    for (int i = 0; i < row.length; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> row[a] != row[b] ? Float.compare(row[b], row[a]) : Integer.compare(a, b));
    int[] rank = new int[row.length];
    for (int i = 0; i < row.length; i++) rank[order[i]] = i;
    return rank;
  }
}
