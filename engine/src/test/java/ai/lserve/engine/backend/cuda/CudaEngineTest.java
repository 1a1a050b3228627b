package ai.lserve.engine.backend.cuda;

import static ai.lserve.engine.backend.cuda.GpuTests.relativeL2;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.TinyCheckpoints;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The whole engine on the GPU against the CPU reference: dense on the parity fixtures, lserve past the budget. */
@Tag("gpu")
class CudaEngineTest {
  static final Path FIXTURES = Path.of("src/test/fixtures");
  @TempDir static Path dir;

  @BeforeAll
  static void gpu() {
    GpuTests.assumeGpu();
  }

  static EngineOptions options(String device, SparseConfig sparse) {
    return EngineOptions.defaults().withDevice(device).withThreads(4).withSparse(sparse).withMemoryFraction(0.3);
  }

  static Stream<String> fixtures() {
    return Stream.of("tiny-mha-f32", "tiny-gqa-bf16-llama3", "tiny-headdim-linear-f32-sharded", "tiny-mqa-f16-hd128");
  }

  /** The fixture directory, found from the module (Maven) or the repository root (the GPU bundle). */
  static Path fixture(String name) {
    Path p = FIXTURES.resolve(name);
    return Files.isDirectory(p) ? p : Path.of("engine").resolve(p);
  }

