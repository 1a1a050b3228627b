package ai.lserve.engine.runtime;

import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.KvPlan;
import ai.lserve.engine.kv.PagePool;
import ai.lserve.engine.kv.PageTable;
import ai.lserve.engine.kv.SequenceKv;
import ai.lserve.engine.kv.StreamingRing;
import ai.lserve.engine.model.Tokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Continuous batching on one engine thread. Each step decodes one token for every running
 * sequence and spends the rest of the step's token budget on prompt chunks. A sequence is admitted
 * once the pools can reserve every page it may need (all its retrieval pages; its streaming ring
 * at prefill size, shrunk when prefill ends), so it never waits mid-generation; a sequence that can
 * never fit fails alone.
 */
final class Scheduler implements Runnable {
  private final LlamaModel model;
  private final KvCache cache;
  private final KvPlan plan;
  private final PagePool pool, streamingPool;
  private final Tokenizer tokenizer; // null when the model has none
  private final Set<Integer> eosIds;
  private final EngineOptions options;

  private final LinkedBlockingQueue<Sequence> incoming = new LinkedBlockingQueue<>();
  private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
  private final List<Sequence> running = new ArrayList<>();
  private volatile boolean closed;

  private final AtomicLong steps = new AtomicLong(), finished = new AtomicLong();
  private final AtomicLong promptTokens = new AtomicLong(), generated = new AtomicLong();
  private volatile int maxInStep, runningCount, waitingCount;
  private long stepDone; // nanoTime when the current step's tokens reached the host

  Scheduler(LlamaModel model, KvCache cache, KvPlan plan, Tokenizer tokenizer, Set<Integer> eosIds,
      EngineOptions options) {
    this.model = model;
    this.cache = cache;
    this.plan = plan;
    this.pool = new PagePool(cache.retrievalPages());
    this.streamingPool = cache.streamingPages() > 0 ? new PagePool(cache.streamingPages()) : null;
    this.tokenizer = tokenizer;
    this.eosIds = eosIds;
    this.options = options;
  }

  void submit(Sequence s) {
    if (closed) {
      s.future.completeExceptionally(new IllegalStateException("engine is closed"));
      return;
    }
    incoming.add(s);
  }

  /** Stops after the current step; the engine thread is interrupted to wake it. */
  void close() {
    closed = true;
  }

  EngineStats stats() {
    return new EngineStats(steps.get(), finished.get(), promptTokens.get(), generated.get(),
        maxInStep, runningCount, waitingCount + incoming.size());
  }

  @Override
  public void run() {
    try {
      while (!closed) {
        if (running.isEmpty() && waiting.isEmpty()) {
          Sequence s = incoming.poll(1, TimeUnit.SECONDS);
          if (s != null) waiting.add(s);
        }
        incoming.drainTo(waiting);
        retire();
        admit();
        runningCount = running.size();
        waitingCount = waiting.size();
        if (!running.isEmpty()) step();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      IllegalStateException closedError = new IllegalStateException("engine closed before the request finished");
      incoming.drainTo(waiting);
      for (Sequence s : running) fail(s, closedError);
      for (Sequence s : waiting) s.future.completeExceptionally(closedError);
      running.clear();
      waiting.clear();
    }
  }

  /** Drops finished and cancelled sequences, giving their pages back. */
  private void retire() {
    waiting.removeIf(s -> s.future.isDone());
    for (Iterator<Sequence> it = running.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.future.isDone()) {
        release(s);
        it.remove();
      }
    }
  }

