package ai.lserve.engine.runtime;

/**
 * What a request produced.
 *
 * @param outputIds generated token ids (the prompt excluded)
 * @param text their text, stop string cut off; null when the model has no tokenizer
 * @param stopReason the end-of-sequence id or stop string that ended it, else null
 * @param promptLogits the requested prompt logits, [position][vocab], else null
 * @param outputLogits the logits each output token was sampled from, [token][vocab], if requested
 * @param tokenTimesNanos {@link System#nanoTime()} at which each output token reached the host: once
 *     per engine step, after the step's device work finished, so tokens of one step share a stamp
 */
public record GenerationResult(
    int[] outputIds,
    String text,
    FinishReason finishReason,
    String stopReason,
    int promptTokens,
    int completionTokens,
    Timings timings,
    float[][] promptLogits,
    float[][] outputLogits,
    long[] tokenTimesNanos) {
  /** Milliseconds of each decode step: the time from one output token to the next (tokens − 1 values). */
  public double[] decodeStepsMs() {
    return Timings.stepsMs(tokenTimesNanos);
  }
}
