package ai.lserve.engine.cli;

import ai.lserve.engine.model.ModelSource;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by every command that opens an engine. */
final class EngineArgs {
  @Option(names = "--model", required = true,
      description = "Hugging Face Llama checkpoint directory, or synthetic:NAME (random weights of a named shape:"
          + " llama-3-8b, llama-2-7b, minitron-4b, tiny)")
  String model;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--threads", description = "CPU threads (default: all cores)")
  Integer threads;

  @Option(names = "--memory-fraction", description = "share of the GPU's free memory the engine takes (default 0.9)")
  Double memoryFraction;

  @Option(names = "--no-cuda-graphs", description = "on a GPU, launch each decode step's kernels one by one instead of"
      + " replaying a captured CUDA graph")
  boolean noCudaGraphs;

  @Option(names = "--kv-cache-bytes", description = "bytes of KV cache pages (default: sized automatically)")
  Long kvCacheBytes;

  @Option(names = "--max-batch-tokens", description = "tokens per forward step; prompts are prefilled in chunks of this size")
  Integer maxBatchTokens;

  @Option(names = "--max-model-len", description = "longest prompt plus output (default: max_position_embeddings)")
  Integer maxModelLen;

  @Option(names = "--mode", description = "dense, lserve, or auto = lserve when the model has a head pattern (default)")
  String mode;

  @Option(names = "--streaming-fraction", description = "share of KV heads that are streaming heads (default 0.5)")
  Double streamingFraction;

  @Option(names = "--pattern", description = "head pattern TSV (DuoAttention full_attention_heads.tsv format)")
  Path pattern;

  @Option(names = "--sink", description = "sink tokens of streaming heads (default 128)")
  Integer sink;

  @Option(names = "--local", description = "recent tokens of streaming heads in decode (default 256)")
  Integer local;

  @Option(names = "--prefill-local", description = "recent tokens of streaming heads in prefill (default 4096)")
  Integer prefillLocal;

  @Option(names = "--budget", description = "tokens a retrieval head reads per decode step (default 4096)")
  Integer budget;

  @Option(names = "--reuse-interval", description = "decode steps one page selection serves (default 4)")
  Integer reuseInterval;

  @Option(names = "--kv-bits", description = "KV cache precision: 16, 8 or 4 (32 on the CPU); default 8 for lserve, full for dense")
  Integer kvBits;

  @Option(names = "--selection", description = "page selection per kv-head (default) or query-head")
  String selection;

  @Option(names = "--pin-first-page", description = "retrieval heads always read the first page too")
  boolean pinFirstPage;

  SparseConfig sparse() {
    SparseConfig c = SparseConfig.defaults();
    if (mode != null) c = c.withMode(SparseConfig.Mode.parse(mode));
    if (streamingFraction != null) c = c.withStreamingFraction(streamingFraction);
    if (pattern != null) c = c.withPattern(pattern);
    if (sink != null) c = c.withSink(sink);
    if (local != null) c = c.withLocal(local);
    if (prefillLocal != null) c = c.withPrefillLocal(prefillLocal);
    if (budget != null) c = c.withBudget(budget);
    if (reuseInterval != null) c = c.withReuseInterval(reuseInterval);
    if (kvBits != null) c = c.withKvBits(kvBits);
    if (selection != null) c = c.withSelection(SparseConfig.Selection.parse(selection));
    return c.withPinFirstPage(pinFirstPage);
  }

  EngineOptions options() {
    EngineOptions o = EngineOptions.defaults().withDevice(device).withSparse(sparse());
    if (threads != null) o = o.withThreads(threads);
    if (memoryFraction != null) o = o.withMemoryFraction(memoryFraction);
    if (kvCacheBytes != null) o = o.withKvCacheBytes(kvCacheBytes);
    if (maxBatchTokens != null) o = o.withMaxBatchTokens(maxBatchTokens);
    if (maxModelLen != null) o = o.withMaxModelLen(maxModelLen);
    return o.withCudaGraphs(!noCudaGraphs);
  }

  ModelSource source() {
    return ModelSource.open(model);
  }

  Engine open() {
    return Engine.open(source(), options());
  }
}