  private void admit() {
    while (!waiting.isEmpty() && running.size() < options.maxRunning()) {
      Sequence s = waiting.peek();
      int need = KvLayout.pagesFor(s.maxTokens());
      int ring = plan.streamingPagesAtAdmission(s.prompt.length);
      if (need > pool.total() || (streamingPool != null && ring > streamingPool.total())) {
        waiting.poll();
        s.future.completeExceptionally(new IllegalArgumentException(String.format(
            "request needs %d KV pages (%d prompt + %d new tokens) and %d streaming pages but the KV cache holds"
                + " %d and %d; raise kv-cache-bytes or lower max_new_tokens", need, s.prompt.length,
            s.maxNewTokens, ring, pool.total(), streamingPool == null ? 0 : streamingPool.total())));
        continue;
      }
      int[] pages = pool.take(need);
      if (pages == null) return; // first come, first served: wait for pages to free up
      int[] ringPages = null;
      if (streamingPool != null) {
        ringPages = streamingPool.take(ring);
        if (ringPages == null) {
          pool.give(pages);
          return;
        }
      }
      waiting.poll();
      s.kv = new SequenceKv(new PageTable(pages),
          ringPages == null ? null : new StreamingRing(plan.sinkPages(), ringPages), model.config().numLayers());
      s.admitted = System.nanoTime();
      running.add(s);
    }
  }

  private void step() {
    StepBatch batch = new StepBatch();
    List<Integer> tokens = new ArrayList<>();
    List<Sequence> owners = new ArrayList<>(); // the sequence of each logits row
    List<Integer> positions = new ArrayList<>();
    List<Integer> rows = new ArrayList<>();
    List<Sequence> members = new ArrayList<>();
    int budget = options.maxBatchTokens();
    for (Sequence s : running) {
      if (s.prefilling()) continue;
      StepBatch.Slice slice = batch.add(s.kv, s.kv.table().tokens(), 1, true);
      members.add(s);
      tokens.add(s.lastToken());
      rows.add(slice.row());
      owners.add(s);
      positions.add(slice.start());
      budget--;
    }
    for (Sequence s : running) {
      if (!s.prefilling() || budget <= 0) continue;
      int n = Math.min(s.prompt.length - s.prefilled, budget);
      StepBatch.Slice slice = batch.add(s.kv, s.prefilled, n, false);
      members.add(s);
      budget -= n;
      int firstLogit = s.prompt.length - Math.max(1, s.promptLogits);
      for (int i = 0; i < n; i++) {
        int pos = s.prefilled + i;
        tokens.add(s.prompt[pos]);
        if (pos >= firstLogit) {
          rows.add(slice.row() + i);
          owners.add(s);
          positions.add(pos);
        }
      }
    }
    int[] ids = tokens.stream().mapToInt(Integer::intValue).toArray();
    int[] logitRows = rows.stream().mapToInt(Integer::intValue).toArray();
    // Logits cross to the host only when a request asks for them; else the backend samples.
    boolean hostLogits = owners.stream().anyMatch(s -> s.promptLogits > 0 || s.outputLogits != null);
    float[] logits = null;
    int[] sampled = null;
    try {
      if (hostLogits) logits = model.forward(batch, ids, logitRows, cache);
      else sampled = sampleOnBackend(batch, ids, logitRows, owners);
    } catch (RuntimeException | Error e) {
      for (Sequence s : members) fail(s, e);
      retire();
      return;
    }
    stepDone = System.nanoTime(); // the tokens (or logits) are on the host: the step's device work is done
    steps.incrementAndGet();
    maxInStep = Math.max(maxInStep, batch.slices().size());
    for (StepBatch.Slice slice : batch.slices()) slice.kv().table().advance(slice.count());
    for (Sequence s : members) {
      if (s.prefilling()) {
        int done = s.kv.table().tokens();
        promptTokens.addAndGet(done - s.prefilled);
        s.prefilled = done;
        if (!s.prefilling() && s.kv.ring() != null) // prefill over: keep only the decode ring
          streamingPool.give(s.kv.ring().shrink(done, plan.local(), plan.decodeRingPages()));
      }
    }
    if (sampled != null) {
      for (int r = 0; r < sampled.length; r++) {
        Sequence s = owners.get(r);
        if (!finishedWithoutTokens(s)) onToken(s, sampled[r], null);
      }
      retire();
      return;
    }
    int vocab = model.config().vocabSize();
    for (int r = 0; r < logitRows.length; r++) {
      Sequence s = owners.get(r);
      int pos = positions.get(r);
      boolean promptRow = pos < s.prompt.length;
      if (promptRow && s.promptLogits > 0 && pos >= s.prompt.length - s.promptLogits)
        s.logits[pos - (s.prompt.length - s.promptLogits)] =
            Arrays.copyOfRange(logits, r * vocab, (r + 1) * vocab);
      if (!promptRow || pos == s.prompt.length - 1) onLogits(s, logits, r * vocab, vocab);
    }
    retire();
  }

