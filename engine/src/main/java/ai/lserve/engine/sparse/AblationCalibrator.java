package ai.lserve.engine.sparse;

import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Head calibration by ablation: which KV heads can become streaming heads without hurting the
 * answers. Each calibration case is a prompt followed by its answer, run teacher-forced as one
 * sequence; the score is the answer tokens' log-likelihood under the prompt logits. Heads are made
 * streaming greedily, one per step: every remaining head is tried on top of those already chosen,
 * and the one whose addition costs the least log-likelihood is kept, so that heads harmless alone
 * but harmful together are seen.
 *
 * <p>The streaming mask must be the one the answer tokens see in decode (sink + local), not the
 * wider prefill window, so the engine runs with prefill-local = local + 1: a prefill query sees
 * {@code query - key < prefillLocal}, a decode query {@code query - key <= local}. The reference
 * (no streaming head) uses the engine's sparse settings otherwise, its KV precision included, so
 * that the losses measure the mask alone.
 */
public final class AblationCalibrator {
  private AblationCalibrator() {}

  /** A teacher-forced case: {@code ids} = prompt then answer; the answer starts at {@code answerStart}. */
  public record Case(int[] ids, int answerStart) {
    public Case {
      if (answerStart < 1 || answerStart >= ids.length)
        throw new IllegalArgumentException("a case needs a non-empty prompt and answer, got answer start "
            + answerStart + " of " + ids.length + " tokens");
    }
  }

  /** Answer log-likelihood of one pattern: mean negative log-probability per answer token, and top-1 accuracy. */
  public record Score(double nll, double tokenAccuracy) {}

  /** One greedy step: the head made streaming, the score with it, and every candidate's score. */
  public record Step(int layer, int kvHead, Score score, List<Candidate> candidates) {}

  public record Candidate(int layer, int kvHead, Score score) {}

  /** Gates ranked by the greedy order (streaming first), the reference score and the steps. */
  public record Result(double[][] gates, Score reference, List<Step> steps) {}

  /**
   * Chooses {@code streamingHeads} streaming heads greedily on {@code cases}. {@code options}
   * gives the device, threads and sparse settings (sink, local, KV bits); mode, pattern, streaming
   * fraction and prefill-local are set here.
   */
  public static Result run(Path modelDir, List<Case> cases, EngineOptions options, int streamingHeads,
      Consumer<String> log) {
    if (cases.isEmpty()) throw new IllegalArgumentException("no calibration cases");
    LlamaConfig c = LlamaConfig.load(modelDir.resolve("config.json"));
    int longest = cases.stream().mapToInt(x -> x.ids.length).max().getAsInt();
    int window = options.sparse().sink() + options.sparse().local() + 1;
    if (longest <= window)
      throw new IllegalArgumentException(String.format(Locale.ROOT, "calibration cases are too short: the longest has %d"
          + " tokens, and the streaming mask (sink + local + 1 = %d) hides nothing from them", longest, window));
    // Only these cases run at once: a KV pool sized for them (not for 256 sequences) opens faster.
    EngineOptions sized = options.withMaxRunning(cases.size());
    Path dir;
    try {
      dir = Files.createTempDirectory("lserve-calibrate");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary directory", e);
    }
    try {
      return greedy(c.numLayers(), c.numKvHeads(), streamingHeads,
          streaming -> score(modelDir, cases, sized, dir.resolve("pattern.tsv"), c.numKvHeads(), streaming), log);
    } finally {
      try {
        Files.deleteIfExists(dir.resolve("pattern.tsv"));
        Files.deleteIfExists(dir);
      } catch (IOException e) {
        log.accept("could not delete " + dir + ": " + e);
      }
    }
  }

  /**
   * The greedy search over heads, layer-major flags in and out of {@code scorer} (true =
   * streaming): each step keeps the candidate with the lowest answer NLL.
   */
  static Result greedy(int layers, int kvHeads, int streamingHeads, Function<boolean[], Score> scorer,
      Consumer<String> log) {
    int total = layers * kvHeads;
    if (streamingHeads < 0 || streamingHeads > total)
      throw new IllegalArgumentException("streaming heads must be in [0, " + total + "], got " + streamingHeads);
    Score reference = scorer.apply(new boolean[total]);
    log.accept(String.format(Locale.ROOT, "reference (no streaming head): %s", format(reference)));
    boolean[] streaming = new boolean[total];
    List<Step> steps = new ArrayList<>();
    List<Candidate> last = List.of();
    for (int k = 0; k < streamingHeads; k++) {
      List<Candidate> tried = new ArrayList<>();
      for (int i = 0; i < total; i++) {
        if (streaming[i]) continue;
        streaming[i] = true;
        tried.add(new Candidate(i / kvHeads, i % kvHeads, scorer.apply(streaming.clone())));
        streaming[i] = false;
      }
      Candidate best = tried.get(0);
      for (Candidate t : tried) if (t.score.nll < best.score.nll) best = t;
      streaming[best.layer * kvHeads + best.kvHead] = true;
      steps.add(new Step(best.layer, best.kvHead, best.score, List.copyOf(tried)));
      last = tried;
      log.accept(String.format(Locale.ROOT, "step %d: streaming %d:%d -> %s, %+.4f nats/token vs reference (candidates: %s)",
          k + 1, best.layer, best.kvHead, format(best.score), best.score.nll - reference.nll, candidates(tried, reference)));
    }
    return new Result(gates(layers, kvHeads, steps, last), reference, steps);
  }

