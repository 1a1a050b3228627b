package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ai.lserve.engine.runtime.SparseAttentionTest.lserve;
import static ai.lserve.engine.runtime.SparseAttentionTest.model;
import static ai.lserve.engine.runtime.SparseAttentionTest.options;
import static ai.lserve.engine.runtime.SparseAttentionTest.randomIds;

import ai.lserve.engine.sparse.SparseConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * LServe mode with quantized pages and a small budget: batch invariance for sequences of different
 * lengths, and how far its logits stray from dense beyond the budget (recorded in docs/SPARSE.md).
 */
class SparseBatchAndFidelityTest {
  @Test
  void batchedSequencesOfDifferentLengthsGetTheirOwnSelections() throws Exception {
    SparseConfig sparse = lserve().withSink(64).withLocal(64).withPrefillLocal(128).withBudget(128).withKvBits(8);
    int[][] prompts = {randomIds(150, 11), randomIds(230, 12), randomIds(90, 13), randomIds(300, 14)};
    List<int[]> alone = new ArrayList<>();
    try (Engine e = Engine.open(model, options(sparse))) {
      for (int[] p : prompts) alone.add(e.generate(GenerationRequest.ids(p, SamplingParams.greedy(40).withIgnoreEos(true))).outputIds());
    }
    try (Engine e = Engine.open(model, options(sparse).withMaxBatchTokens(100))) {
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int[] p : prompts) fs.add(e.submit(GenerationRequest.ids(p, SamplingParams.greedy(40).withIgnoreEos(true))));
      for (int i = 0; i < prompts.length; i++) assertArrayEquals(alone.get(i), fs.get(i).get().outputIds(), "prompt " + i);
      assertTrue(e.stats().maxSequencesInStep() >= 3);
    }
  }

  /**
   * Relative L2 distance of lserve's decode logits from dense float32 logits, on the same tokens:
   * the dense run's greedy tokens are fed back as the lserve run's prompt, so each compared
   * position is a decode step of lserve over the identical context.
   */
  static double decodeError(SparseConfig sparse, int[] prompt, int steps) {
    GenerationResult dense;
    try (Engine e = Engine.open(model, options(SparseConfig.dense()))) {
      dense = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(steps).withIgnoreEos(true)).withOutputLogits(true));
    }
    GenerationResult sparseRun;
    try (Engine e = Engine.open(model, options(sparse))) {
      sparseRun = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(steps).withIgnoreEos(true)).withOutputLogits(true));
    }
    double worst = 0;
    for (int t = 0; t < steps && (t == 0 || dense.outputIds()[t - 1] == sparseRun.outputIds()[t - 1]); t++) {
      double num = 0, den = 0;
      for (int i = 0; i < dense.outputLogits()[t].length; i++) {
        double a = sparseRun.outputLogits()[t][i], b = dense.outputLogits()[t][i];
        num += (a - b) * (a - b);
        den += b * b;
      }
      worst = Math.max(worst, Math.sqrt(num / den));
    }
    return worst;
  }

  @Test
  void fidelityBeyondTheBudget() {
    int[] prompt = randomIds(1000, 21);
    SparseConfig base = lserve().withBudget(256).withSink(64).withLocal(128).withPrefillLocal(256);
    double[] bound = {0.15, 0.15, 0.2}; // 16, 8, 4 bits; measured values are in docs/SPARSE.md
    int[] bits = {16, 8, 4};
    for (int i = 0; i < bits.length; i++) {
      double err = decodeError(base.withKvBits(bits[i]), prompt, 16);
      System.out.printf("lserve budget 256, 50%% streaming, kv%d vs dense f32 at 1000 tokens: worst decode-logit relative L2 %.4f%n", bits[i], err);
      assertTrue(err < bound[i], bits[i] + "-bit KV: " + err);
    }
    double allRetrieval = decodeError(base.withStreamingFraction(0).withKvBits(16), prompt, 16);
    System.out.printf("lserve budget 256, no streaming, kv16: %.4f%n", allRetrieval);
    double fullBudget = decodeError(base.withStreamingFraction(0).withBudget(2048).withKvBits(16), prompt, 16);
    System.out.printf("lserve budget 2048 (>= context), no streaming, kv16: %.4f%n", fullBudget);
    assertTrue(fullBudget < 0.01, "bf16 KV alone: " + fullBudget);
  }
}