  /** Samples the next token of {@code s} (unless it wants none) and ends it when it should stop. */
  private void onLogits(Sequence s, float[] logits, int off, int vocab) {
    if (finishedWithoutTokens(s)) return;
    int token;
    try {
      token = Sampler.sample(logits, off, vocab, s.sampling, s.rng);
    } catch (RuntimeException e) {
      fail(s, e);
      return;
    }
    onToken(s, token, s.outputLogits != null ? Arrays.copyOfRange(logits, off, off + vocab) : null);
  }

  /** Runs the step and samples each logits row on the backend, drawing each row's uniform here. */
  private int[] sampleOnBackend(StepBatch batch, int[] ids, int[] logitRows, List<Sequence> owners) {
    SamplingParams.Resolved[] params = new SamplingParams.Resolved[logitRows.length];
    double[] uniforms = new double[logitRows.length];
    for (int r = 0; r < logitRows.length; r++) {
      Sequence s = owners.get(r);
      params[r] = s.sampling;
      if (s.maxNewTokens > 0) uniforms[r] = Sampler.uniform(s.sampling, s.rng);
    }
    return model.forwardSample(batch, ids, logitRows, cache, params, uniforms);
  }

  /** Ends a request that asked for no new tokens (its prompt is done); false for the others. */
  private boolean finishedWithoutTokens(Sequence s) {
    if (s.maxNewTokens > 0) return false;
    s.firstToken = System.nanoTime();
    finish(s, FinishReason.LENGTH, null, null);
    return true;
  }

  /** Appends the sampled token (and its logits when asked) and ends the request when it should stop. */
  private void onToken(Sequence s, int token, float[] logits) {
    if (s.outputLength == 0) s.firstToken = stepDone;
    s.append(token, stepDone);
    if (logits != null) s.outputLogits.add(logits);
    generated.incrementAndGet();
    if (!s.sampling.ignoreEos() && eosIds.contains(token)) {
      finish(s, FinishReason.STOP, String.valueOf(token), null);
      return;
    }
    if (!s.sampling.stop().isEmpty() && tokenizer != null) {
      String text = tokenizer.decode(s.outputIds());
      for (String stop : s.sampling.stop()) {
        int at = text.indexOf(stop, Math.max(0, s.textScanned - stop.length() + 1));
        if (at >= 0) {
          finish(s, FinishReason.STOP, stop, text.substring(0, at));
          return;
        }
      }
      s.textScanned = text.length();
    }
    if (s.outputLength >= s.maxNewTokens) finish(s, FinishReason.LENGTH, null, null);
  }

  private void finish(Sequence s, FinishReason reason, String stopReason, String text) {
    release(s);
    long end = System.nanoTime();
    if (text == null && tokenizer != null) text = tokenizer.decode(s.outputIds());
    long[] times = s.outputTimes();
    Timings t = new Timings(ms(s.admitted - s.submitted), ms(s.firstToken - s.admitted),
        ms(end - s.firstToken), ms(end - s.submitted), Timings.medianAfterFirst(Timings.stepsMs(times)));
    finished.incrementAndGet();
    s.future.complete(new GenerationResult(s.outputIds(), text, reason, stopReason, s.prompt.length,
        s.outputLength, t, s.logits, s.outputLogits == null ? null : s.outputLogits.toArray(new float[0][]), times));
  }

  private void fail(Sequence s, Throwable e) {
    release(s);
    s.future.completeExceptionally(e);
  }

  private void release(Sequence s) {
    if (s.kv != null) {
      pool.give(s.kv.table().pages());
      if (s.kv.ring() != null) streamingPool.give(s.kv.ring().pages());
      s.kv = null;
    }
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }
}
