package ai.lserve.engine.runtime;

import java.util.Arrays;

/**
 * Where a request's time went, in milliseconds: waiting for admission, prefilling the prompt
 * (ending with the first generated token), decoding the rest, and in all; and the median decode
 * step (see {@link #medianAfterFirst}), NaN when the request made fewer than two tokens.
 */
public record Timings(double queueMs, double prefillMs, double decodeMs, double totalMs, double decodeStepMedianMs) {
  /** Without per-step times (the median is NaN). */
  public Timings(double queueMs, double prefillMs, double decodeMs, double totalMs) {
    this(queueMs, prefillMs, decodeMs, totalMs, Double.NaN);
  }

  /** Time to first token, from submission. */
  public double firstTokenMs() {
    return queueMs + prefillMs;
  }

  /** Milliseconds between consecutive token stamps ({@link System#nanoTime()}). */
  public static double[] stepsMs(long[] tokenTimesNanos) {
    double[] steps = new double[Math.max(0, tokenTimesNanos.length - 1)];
    for (int i = 0; i < steps.length; i++) steps[i] = (tokenTimesNanos[i + 1] - tokenTimesNanos[i]) / 1e6;
    return steps;
  }

  /**
   * The median of decode step times with the first step left out (it may carry one-time work such
   * as a first launch at a new batch size); the only step when there is one; NaN when there is none.
   */
  public static double medianAfterFirst(double[] stepsMs) {
    if (stepsMs.length == 0) return Double.NaN;
    double[] s = stepsMs.length == 1 ? stepsMs.clone() : Arrays.copyOfRange(stepsMs, 1, stepsMs.length);
    Arrays.sort(s);
    int n = s.length;
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
}
