package ai.lserve.engine.runtime;

import ai.lserve.engine.kv.SequenceKv;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/** A request's state inside the scheduler; touched only by the engine thread once submitted. */
final class Sequence {
  final int[] prompt;
  final SamplingParams.Resolved sampling;
  final int maxNewTokens; // the request's limit, cut to the model's context
  final int promptLogits;
  final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
  final SplittableRandom rng;
  final long submitted = System.nanoTime();
  long admitted, firstToken;

  SequenceKv kv; // null until admitted and after release
  int prefilled;
  int[] output = new int[16];
  long[] outputNanos = new long[16]; // when each output token reached the host
  int outputLength;
  float[][] logits;
  final List<float[]> outputLogits; // null unless requested
  int textScanned; // characters of decoded output already searched for stop strings

  Sequence(int[] prompt, SamplingParams.Resolved sampling, int maxNewTokens, int promptLogits, boolean outputLogits) {
    this.outputLogits = outputLogits ? new ArrayList<>() : null;
    this.prompt = prompt;
    this.sampling = sampling;
    this.maxNewTokens = maxNewTokens;
    this.promptLogits = Math.min(promptLogits, prompt.length);
    this.rng = new SplittableRandom(sampling.seed());
    if (this.promptLogits > 0) logits = new float[this.promptLogits][];
  }

  boolean prefilling() {
    return prefilled < prompt.length;
  }

  /** Total tokens this sequence may ever hold in the cache. */
  int maxTokens() {
    return prompt.length + maxNewTokens;
  }

  void append(int token, long nanos) {
    if (outputLength == output.length) {
      output = Arrays.copyOf(output, output.length * 2);
      outputNanos = Arrays.copyOf(outputNanos, output.length);
    }
    outputNanos[outputLength] = nanos;
    output[outputLength++] = token;
  }

  int lastToken() {
    return outputLength > 0 ? output[outputLength - 1] : prompt[prompt.length - 1];
  }

  int[] outputIds() {
    return Arrays.copyOf(output, outputLength);
  }

  long[] outputTimes() {
    return Arrays.copyOf(outputNanos, outputLength);
  }
}
