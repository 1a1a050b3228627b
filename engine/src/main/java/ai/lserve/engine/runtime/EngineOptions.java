package ai.lserve.engine.runtime;

import ai.lserve.engine.sparse.SparseConfig;

/**
 * How an engine runs.
 *
 * @param device "cpu", "cuda", "cuda:N" or "auto" (a GPU when one is usable, else the CPU)
 * @param threads CPU threads for the CPU backend
 * @param kvCacheBytes bytes of KV pages to allocate; 0 sizes the pool automatically
 * @param maxBatchTokens tokens one forward step may process (prompts are prefilled in chunks);
 *     8192 by default, vLLM's offline default below 70 GB of GPU memory (16384 above): on the H100
 *     lserve prefills 128K tokens 4-5% faster than in chunks of 2048, dense as fast
 *     (docs/BENCHMARKS.md), for ~1.4 GB more activation reserve than 2048 with Llama-3-8B
 * @param maxModelLen longest sequence, prompt plus output; 0 takes max_position_embeddings
 * @param maxRunning sequences decoded together at most
 * @param sparse LServe sparse attention settings (or dense)
 * @param memoryFraction share of a GPU's memory the engine may take for weights, KV pages and
 *     scratch (like vLLM's gpu_memory_utilization); the CPU backend ignores it
 * @param cudaGraphs on a GPU, run each decode step as a captured CUDA graph (replayed while the
 *     batch keeps its shape); the CPU backend ignores it
 */
public record EngineOptions(
    String device, int threads, long kvCacheBytes, int maxBatchTokens, int maxModelLen, int maxRunning,
    SparseConfig sparse, double memoryFraction, boolean cudaGraphs) {
  public EngineOptions {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    if (kvCacheBytes < 0) throw new IllegalArgumentException("kv-cache-bytes must be >= 0");
    if (maxBatchTokens < 1) throw new IllegalArgumentException("max-batch-tokens must be >= 1");
    if (maxModelLen < 0) throw new IllegalArgumentException("max-model-len must be >= 0");
    if (maxRunning < 1) throw new IllegalArgumentException("max-running must be >= 1");
    if (sparse == null) throw new IllegalArgumentException("sparse settings must be given");
    if (!(memoryFraction > 0 && memoryFraction <= 1))
      throw new IllegalArgumentException("memory-fraction must be in (0, 1], got " + memoryFraction);
  }

  public static EngineOptions defaults() {
    return new EngineOptions(
        "auto", Runtime.getRuntime().availableProcessors(), 0, 8192, 0, 256, SparseConfig.defaults(), 0.9, true);
  }

  public EngineOptions withDevice(String d) {
    return new EngineOptions(d, threads, kvCacheBytes, maxBatchTokens, maxModelLen, maxRunning, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withThreads(int t) {
    return new EngineOptions(device, t, kvCacheBytes, maxBatchTokens, maxModelLen, maxRunning, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withKvCacheBytes(long b) {
    return new EngineOptions(device, threads, b, maxBatchTokens, maxModelLen, maxRunning, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withMaxBatchTokens(int n) {
    return new EngineOptions(device, threads, kvCacheBytes, n, maxModelLen, maxRunning, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withMaxModelLen(int n) {
    return new EngineOptions(device, threads, kvCacheBytes, maxBatchTokens, n, maxRunning, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withMaxRunning(int n) {
    return new EngineOptions(device, threads, kvCacheBytes, maxBatchTokens, maxModelLen, n, sparse, memoryFraction, cudaGraphs);
  }

  public EngineOptions withSparse(SparseConfig s) {
    return new EngineOptions(device, threads, kvCacheBytes, maxBatchTokens, maxModelLen, maxRunning, s, memoryFraction, cudaGraphs);
  }

  public EngineOptions withCudaGraphs(boolean on) {
    return new EngineOptions(device, threads, kvCacheBytes, maxBatchTokens, maxModelLen, maxRunning, sparse, memoryFraction, on);
  }

  public EngineOptions withMemoryFraction(double f) {
    return new EngineOptions(device, threads, kvCacheBytes, maxBatchTokens, maxModelLen, maxRunning, sparse, f, cudaGraphs);
  }
}
