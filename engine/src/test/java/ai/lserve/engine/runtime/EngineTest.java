package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.model.TinyCheckpoints;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineTest {
  @TempDir static Path dir;
  static Path model;
  static final TinyCheckpoints.Spec SPEC = TinyCheckpoints.Spec.tiny();

  @BeforeAll
  static void writeModel() {
    model = TinyCheckpoints.write(dir.resolve("tiny"), SPEC);
  }

  static EngineOptions cpu() {
    return EngineOptions.defaults().withDevice("cpu").withThreads(2).withSparse(SparseConfig.dense());
  }

  static int[] randomIds(int n, long seed) {
    Random r = new Random(seed);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = 3 + r.nextInt(SPEC.vocab() - 3);
    return ids;
  }

  static long pageBytes() {
    return KvLayout.dense(SPEC.layers(), SPEC.kvHeads(), SPEC.effectiveHeadDim(), KvFormat.F32).retrievalPageBytes();
  }

  @Test
  void chunkedPrefillGivesTheSameLogits() {
    int[] ids = randomIds(150, 1);
    float[][] whole, chunked;
    try (Engine e = Engine.open(model, cpu())) {
      whole = e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(150)).promptLogits();
    }
    try (Engine e = Engine.open(model, cpu().withMaxBatchTokens(7))) {
      chunked = e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(150)).promptLogits();
    }
    assertEquals(150, whole.length);
    for (int i = 0; i < whole.length; i++) assertArrayEquals(whole[i], chunked[i], "position " + i);
  }

  @Test
  void promptLogitsBeyondOnePassMatchChunkedPrefill() {
    // One step with more logit rows than a pass holds: lm_head runs in passes, the last one padded.
    int n = LlamaModel.LOGIT_ROWS + 77;
    int[] ids = randomIds(n, 6);
    float[][] whole, chunked;
    try (Engine e = Engine.open(model, cpu().withMaxBatchTokens(n).withMaxModelLen(n + 8))) {
      whole = e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(n)).promptLogits();
    }
    try (Engine e = Engine.open(model, cpu().withMaxBatchTokens(100).withMaxModelLen(n + 8))) {
      chunked = e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(n)).promptLogits();
    }
    assertEquals(n, whole.length);
    for (int i = 0; i < n; i++) assertArrayEquals(chunked[i], whole[i], "position " + i);
  }

  @Test
  void sampledTokensBeyondOnePassMatchSmallerSteps() throws Exception {
    // More sequences decoding at once than a pass of logit rows holds: sampling runs pass by pass.
    int requests = LlamaModel.LOGIT_ROWS + 30;
    List<int[]> big, small;
    try (Engine e = Engine.open(model, cpu().withMaxRunning(requests).withMaxBatchTokens(requests))) {
      big = oneTokenPromptsGreedy(e, requests);
      assertTrue(e.stats().maxSequencesInStep() > LlamaModel.LOGIT_ROWS, "one step sampled past a pass");
    }
    try (Engine e = Engine.open(model, cpu().withMaxRunning(64).withMaxBatchTokens(64))) {
      small = oneTokenPromptsGreedy(e, requests);
    }
    for (int i = 0; i < requests; i++) assertArrayEquals(small.get(i), big.get(i), "request " + i);
  }

  /** The greedy tokens of {@code requests} one-token prompts submitted together. */
  private static List<int[]> oneTokenPromptsGreedy(Engine e, int requests) throws Exception {
    List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
    for (int i = 0; i < requests; i++)
      fs.add(e.submit(GenerationRequest.ids(new int[] {3 + i % 60}, SamplingParams.greedy(3).withIgnoreEos(true))));
    List<int[]> out = new ArrayList<>();
    for (CompletableFuture<GenerationResult> f : fs) out.add(f.get().outputIds());
    return out;
  }

  @Test
  void greedyTokensDoNotDependOnTheBatch() throws Exception {
    List<int[]> prompts = List.of(randomIds(5, 2), randomIds(70, 3), randomIds(130, 4), randomIds(1, 5));
    List<int[]> alone = new ArrayList<>();
    try (Engine e = Engine.open(model, cpu())) {
      for (int[] p : prompts)
        alone.add(e.generate(GenerationRequest.ids(p, SamplingParams.greedy(20).withIgnoreEos(true))).outputIds());
    }
    try (Engine e = Engine.open(model, cpu().withMaxBatchTokens(64))) {
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int[] p : prompts)
        fs.add(e.submit(GenerationRequest.ids(p, SamplingParams.greedy(20).withIgnoreEos(true))));
      for (int i = 0; i < prompts.size(); i++) assertArrayEquals(alone.get(i), fs.get(i).get().outputIds());
      assertTrue(e.stats().maxSequencesInStep() > 1, "requests were batched together");
      assertEquals(4, e.stats().requestsFinished());
      assertEquals(80, e.stats().generatedTokens());
    }
  }

  @Test
  void lengthLimitAndCounts() {
    try (Engine e = Engine.open(model, cpu())) {
      GenerationResult r = e.generate(GenerationRequest.ids(randomIds(10, 6), SamplingParams.greedy(7).withIgnoreEos(true)));
      assertEquals(7, r.outputIds().length);
      assertEquals(FinishReason.LENGTH, r.finishReason());
      assertEquals(10, r.promptTokens());
      assertEquals(7, r.completionTokens());
      assertTrue(r.timings().totalMs() >= r.timings().prefillMs());
    }
  }

  @Test
  void contextEndStopsGeneration() {
    try (Engine e = Engine.open(model, cpu().withMaxModelLen(40))) {
      GenerationResult r = e.generate(GenerationRequest.ids(randomIds(35, 7), SamplingParams.greedy(100).withIgnoreEos(true)));
      assertEquals(5, r.completionTokens());
      assertEquals(FinishReason.LENGTH, r.finishReason());
    }
  }

  @Test
  void stopsAtEndOfSequenceToken() throws Exception {
    int[] prompt = randomIds(12, 8);
    int[] free;
    try (Engine e = Engine.open(model, cpu())) {
      free = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(10).withIgnoreEos(true))).outputIds();
    }
    int eos = free[3];
    Path withEos = dir.resolve("eos");
    TinyCheckpoints.write(withEos, SPEC);
    Files.writeString(withEos.resolve("config.json"),
        Files.readString(withEos.resolve("config.json")).replace("\"eos_token_id\": 2", "\"eos_token_id\": [" + eos + "]"));
    try (Engine e = Engine.open(withEos, cpu())) {
      GenerationResult r = e.generate(GenerationRequest.ids(prompt, SamplingParams.greedy(10)));
      int first = 0;
      while (free[first] != eos) first++;
      assertArrayEquals(java.util.Arrays.copyOf(free, first + 1), r.outputIds());
      assertEquals(FinishReason.STOP, r.finishReason());
      assertEquals(String.valueOf(eos), r.stopReason());
    }
  }

  @Test
  void badPromptsFailAloneWithClearMessages() throws Exception {
    try (Engine e = Engine.open(model, cpu().withMaxModelLen(64))) {
      CompletableFuture<GenerationResult> ok = e.submit(GenerationRequest.ids(randomIds(8, 9), SamplingParams.greedy(3)));
      assertMessage(e.submit(GenerationRequest.ids(new int[0], SamplingParams.greedy(3))), "prompt is empty");
      assertMessage(e.submit(GenerationRequest.ids(new int[] {1, 64}, SamplingParams.greedy(3))),
          "prompt token id 64 at index 1 is outside the vocabulary [0, 64)");
      assertMessage(e.submit(GenerationRequest.ids(randomIds(64, 10), SamplingParams.greedy(3))),
          "prompt has 64 tokens; the model's context holds 64");
      assertMessage(e.submit(GenerationRequest.text("hello", SamplingParams.greedy(3))), "has no tokenizer.json");
      assertMessage(e.submit(GenerationRequest.ids(randomIds(8, 9), SamplingParams.greedy(3).withTemperature(-2.0))),
          "temperature must be >= 0");
      assertEquals(3, ok.get().completionTokens());
    }
  }

  @Test
  void admissionWaitsForPagesAndOversizedRequestsFailAlone() throws Exception {
    // Room for exactly 3 pages: each request below needs 2, so they must take turns.
    try (Engine e = Engine.open(model, cpu().withKvCacheBytes(3 * pageBytes()))) {
      assertEquals(3, e.kvPages());
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int i = 0; i < 4; i++)
        fs.add(e.submit(GenerationRequest.ids(randomIds(60, 20 + i), SamplingParams.greedy(20).withIgnoreEos(true))));
      CompletableFuture<GenerationResult> huge =
          e.submit(GenerationRequest.ids(randomIds(100, 30), SamplingParams.greedy(150).withIgnoreEos(true)));
      assertMessage(huge, "needs 4 KV pages");
      for (CompletableFuture<GenerationResult> f : fs) assertEquals(20, f.get().completionTokens());
      assertEquals(1, e.stats().maxSequencesInStep());
    }
  }

  @Test
  void cancelledRequestsGiveTheirPagesBack() throws Exception {
    try (Engine e = Engine.open(model, cpu().withKvCacheBytes(3 * pageBytes()).withMaxModelLen(256))) {
      CompletableFuture<GenerationResult> longRun =
          e.submit(GenerationRequest.ids(randomIds(10, 40), SamplingParams.greedy(180).withIgnoreEos(true)));
      while (e.stats().generatedTokens() < 2) Thread.sleep(1);
      longRun.cancel(true);
      GenerationResult r =
          e.generate(GenerationRequest.ids(randomIds(100, 41), SamplingParams.greedy(90).withIgnoreEos(true)));
      assertEquals(90, r.completionTokens());
    }
  }

  @Test
  void closingFailsWhatIsQueued() {
    Engine e = Engine.open(model, cpu());
    CompletableFuture<GenerationResult> f =
        e.submit(GenerationRequest.ids(randomIds(10, 50), SamplingParams.greedy(200).withIgnoreEos(true)));
    e.close();
    ExecutionException x = assertThrows(ExecutionException.class, f::get);
    assertTrue(x.getCause().getMessage().contains("engine closed"), x.getCause().getMessage());
    assertMessage(e.submit(GenerationRequest.ids(randomIds(3, 51), SamplingParams.greedy(1))), "engine is closed");
  }

  static void assertMessage(CompletableFuture<?> f, String part) {
    ExecutionException x = assertThrows(ExecutionException.class, f::get);
    assertTrue(x.getCause().getMessage().contains(part), "expected '" + part + "' in: " + x.getCause().getMessage());
  }
}