  /**
   * Rank gates: the r-th head chosen (from 0) gets (r + 0.5) / heads, so that the lowest gates are
   * the greedy choice at any fraction up to the one calibrated (the greedy order does not depend on
   * where it stops). The heads never chosen follow, ordered by their cost in the last step (by index
   * when there was no step).
   */
  static double[][] gates(int layers, int kvHeads, List<Step> steps, List<Candidate> last) {
    int total = layers * kvHeads;
    List<Integer> order = new ArrayList<>();
    for (Step s : steps) order.add(s.layer * kvHeads + s.kvHead);
    List<Candidate> rest = new ArrayList<>(last);
    rest.sort((a, b) -> Double.compare(a.score.nll, b.score.nll));
    for (Candidate r : rest) {
      int i = r.layer * kvHeads + r.kvHead;
      if (!order.contains(i)) order.add(i);
    }
    for (int i = 0; i < total; i++) if (!order.contains(i)) order.add(i);
    double[][] g = new double[layers][kvHeads];
    for (int r = 0; r < total; r++) g[order.get(r) / kvHeads][order.get(r) % kvHeads] = (r + 0.5) / total;
    return g;
  }

  /** The answer score of every case with the heads in {@code streaming} under the decode mask. */
  static Score score(Path modelDir, List<Case> cases, EngineOptions options, Path pattern, int kvHeads,
      boolean[] streaming) {
    int n = 0;
    double[][] g = new double[streaming.length / kvHeads][kvHeads];
    for (int i = 0; i < streaming.length; i++) {
      g[i / kvHeads][i % kvHeads] = streaming[i] ? 0 : 1;
      n += streaming[i] ? 1 : 0;
    }
    HeadPattern.writeGates(pattern, g); // read once, when the engine opens
    SparseConfig s = options.sparse().withMode(SparseConfig.Mode.LSERVE).withPattern(pattern)
        .withStreamingFraction((double) n / streaming.length).withPrefillLocal(options.sparse().local() + 1);
    double nll = 0;
    long tokens = 0, right = 0;
    try (Engine e = Engine.open(modelDir, options.withSparse(s))) {
      List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
      for (Case c : cases) {
        // The last answer token is only predicted, never read: the prompt logits of every position
        // before it are the predictions of the answer tokens.
        int m = c.ids.length - c.answerStart;
        futures.add(e.submit(GenerationRequest.ids(Arrays.copyOf(c.ids, c.ids.length - 1), SamplingParams.greedy(0))
            .withPromptLogits(m)));
      }
      for (int k = 0; k < cases.size(); k++) {
        Case c = cases.get(k);
        float[][] logits;
        try {
          logits = futures.get(k).join().promptLogits();
        } catch (CompletionException x) {
          throw new IllegalArgumentException("calibration case " + (k + 1) + ": " + x.getCause().getMessage(), x.getCause());
        }
        for (int j = 0; j < logits.length; j++) {
          int target = c.ids[c.answerStart + j];
          nll -= logProbability(logits[j], target);
          right += argmax(logits[j]) == target ? 1 : 0;
          tokens++;
        }
      }
    }
    return new Score(nll / tokens, (double) right / tokens);
  }

  static double logProbability(float[] logits, int target) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) max = Math.max(max, v);
    double sum = 0;
    for (float v : logits) sum += Math.exp(v - max);
    return logits[target] - max - Math.log(sum);
  }

  private static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
    return best;
  }

  private static String format(Score s) {
    return String.format(Locale.ROOT, "answer NLL %.4f nats/token, token accuracy %.1f%%", s.nll, 100 * s.tokenAccuracy);
  }

  private static String candidates(List<Candidate> tried, Score reference) {
    StringBuilder b = new StringBuilder();
    for (Candidate t : tried)
      b.append(b.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%d:%d %+.4f", t.layer, t.kvHead, t.score.nll - reference.nll));
    return b.toString();
  }
}
