package ai.lserve.engine.runtime;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Backends;
import ai.lserve.engine.kv.KvCache;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.KvPlan;
import ai.lserve.engine.model.Checkpoint;
import ai.lserve.engine.model.GenerationConfig;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.ModelSource;
import ai.lserve.engine.model.SyntheticModel;
import ai.lserve.engine.model.Tokenizer;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.file.Files;
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
  private final ModelSource source;
  private final LlamaConfig config;
  private final GenerationConfig generationConfig;
  private final Tokenizer tokenizer;
  private final Backend backend;
  private final KvCache cache;
  private final KvPlan plan;
  private final SparseConfig.Mode mode;
  private final Scheduler scheduler;
  private final Thread thread;
  private final int maxModelLen;

  private Engine(ModelSource source, EngineOptions options, Backend given) {
    this.source = source;
    this.config = source.config();
    this.generationConfig = source.generationConfig();
    this.maxModelLen = options.maxModelLen() > 0 ? options.maxModelLen() : config.maxPositionEmbeddings();
    this.tokenizer = source.tokenizerJson().map(Tokenizer::load).orElse(null);
    SparseConfig sparse = options.sparse();
    Optional<Path> patternFile = sparse.pattern() != null ? Optional.of(sparse.pattern())
        : source.modelDirectory().map(d -> d.resolve(PATTERN_FILE)).filter(Files::isRegularFile);
    if (sparse.pattern() != null && !Files.isRegularFile(sparse.pattern()))
      throw new IllegalArgumentException("pattern file " + sparse.pattern() + " does not exist");
    boolean hasPattern = patternFile.isPresent() || source instanceof SyntheticModel;
    this.mode = sparse.mode() == SparseConfig.Mode.AUTO
        ? (hasPattern ? SparseConfig.Mode.LSERVE : SparseConfig.Mode.DENSE)
        : sparse.mode();
    boolean lserve = mode == SparseConfig.Mode.LSERVE;
    HeadPattern pattern = HeadPattern.allRetrieval(config.numLayers(), config.numKvHeads());
    if (lserve && sparse.streamingFraction() > 0) {
      if (patternFile.isPresent()) pattern = HeadPattern.load(patternFile.get(), config, sparse.streamingFraction());
      else if (source instanceof SyntheticModel synthetic) pattern = synthetic.pattern(sparse.streamingFraction());
      else
        throw new IllegalArgumentException(String.format(
            "lserve mode with streaming fraction %s needs a head pattern: pass --pattern FILE, put %s in %s"
                + " (make one with 'lserve calibrate'), or use --streaming-fraction 0 or --mode dense",
            sparse.streamingFraction(), PATTERN_FILE, source.name()));
    }
    Backend b = given != null ? given : Backends.open(options);
    try {
      KvFormat format = sparse.kvBits() != null ? KvFormat.ofBits(sparse.kvBits())
          : lserve ? KvFormat.INT8 : b.denseKvFormat();
      KvLayout layout = new KvLayout(config.numLayers(), config.numKvHeads(), config.headDim(), format, pattern, lserve);
      this.plan = new KvPlan(layout, sparse.sink(), sparse.local(), sparse.prefillLocal(), options.maxBatchTokens());
      LlamaModel model = new LlamaModel(source, b); // weights first: a GPU sizes KV pages from what is left
      KvPlan.Pools pools = plan.pools(budgetBytes(options, b, model), options.maxRunning(), maxModelLen);
      this.cache = b.kvCache(layout, AttentionPolicy.of(sparse, lserve), pools.retrievalPages(), pools.streamingPages());
      Set<Integer> eos = new HashSet<>();
      for (int id : config.eosTokenIds()) eos.add(id);
      for (int id : generationConfig.eosTokenIds() == null ? new int[0] : generationConfig.eosTokenIds()) eos.add(id);
      this.scheduler = new Scheduler(model, cache, plan, tokenizer, Set.copyOf(eos), options);
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
    return new Engine(Checkpoint.open(modelDir), options, null);
  }

  /** Opens the checkpoint on a backend built by the caller (calibration uses a probing CPU backend). */
  public static Engine open(Path modelDir, EngineOptions options, Backend backend) {
    return new Engine(Checkpoint.open(modelDir), options, backend);
  }

  /** Opens a checkpoint or a synthetic model ({@link ModelSource#open}); the engine closes it. */
  public static Engine open(ModelSource source, EngineOptions options) {
    return new Engine(source, options, null);
  }

  /** The head pattern file an lserve engine looks for in the model directory. */
  public static final String PATTERN_FILE = "full_attention_heads.tsv";

  /**
   * The KV budget: as given, else what maxRunning full-length sequences need, at most what the
   * backend can spare (a quarter of the heap on the CPU; the arena's rest on a GPU).
   */
  private long budgetBytes(EngineOptions options, Backend backend, LlamaModel model) {
    if (options.kvCacheBytes() > 0) return options.kvCacheBytes();
    long needed = (long) options.maxRunning() * plan.prefillPeakBytes(maxModelLen);
    long scratch = backend.prefillScratchBytes(plan.layout(), maxModelLen + options.maxBatchTokens());
    return Math.min(needed, Math.max(0, backend.kvBudgetBytes(model.activationValues(options.maxBatchTokens())) - scratch));
  }

  /** Queues a request; the future fails with a message naming the problem when it cannot run. */
  public CompletableFuture<GenerationResult> submit(GenerationRequest request) {
    Sequence s;
    try {
      int[] ids = request.promptIds() != null ? request.promptIds() : tokenize(request.prompt());
      validatePrompt(ids);
      SamplingParams.Resolved p = request.sampling().resolve(generationConfig);
      int maxNew = Math.min(p.maxNewTokens(), maxModelLen - ids.length);
      s = new Sequence(ids, p, maxNew, request.promptLogits(), request.outputLogits());
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
          "model " + source.name() + " has no tokenizer.json; pass prompt token ids instead of text");
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

  public ModelSource source() {
    return source;
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

  /** Pages of the retrieval pool (every head's pages when dense). */
  public int kvPages() {
    return cache.retrievalPages();
  }

  /** The attention mode in use (auto resolved). */
  public SparseConfig.Mode mode() {
    return mode;
  }

  public KvPlan kvPlan() {
    return plan;
  }

  /** Pages of the streaming pool (0 without streaming heads). */
  public int streamingPages() {
    return cache.streamingPages();
  }

  /** Bytes the backend allocated for KV pages. */
  public long kvAllocatedBytes() {
    return cache.allocatedBytes();
  }

  /** The backend's peak device memory ({@link Backend#peakDeviceBytes()}); -1 on the CPU. */
  public long peakDeviceBytes() {
    return backend.peakDeviceBytes();
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
    source.close();
    if (tokenizer != null) tokenizer.close();
  }
}
