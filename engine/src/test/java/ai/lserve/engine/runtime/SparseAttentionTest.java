package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.model.TinyCheckpoints;
import ai.lserve.engine.sparse.PageSelector;
import ai.lserve.engine.sparse.SparseConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** LServe's sparse attention on the CPU against its definition (a brute-force double-precision model). */
class SparseAttentionTest {
  static final TinyCheckpoints.Spec SPEC = TinyCheckpoints.Spec.tiny().withHeads(4, 2, 16).withSeed(7);
  static final Path model = writeModel();

  /** A tiny random model with 4096 positions and a head pattern, shared by the sparse tests. */
  static Path writeModel() {
    try {
      Path dir = Files.createTempDirectory("lserve-sparse");
      dir.toFile().deleteOnExit();
      TinyCheckpoints.write(dir, SPEC);
      Path config = dir.resolve("config.json");
      Files.writeString(config, Files.readString(config).replace("\"max_position_embeddings\": 256", "\"max_position_embeddings\": 4096"));
      // Streaming: layer 0 KV head 1 and layer 1 KV head 0 (the two lowest gates at fraction 0.5).
      Files.writeString(dir.resolve("full_attention_heads.tsv"), "0.9\t0.1\n0.2\t0.8\n");
      for (java.io.File f : dir.toFile().listFiles()) f.deleteOnExit();
      return dir;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static int[] randomIds(int n, long seed) {
    Random r = new Random(seed);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = 3 + r.nextInt(SPEC.vocab() - 3);
    return ids;
  }

  static EngineOptions options(SparseConfig sparse) {
    return EngineOptions.defaults().withDevice("cpu").withThreads(2).withSparse(sparse);
  }

  static SparseConfig lserve() {
    return SparseConfig.defaults().withMode(SparseConfig.Mode.LSERVE);
  }

  static boolean streaming(int layer, int kvHead) {
    return (layer == 0 && kvHead == 1) || (layer == 1 && kvHead == 0);
  }

  static double relativeL2(float[] got, double[] want) {
    double num = 0, den = 0;
    for (int i = 0; i < got.length; i++) {
      num += (got[i] - want[i]) * (got[i] - want[i]);
      den += want[i] * want[i];
    }
    return Math.sqrt(num / den);
  }

  static int argmax(double[] x) {
    int best = 0;
    for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
    return best;
  }

  @Test
  void withinTheBudgetAndNoStreamingHeadsLserveIsDense() {
    int[] prompt = randomIds(300, 1);
    for (int bits : new int[] {16, 32}) {
      SparseConfig sparse = lserve().withStreamingFraction(0).withBudget(1024).withKvBits(bits);
      GenerationRequest req = GenerationRequest.ids(prompt, SamplingParams.greedy(20).withIgnoreEos(true))
          .withPromptLogits(300).withOutputLogits(true);
      GenerationResult a, b;
      try (Engine e = Engine.open(model, options(sparse))) {
        assertEquals(SparseConfig.Mode.LSERVE, e.mode());
        a = e.generate(req);
      }
      try (Engine e = Engine.open(model, options(SparseConfig.dense().withKvBits(bits == 32 ? null : bits)))) {
        b = e.generate(req);
      }
      assertArrayEquals(b.outputIds(), a.outputIds());
      for (int i = 0; i < 300; i++) assertArrayEquals(b.promptLogits()[i], a.promptLogits()[i], "position " + i);
      for (int i = 0; i < 20; i++) assertArrayEquals(b.outputLogits()[i], a.outputLogits()[i], "step " + i);
    }
  }

  @Test
  void streamingHeadsFollowTheLambdaMask() {
    int sink = 64, local = 64, prefillLocal = 100;
    SparseConfig sparse = lserve().withSink(sink).withLocal(local).withPrefillLocal(prefillLocal).withBudget(4096).withKvBits(32);
    int[] prompt = randomIds(300, 2);
    GenerationResult r;
    // Small steps make the streaming ring wrap many times during prefill.
    try (Engine e = Engine.open(model, options(sparse).withMaxBatchTokens(37))) {
      r = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(30).withIgnoreEos(true))
          .withPromptLogits(300).withOutputLogits(true));
    }
    RefLlama ref = new RefLlama(model);
    RefLlama.Visibility lambda = (layer, head, q, k, decode) -> !streaming(layer, head / 2)
        || k < sink || (decode ? q - k <= local : q - k < prefillLocal);
    double worst = 0;
    for (int i = 0; i < prompt.length; i++)
      worst = Math.max(worst, relativeL2(r.promptLogits()[i], ref.step(prompt[i], lambda, false)));
    assertTrue(worst < 1e-4, "prefill relative L2 " + worst);
    // Decode: feed the engine's tokens to the reference and compare each step's logits.
    RefLlama dec = new RefLlama(model);
    for (int i = 0; i < prompt.length; i++) dec.step(prompt[i], lambda, false);
    double worstDecode = 0;
    for (int t = 1; t < 30; t++)
      worstDecode = Math.max(worstDecode, relativeL2(r.outputLogits()[t], dec.step(r.outputIds()[t - 1], lambda, true)));
    assertTrue(worstDecode < 1e-4, "decode relative L2 " + worstDecode);
  }

