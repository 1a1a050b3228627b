package ai.lserve.engine.runtime;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from a row of logits: greedy, or temperature with top-k and top-p cuts. */
public final class Sampler {
  private Sampler() {}

  public static int sample(float[] logits, int off, int vocab, SamplingParams.Resolved p, SplittableRandom rng) {
    return sample(logits, off, vocab, p, p.greedy() ? 0 : rng.nextDouble());
  }

  /** The same with the uniform draw in [0, 1) given: what {@link #uniform} drew for this step. */
  public static int sample(float[] logits, int off, int vocab, SamplingParams.Resolved p, double u) {
    if (p.greedy()) return argmax(logits, off, vocab);
    long[] order = new long[vocab]; // descending logit, ties to the lower id
    for (int i = 0; i < vocab; i++) order[i] = ((long) sortableDescending(logits[off + i]) << 32) | i;
    Arrays.sort(order);
    int n = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
    double max = logits[off + (int) order[0]];
    double[] prob = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      prob[i] = Math.exp((logits[off + (int) order[i]] - max) / p.temperature());
      sum += prob[i];
    }
    if (p.topP() < 1) { // smallest prefix whose mass reaches top_p
      double cum = 0;
      int keep = 0;
      while (keep < n) {
        cum += prob[keep++] / sum;
        if (cum >= p.topP()) break;
      }
      n = keep;
      sum = 0;
      for (int i = 0; i < n; i++) sum += prob[i];
    }
    u *= sum;
    for (int i = 0; i < n; i++) {
      u -= prob[i];
      if (u < 0) return (int) order[i];
    }
    return (int) order[n - 1];
  }

  /** The step's uniform draw for a row with these parameters: one per sampled token, none when greedy. */
  public static double uniform(SamplingParams.Resolved p, SplittableRandom rng) {
    return p.greedy() ? 0 : rng.nextDouble();
  }

  public static int argmax(float[] logits, int off, int vocab) {
    int best = 0;
    for (int i = 1; i < vocab; i++) if (logits[off + i] > logits[off + best]) best = i;
    return best;
  }

  /** An int whose signed order is the descending order of the float (NaN last). */
  private static int sortableDescending(float f) {
    if (Float.isNaN(f)) return Integer.MAX_VALUE;
    int bits = Float.floatToIntBits(f);
    int ascending = bits ^ ((bits >> 31) & 0x7fffffff);
    return -ascending - 1;
  }
}