  static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
    return out;
  }

  static int argmax(float[] x) {
    int b = 0;
    for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
    return b;
  }

  /** Top-1 minus top-2 logit. */
  static double margin(float[] x) {
    int b = argmax(x);
    double second = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < x.length; i++) if (i != b) second = Math.max(second, x[i]);
    return x[b] - second;
  }

  static float[][] promptLogits(Path model, EngineOptions o, int[] ids) {
    try (Engine e = Engine.open(model, o)) {
      return e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(ids.length)).promptLogits();
    }
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void denseLogitsAndGreedyTokensMatchTheCpu(String name) throws IOException {
    Path model = fixture(name);
    JsonNode ref = new ObjectMapper().readTree(model.resolve("reference.json").toFile());
    int[] ids = ints(ref.get("input_ids"));
    float[][] cpu = promptLogits(model, options("cpu", SparseConfig.dense()).withMaxBatchTokens(50), ids);
    float[][] gpu = promptLogits(model, options("cuda:0", SparseConfig.dense()).withMaxBatchTokens(50), ids);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < ids.length; i++) {
      worst = Math.max(worst, relativeL2(gpu[i], cpu[i]));
      if (margin(cpu[i]) > 0.05 * Math.abs(cpu[i][argmax(cpu[i])])) {
        checked++;
        assertEquals(argmax(cpu[i]), argmax(gpu[i]), name + ": greedy token at position " + i);
      }
    }
    System.out.printf("%s: GPU vs CPU worst relative L2 of logits %.2e over %d positions; %d greedy tokens agree%n",
        name, worst, ids.length, checked);
    assertTrue(worst <= 2e-2, name + ": relative L2 " + worst);

    JsonNode g = ref.get("greedy");
    GenerationResult want, got;
    GenerationRequest req = GenerationRequest.ids(ints(g.get("input_ids")), SamplingParams.greedy(24)).withOutputLogits(true);
    try (Engine e = Engine.open(model, options("cpu", SparseConfig.dense()))) {
      want = e.generate(req);
    }
    try (Engine e = Engine.open(model, options("cuda:0", SparseConfig.dense()))) {
      assertTrue(e.device().startsWith("cuda:0"), e.device());
      got = e.generate(req);
    }
    int same = 0;
    while (same < Math.min(want.completionTokens(), got.completionTokens()) && want.outputIds()[same] == got.outputIds()[same]) same++;
    System.out.printf("%s: greedy decode agrees for %d of %d tokens%n", name, same, want.completionTokens());
    if (same < want.completionTokens()) // a divergence is acceptable only where the CPU itself hesitates
      assertTrue(margin(want.outputLogits()[same]) < 0.1 * Math.abs(want.outputLogits()[same][want.outputIds()[same]]),
          name + ": GPU greedy tokens diverge at step " + same + " where the CPU's choice is clear");
  }

  /** A tiny model with a head pattern and 4096 positions (as the CPU sparse tests use). */
  static Path sparseModel() throws IOException {
    Path m = dir.resolve("sparse");
    if (Files.isDirectory(m)) return m;
    TinyCheckpoints.write(m, TinyCheckpoints.Spec.tiny().withHeads(4, 2, 16).withSeed(7));
    Path config = m.resolve("config.json");
    Files.writeString(config, Files.readString(config).replace("\"max_position_embeddings\": 256", "\"max_position_embeddings\": 4096"));
    Files.writeString(m.resolve("full_attention_heads.tsv"), "0.9\t0.1\n0.2\t0.8\n");
    return m;
  }

  static int[] randomIds(int n, long seed) {
    Random r = new Random(seed);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = 3 + r.nextInt(61);
    return ids;
  }

  @Test
  void lserveBeyondTheBudgetMatchesTheCpu() throws IOException {
    Path model = sparseModel();
    int[] prompt = randomIds(1000, 21);
    for (int bits : new int[] {16, 8, 4}) {
      SparseConfig sparse = SparseConfig.defaults().withMode(SparseConfig.Mode.LSERVE).withBudget(256).withSink(64)
          .withLocal(128).withPrefillLocal(256).withKvBits(bits);
      GenerationRequest req = GenerationRequest.ids(prompt, SamplingParams.greedy(16).withIgnoreEos(true)).withOutputLogits(true);
      GenerationResult c, g;
      try (Engine e = Engine.open(model, options("cpu", sparse).withMaxBatchTokens(300))) {
        c = e.generate(req);
      }
      try (Engine e = Engine.open(model, options("cuda:0", sparse).withMaxBatchTokens(300))) {
        assertEquals(SparseConfig.Mode.LSERVE, e.mode());
        g = e.generate(req);
      }
      double worst = 0;
      int t = 0;
      for (; t < 16 && (t == 0 || c.outputIds()[t - 1] == g.outputIds()[t - 1]); t++)
        worst = Math.max(worst, relativeL2(g.outputLogits()[t], c.outputLogits()[t]));
      System.out.printf("lserve kv%d at 1000 tokens, budget 256: GPU vs CPU worst decode-logit relative L2 %.2e over %d steps%n",
          bits, worst, t);
      assertTrue(worst < 5e-2, bits + "-bit: " + worst);
    }
  }

  /**
   * Decode steps replayed as CUDA graphs give bit-identical logits and the same tokens as the same
   * steps launched kernel by kernel, and so do both with the GEMVs launched as programmatic
   * dependents (on Hopper; elsewhere the same launches): lserve past the budget (selecting and
   * reusing steps, int8 pages), one sequence and then three of different lengths decoded together.
   */
  @Test
  void graphDecodeMatchesEagerDecode() throws Exception {
    Path model = sparseModel();
    SparseConfig sparse = SparseConfig.defaults().withMode(SparseConfig.Mode.LSERVE).withBudget(192).withSink(64)
        .withLocal(64).withPrefillLocal(256).withKvBits(8).withReuseInterval(3);
    int[][] prompts = {randomIds(700, 31), randomIds(260, 32), randomIds(480, 33)};
    List<List<GenerationResult>> runs = new ArrayList<>();
    long[] replays = new long[4];
    boolean[][] runsOf = {{false, false}, {true, false}, {false, true}, {true, true}}; // graphs, dependent launches
    for (boolean[] run : runsOf) {
      boolean graphs = run[0];
      CudaBackend b = (CudaBackend) CudaBackend.open(0, 0.3, graphs, run[1]);
      List<GenerationResult> results = new ArrayList<>();
      try (Engine e = Engine.open(model, options("cuda:0", sparse).withMaxBatchTokens(256).withCudaGraphs(graphs), b)) {
        results.add(e.generate(GenerationRequest.ids(prompts[0], SamplingParams.greedy(30).withIgnoreEos(true))
            .withOutputLogits(true)));
        List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
        for (int[] p : prompts)
          fs.add(e.submit(GenerationRequest.ids(p, SamplingParams.greedy(24).withIgnoreEos(true)).withOutputLogits(true)));
        for (CompletableFuture<GenerationResult> f : fs) results.add(f.get());
        // Sampled on the device (logits stay there): the draws travel in the graph's copies.
        results.add(e.generate(GenerationRequest.ids(prompts[1], SamplingParams.greedy(24).withIgnoreEos(true)
            .withTemperature(0.8).withTopK(20).withTopP(0.9).withSeed(5L))));
      }
      replays[runs.size()] = b.graph().replays();
      runs.add(results);
    }
    for (int r = 1; r < runs.size(); r++)
      for (int i = 0; i < runs.get(0).size(); i++) {
        String what = (runsOf[r][0] ? "graph" : "eager") + (runsOf[r][1] ? " dependent-launch" : "") + " decode";
        GenerationResult eager = runs.get(0).get(i), other = runs.get(r).get(i);
        assertEquals(Arrays.toString(eager.outputIds()), Arrays.toString(other.outputIds()), what + ", request " + i);
        for (int t = 0; eager.outputLogits() != null && t < eager.outputLogits().length; t++)
          assertTrue(Arrays.equals(eager.outputLogits()[t], other.outputLogits()[t]),
              "request " + i + ": logits of step " + t + " differ between " + what + " and eager decode");
      }
    System.out.printf("graph and dependent-launch vs eager decode: identical tokens and logits; %d / %d graph replays%n",
        replays[1], replays[3]);
    assertEquals(0, replays[0]);
    assertEquals(0, replays[2]);
    assertTrue(replays[1] >= 30 && replays[3] >= 30,
        "decode steps were replayed as graphs only " + replays[1] + " / " + replays[3] + " times");
  }

  @Test
  void lserveBatchOfDifferentLengthsRuns() throws Exception {
    Path model = sparseModel();
    SparseConfig sparse = SparseConfig.defaults().withMode(SparseConfig.Mode.LSERVE).withSink(64).withLocal(64)
        .withPrefillLocal(128).withBudget(128).withKvBits(8);
    int[][] prompts = {randomIds(150, 11), randomIds(230, 12), randomIds(90, 13), randomIds(300, 14)};
    List<int[]> alone = new ArrayList<>();
    try (Engine e = Engine.open(model, options("cuda:0", sparse))) {
      for (int[] p : prompts) alone.add(e.generate(GenerationRequest.ids(p, SamplingParams.greedy(40).withIgnoreEos(true))).outputIds());
    }
    try (Engine e = Engine.open(model, options("cuda:0", sparse).withMaxBatchTokens(100))) {
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int[] p : prompts) fs.add(e.submit(GenerationRequest.ids(p, SamplingParams.greedy(40).withIgnoreEos(true))));
      int agree = 0, total = 0;
      for (int i = 0; i < prompts.length; i++) {
        int[] got = fs.get(i).get().outputIds();
        assertEquals(40, got.length);
        int same = 0;
        while (same < 40 && got[same] == alone.get(i)[same]) same++;
        agree += same;
        total += 40;
      }
      System.out.printf("lserve GPU batch of 4 vs alone: greedy tokens agree for %d of %d before any divergence%n", agree, total);
      assertTrue(e.stats().maxSequencesInStep() >= 3);
    }
  }
}