  /** The selection rule written out directly: Quest scores per logical page, max per physical page. */
  static final class RefSelection {
    final int budget, reuse;
    final boolean perQuery;
    final int[] selectedAt = {-1, -1}, newestAt = new int[2];
    final List<List<Set<Integer>>> ranked = new ArrayList<>(Arrays.asList(null, null));

    RefSelection(int budget, int reuse, boolean perQuery) {
      this.budget = budget;
      this.reuse = reuse;
      this.perQuery = perQuery;
    }

    /** Called before a decode token's layer runs, with that layer's keys so far and the token's queries. */
    void update(int layer, int tokens, List<double[]> keys, double[] q) {
      if (tokens <= budget || (selectedAt[layer] >= 0 && tokens - selectedAt[layer] < reuse)) return;
      int candidates = KvLayout.pagesFor(tokens) - 1, keep = PageSelector.pagesToKeep(tokens, budget), d = 16;
      List<Set<Integer>> rows = new ArrayList<>();
      for (int kv = 0; kv < 2; kv++) {
        double[][] phys = new double[2][candidates];
        for (int g = 0; g < 2; g++)
          for (int p = 0; p < candidates; p++) {
            double best = Double.NEGATIVE_INFINITY;
            for (int lp = 0; lp < 4; lp++) {
              double s = 0;
              for (int c = 0; c < d; c++) {
                double mx = Double.NEGATIVE_INFINITY, mn = Double.POSITIVE_INFINITY;
                for (int t = (p * 4 + lp) * 16; t < (p * 4 + lp + 1) * 16; t++) {
                  double v = Fp16.round((float) keys.get(t)[kv * d + c]);
                  mx = Math.max(mx, v);
                  mn = Math.min(mn, v);
                }
                double qc = (float) q[(kv * 2 + g) * d + c];
                s += Math.max(qc * mx, qc * mn);
              }
              best = Math.max(best, s);
            }
            phys[g][p] = best;
          }
        for (int g = 0; g < (perQuery ? 2 : 1); g++) {
          double[] score = new double[candidates];
          for (int p = 0; p < candidates; p++)
            score[p] = perQuery ? phys[g][p] : Math.max(phys[0][p], phys[1][p]);
          Integer[] order = new Integer[candidates];
          for (int p = 0; p < candidates; p++) order[p] = p;
          Arrays.sort(order, (a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : a - b);
          rows.add(new HashSet<>(Arrays.asList(order).subList(0, Math.min(keep - 1, candidates))));
        }
      }
      ranked.set(layer, rows);
      selectedAt[layer] = tokens;
      newestAt[layer] = candidates;
    }

    boolean sees(int layer, int head, int query, int key, boolean decode) {
      if (!decode || query + 1 <= budget) return true;
      int page = key / 64;
      return page >= newestAt[layer] || ranked.get(layer).get(perQuery ? head : head / 2).contains(page);
    }
  }

  @ParameterizedTest
  @EnumSource(SparseConfig.Selection.class)
  void pageSelectionMatchesItsDefinition(SparseConfig.Selection selection) {
    int budget = 192, reuse = 3, steps = 80; // decode crosses the page boundary at 256
    SparseConfig sparse = lserve().withStreamingFraction(0).withBudget(budget).withReuseInterval(reuse)
        .withSelection(selection).withKvBits(32);
    int[] prompt = randomIds(200, 3);
    GenerationResult r;
    try (Engine e = Engine.open(model, options(sparse))) {
      r = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(steps).withIgnoreEos(true)).withOutputLogits(true));
    }
    RefSelection sel = new RefSelection(budget, reuse, selection == SparseConfig.Selection.QUERY_HEAD);
    RefLlama ref = new RefLlama(model);
    for (int i = 0; i < prompt.length; i++) ref.step(prompt[i], (l, h, q, k, d) -> true, false);
    ref.hook = (layer, tokens, q, keys, decode) -> {
      if (decode) sel.update(layer, tokens, keys, q);
    };
    double worst = 0;
    for (int t = 1; t < steps; t++)
      worst = Math.max(worst, relativeL2(r.outputLogits()[t], ref.step(r.outputIds()[t - 1], sel::sees, true)));
    // The engine's first step came from the prompt's last position, which the reference saw as prefill.
    assertTrue(worst < 1e-4, "decode relative L2 vs the selection definition " + worst);
  }
}
