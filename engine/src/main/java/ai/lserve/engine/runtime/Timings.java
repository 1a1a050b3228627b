package ai.lserve.engine.runtime;

/**
 * Where a request's time went, in milliseconds: waiting for admission, prefilling the prompt
 * (ending with the first generated token), decoding the rest, and in all.
 */
public record Timings(double queueMs, double prefillMs, double decodeMs, double totalMs) {
  /** Time to first token, from submission. */
  public double firstTokenMs() {
    return queueMs + prefillMs;
  }
}
