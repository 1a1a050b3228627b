package ai.lserve.engine.runtime;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Backends;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvCacheLayout;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.model.Checkpoint;
import ai.lserve.engine.model.GenerationConfig;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.Tokenizer;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A model loaded on one device, serving generation requests from any thread. Requests are batched
 * continuously by one engine thread; {@link #submit} returns at once with a future.
 */
public final class Engine implements AutoCloseable {
  private final Checkpoint checkpoint;
  private final LlamaConfig config;
  private final GenerationConfig generationConfig;
  private final Tokenizer tokenizer;
  private final Backend backend;
  private final KvCache cache;
  private final Scheduler scheduler;
  private final Thread thread;
  private final int maxModelLen;

  private Engine(Path modelDir, EngineOptions options) {
    this.checkpoint = Checkpoint.open(modelDir);
    this.config = checkpoint.config();
    this.generationConfig = checkpoint.generationConfig();
    this.maxModelLen = options.maxModelLen() > 0 ? options.maxModelLen() : config.maxPositionEmbeddings();
    this.tokenizer = checkpoint.tokenizerJson().map(Tokenizer::load).orElse(null);
    Backend b = Backends.open(options);
    try {
      LlamaModel model = new LlamaModel(config, checkpoint.weights(), b);
      KvCacheLayout layout = new KvCacheLayout(config.numLayers(), config.numKvHeads(), config.headDim(), KvFormat.F32);
      this.cache = b.kvCache(layout, pagesFor(layout, options));
      Set<Integer> eos = new HashSet<>();
      for (int id : config.eosTokenIds()) eos.add(id);
      for (int id : generationConfig.eosTokenIds() == null ? new int[0] : generationConfig.eosTokenIds()) eos.add(id);
      this.scheduler = new Scheduler(model, cache, tokenizer, Set.copyOf(eos), options);
    } catch (RuntimeException | Error e) {
      b.close();
      if (tokenizer != null) tokenizer.close();
      throw e;
    }
    this.backend = b;
    this.thread = new Thread(scheduler, "lserve-engine");
    thread.setDaemon(true);
    thread.start();
  }

  /** Opens the Hugging Face Llama checkpoint in {@code modelDir}; malformed files are rejected first. */
  public static Engine open(Path modelDir, EngineOptions options) {
    return new Engine(modelDir, options);
  }

  private int pagesFor(KvCacheLayout layout, EngineOptions options) {
    long perPage = layout.bytesPerPage();
    long bytes = options.kvCacheBytes();
    if (bytes == 0) {
      long needed = (long) options.maxRunning() * KvCacheLayout.pagesFor(maxModelLen) * perPage;
      bytes = Math.min(needed, Runtime.getRuntime().maxMemory() / 4);
    }
    long pages = bytes / perPage;
    if (pages < 1)
      throw new IllegalArgumentException(String.format(
          "kv-cache-bytes %d holds no KV page (%d bytes per 64-token page for this model)", bytes, perPage));
    return (int) Math.min(pages, Integer.MAX_VALUE);
  }

  /** Queues a request; the future fails with a message naming the problem when it cannot run. */
  public CompletableFuture<GenerationResult> submit(GenerationRequest request) {
    Sequence s;
    try {
      int[] ids = request.promptIds() != null ? request.promptIds() : tokenize(request.prompt());
      validatePrompt(ids);
      SamplingParams.Resolved p = request.sampling().resolve(generationConfig);
      int maxNew = Math.min(p.maxNewTokens(), maxModelLen - ids.length);
      s = new Sequence(ids, p, maxNew, request.promptLogits());
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    scheduler.submit(s);
    return s.future;
  }

  /** Submits and waits. */
  public GenerationResult generate(GenerationRequest request) {
    try {
      return submit(request).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while generating", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException(e.getCause());
    }
  }

  private int[] tokenize(String prompt) {
    if (tokenizer == null)
      throw new IllegalArgumentException(
          "model " + checkpoint.directory() + " has no tokenizer.json; pass prompt token ids instead of text");
    return tokenizer.encode(prompt);
  }

  private void validatePrompt(int[] ids) {
    if (ids.length == 0) throw new IllegalArgumentException("prompt is empty (0 tokens)");
    for (int i = 0; i < ids.length; i++)
      if (ids[i] < 0 || ids[i] >= config.vocabSize())
        throw new IllegalArgumentException(String.format(
            "prompt token id %d at index %d is outside the vocabulary [0, %d)", ids[i], i, config.vocabSize()));
    if (ids.length >= maxModelLen)
      throw new IllegalArgumentException(String.format(
          "prompt has %d tokens; the model's context holds %d (max-model-len), leaving no room to generate",
          ids.length, maxModelLen));
  }

  public LlamaConfig config() {
    return config;
  }

  public Checkpoint checkpoint() {
    return checkpoint;
  }

  public Optional<Tokenizer> tokenizer() {
    return Optional.ofNullable(tokenizer);
  }

  public String device() {
    return backend.name();
  }

  public int maxModelLen() {
    return maxModelLen;
  }

  public int kvPages() {
    return cache.pages();
  }

  public EngineStats stats() {
    return scheduler.stats();
  }

  /** Fails what is still queued or running, then frees the device. */
  @Override
  public void close() {
    scheduler.close();
    thread.interrupt();
    try {
      thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    cache.close();
    backend.close();
    if (tokenizer != null) tokenizer.close();
  }
}
