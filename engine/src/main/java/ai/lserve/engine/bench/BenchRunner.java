package ai.lserve.engine.bench;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.KvPlan;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.runtime.Timings;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Runs the cells of one mode on one open engine. A cell submits {@code batch} requests at once:
 * random prompts of {@code context} tokens (request i seeded by seed + i, as {@code generate
 * --random-prompt --seed}), greedy, ignoring end-of-sequence.
 *
 * <p>The engine prefills prompts one after another in chunks while the earlier requests already
 * decode, so with a batch the first requests would finish before the last one starts decoding. Each
 * request therefore asks for more tokens the earlier it comes ({@link #newTokens}), so that all of
 * them decode together for at least {@code decodeTokens} steps; only those steps (every request
 * decodes, no prompt chunk) count for the decode figure.
 */
public final class BenchRunner {
  private final Engine engine;
  private final SparseConfig sparse;
  private final int decodeTokens;
  private final long seed;

  public BenchRunner(Engine engine, SparseConfig sparse, int decodeTokens, long seed) {
    this.engine = engine;
    this.sparse = sparse;
    this.decodeTokens = decodeTokens;
    this.seed = seed;
  }

  /** Tokens request {@code i} of a batch asks for: decodeTokens plus the prefill steps of the prompts after it. */
  public static int newTokens(int context, int batch, int i, int decodeTokens, int maxBatchTokens) {
    if (batch == 1) return decodeTokens;
    int chunk = Math.max(1, maxBatchTokens - batch); // decode rows take part of each step's token budget
    int stepsPerPrompt = (context + chunk - 1) / chunk;
    return decodeTokens + (batch - 1 - i) * stepsPerPrompt + batch;
  }

  /** The longest sequence (prompt plus new tokens) a cell makes: what max-model-len must hold. */
  public static int longest(int context, int batch, int decodeTokens, int maxBatchTokens) {
    return context + newTokens(context, batch, 0, decodeTokens, maxBatchTokens);
  }

  /** One short request, so that first-use costs stay out of the cells. */
  public void warmUp(int promptTokens) {
    engine.generate(GenerationRequest.ids(prompt(promptTokens, seed - 1),
        SamplingParams.greedy(Math.min(4, decodeTokens)).withIgnoreEos(true)));
  }

  public BenchResult run(String mode, int context, int batch) {
    KvPlan plan = engine.kvPlan();
    KvLayout layout = plan.layout();
    LlamaConfig config = engine.config();
    int[] newTokens = new int[batch];
    long pages = 0, ring = 0, kvBytes = 0, dense = 0;
    for (int i = 0; i < batch; i++) {
      newTokens[i] = newTokens(context, batch, i, decodeTokens, plan.maxBatchTokens());
      pages += KvLayout.pagesFor(context + newTokens[i]);
      ring += plan.streamingPagesAtAdmission(context);
      kvBytes += plan.bytesPerSequence(context + newTokens[i]);
      dense += KvPlan.denseBf16Bytes(config, context + newTokens[i]);
    }
    if (pages > engine.kvPages() || ring > engine.streamingPages())
      return BenchResult.failed(mode, context, batch, String.format(
          "out of KV memory: needs %,d bytes (%,d pages + %,d streaming pages), has %,d (%,d + %,d)",
          pages * layout.retrievalPageBytes() + ring * layout.streamingPageBytes(), pages, ring,
          engine.kvAllocatedBytes(), engine.kvPages(), engine.streamingPages()));
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < batch; i++) prompts.add(prompt(context, seed + i));
    List<GenerationResult> results = new ArrayList<>();
    long start = System.nanoTime();
    try {
      List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
      for (int i = 0; i < batch; i++)
        futures.add(engine.submit(GenerationRequest.ids(prompts.get(i),
            SamplingParams.greedy(newTokens[i]).withIgnoreEos(true))));
      for (CompletableFuture<GenerationResult> f : futures) results.add(f.join());
    } catch (CompletionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      return BenchResult.failed(mode, context, batch, cause.getMessage() != null ? cause.getMessage() : cause.toString());
    }
    long lastFirstToken = Long.MIN_VALUE;
    for (GenerationResult r : results) lastFirstToken = Math.max(lastFirstToken, r.tokenTimesNanos()[0]);
    double[] steps = fullBatchSteps(results);
    boolean lserve = engine.mode() == SparseConfig.Mode.LSERVE;
    return new BenchResult(mode, context, batch, (lastFirstToken - start) / 1e6, Timings.medianAfterFirst(steps),
        steps.length, kvBytes, dense, engine.peakDeviceBytes(),
        Floors.prefillFloorMs(Floors.prefillFlops(config, layout, sparse, lserve, context, batch)),
        Floors.decodeFloorMs(Floors.decodeBytes(config, layout, sparse, lserve, context, batch)), null);
  }

  /**
   * Durations of the engine steps in which every request produced a token that was not its first
   * (tokens of one step share a time stamp): the time from the previous step's tokens to this one's.
   */
  static double[] fullBatchSteps(List<GenerationResult> results) {
    Map<Long, Integer> decoding = new HashMap<>();
    for (GenerationResult r : results) {
      long[] t = r.tokenTimesNanos();
      for (int i = 1; i < t.length; i++) decoding.merge(t[i], 1, Integer::sum);
    }
    long[] t = results.get(0).tokenTimesNanos(); // the first request decodes in every one of those steps
    List<Double> steps = new ArrayList<>();
    for (int i = 1; i < t.length; i++)
      if (decoding.get(t[i]) == results.size()) steps.add((t[i] - t[i - 1]) / 1e6);
    return steps.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private int[] prompt(int tokens, long promptSeed) {
    return new Random(promptSeed).ints(tokens, 0, engine.config().vocabSize()).toArray();
  }
}
