package ai.lserve.engine.sparse;

import java.nio.file.Path;
import java.util.Locale;

/**
 * LServe's unified sparse attention settings, with LServe's defaults except the prefill window:
 * 4096 tokens, LServe's LongBench setting, where its benchmarks use 8192 (docs/SPARSE.md says why).
 *
 * @param mode dense turns all of it off; auto is lserve when the model has a head pattern
 * @param streamingFraction share of KV heads made streaming heads
 * @param pattern head pattern TSV; null looks for one in the model directory
 * @param sink tokens every streaming head keeps from the start (decode and prefill)
 * @param local recent tokens a streaming head sees in decode
 * @param prefillLocal recent tokens a streaming head sees in prefill
 * @param budget tokens a retrieval head reads per decode step once the context exceeds it
 * @param reuseInterval decode steps one page selection serves
 * @param kvBits 16, 8 or 4 (32: float32 pages, CPU only); null takes the mode's own: full
 *     precision for dense (float32 on the CPU, bf16 on a GPU), 8 for lserve
 * @param selection select pages per KV head or per query head
 * @param pinFirstPage always read the sequence's first page too
 */
public record SparseConfig(
    Mode mode,
    double streamingFraction,
    Path pattern,
    int sink,
    int local,
    int prefillLocal,
    int budget,
    int reuseInterval,
    Integer kvBits,
    Selection selection,
    boolean pinFirstPage) {

  public enum Mode {
    AUTO, DENSE, LSERVE;

    public static Mode parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("mode must be dense, lserve or auto, got '" + s + "'");
      }
    }
  }

  public enum Selection {
    KV_HEAD, QUERY_HEAD;

    public static Selection parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "kv-head", "kv_head" -> KV_HEAD;
        case "query-head", "query_head" -> QUERY_HEAD;
        default -> throw new IllegalArgumentException("selection must be kv-head or query-head, got '" + s + "'");
      };
    }
  }

  public SparseConfig {
    if (mode == null) throw new IllegalArgumentException("mode must be given");
    if (!(streamingFraction >= 0 && streamingFraction <= 1))
      throw new IllegalArgumentException("streaming-fraction must be in [0, 1], got " + streamingFraction);
    if (sink < 0 || sink % 64 != 0)
      throw new IllegalArgumentException("sink must be a non-negative multiple of 64 tokens, got " + sink);
    if (local < 64 || local % 64 != 0)
      throw new IllegalArgumentException("local must be a positive multiple of 64 tokens, got " + local);
    if (prefillLocal < 1) throw new IllegalArgumentException("prefill-local must be >= 1, got " + prefillLocal);
    if (budget < 128 || budget % 64 != 0)
      throw new IllegalArgumentException("budget must be a multiple of 64 tokens, at least 128, got " + budget);
    if (reuseInterval < 1) throw new IllegalArgumentException("reuse-interval must be >= 1, got " + reuseInterval);
    if (kvBits != null && kvBits != 32 && kvBits != 16 && kvBits != 8 && kvBits != 4)
      throw new IllegalArgumentException("kv-bits must be 16, 8 or 4 (32 on the CPU), got " + kvBits);
    if (selection == null) throw new IllegalArgumentException("selection must be given");
  }

  /** The defaults (see above); lserve when the model has a head pattern, else dense. */
  public static SparseConfig defaults() {
    return new SparseConfig(Mode.AUTO, 0.5, null, 128, 256, 4096, 4096, 4, null, Selection.KV_HEAD, false);
  }

  public static SparseConfig dense() {
    return defaults().withMode(Mode.DENSE);
  }

  public SparseConfig withMode(Mode m) {
    return new SparseConfig(m, streamingFraction, pattern, sink, local, prefillLocal, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withStreamingFraction(double f) {
    return new SparseConfig(mode, f, pattern, sink, local, prefillLocal, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withPattern(Path p) {
    return new SparseConfig(mode, streamingFraction, p, sink, local, prefillLocal, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withSink(int n) {
    return new SparseConfig(mode, streamingFraction, pattern, n, local, prefillLocal, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withLocal(int n) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, n, prefillLocal, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withPrefillLocal(int n) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, n, budget, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withBudget(int n) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, prefillLocal, n, reuseInterval, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withReuseInterval(int n) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, prefillLocal, budget, n, kvBits, selection, pinFirstPage);
  }

  public SparseConfig withKvBits(Integer b) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, prefillLocal, budget, reuseInterval, b, selection, pinFirstPage);
  }

  public SparseConfig withSelection(Selection s) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, prefillLocal, budget, reuseInterval, kvBits, s, pinFirstPage);
  }

  public SparseConfig withPinFirstPage(boolean b) {
    return new SparseConfig(mode, streamingFraction, pattern, sink, local, prefillLocal, budget, reuseInterval, kvBits, selection, b);
  }
}
