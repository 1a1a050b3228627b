package ai.lserve.engine.runtime;

import ai.lserve.engine.model.GenerationConfig;
import java.util.List;

/**
 * How to pick tokens. Null fields take the model's {@code generation_config.json} values, then the
 * engine defaults (greedy, {@link #DEFAULT_MAX_NEW_TOKENS} tokens).
 *
 * @param temperature 0 means greedy
 * @param topK 0 means no top-k cut
 * @param topP 1 means no nucleus cut
 * @param seed fixes the random stream of a sampled request
 * @param stop strings that end the generation (left out of the text)
 * @param ignoreEos keep generating past end-of-sequence tokens
 */
public record SamplingParams(
    Integer maxNewTokens,
    Double temperature,
    Integer topK,
    Double topP,
    Long seed,
    List<String> stop,
    boolean ignoreEos) {
  public static final int DEFAULT_MAX_NEW_TOKENS = 128;

  public static SamplingParams defaults() {
    return new SamplingParams(null, null, null, null, null, List.of(), false);
  }

  public static SamplingParams greedy(int maxNewTokens) {
    return defaults().withMaxNewTokens(maxNewTokens).withTemperature(0.0);
  }

  public SamplingParams withMaxNewTokens(Integer n) {
    return new SamplingParams(n, temperature, topK, topP, seed, stop, ignoreEos);
  }

  public SamplingParams withTemperature(Double t) {
    return new SamplingParams(maxNewTokens, t, topK, topP, seed, stop, ignoreEos);
  }

  public SamplingParams withTopK(Integer k) {
    return new SamplingParams(maxNewTokens, temperature, k, topP, seed, stop, ignoreEos);
  }

  public SamplingParams withTopP(Double p) {
    return new SamplingParams(maxNewTokens, temperature, topK, p, seed, stop, ignoreEos);
  }

  public SamplingParams withSeed(Long s) {
    return new SamplingParams(maxNewTokens, temperature, topK, topP, s, stop, ignoreEos);
  }

  public SamplingParams withStop(List<String> s) {
    return new SamplingParams(maxNewTokens, temperature, topK, topP, seed, List.copyOf(s), ignoreEos);
  }

  public SamplingParams withIgnoreEos(boolean b) {
    return new SamplingParams(maxNewTokens, temperature, topK, topP, seed, stop, b);
  }

  /** Fills the unset fields and checks every value, naming the one that is wrong. */
  public Resolved resolve(GenerationConfig gc) {
    boolean sampleByDefault = Boolean.TRUE.equals(gc.doSample());
    double t =
        temperature != null
            ? temperature
            : sampleByDefault ? (gc.temperature() != null ? gc.temperature() : 1.0) : 0.0;
    int k = topK != null ? topK : (sampleByDefault && gc.topK() != null ? gc.topK() : 0);
    double p = topP != null ? topP : (sampleByDefault && gc.topP() != null ? gc.topP() : 1.0);
    int max =
        maxNewTokens != null
            ? maxNewTokens
            : gc.maxNewTokens() != null ? gc.maxNewTokens() : DEFAULT_MAX_NEW_TOKENS;
    if (!(t >= 0) || Double.isInfinite(t))
      throw new IllegalArgumentException("temperature must be >= 0, got " + t);
    if (k < 0) throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + k);
    if (!(p > 0 && p <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + p);
    if (max < 0) throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + max);
    List<String> s = stop == null ? List.of() : stop;
    for (String x : s)
      if (x == null || x.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    long sd = seed != null ? seed : System.nanoTime() ^ Thread.currentThread().getId();
    return new Resolved(max, t, k, p, sd, s, ignoreEos);
  }

  /** Sampling parameters with every value fixed. */
  public record Resolved(
      int maxNewTokens, double temperature, int topK, double topP, long seed, List<String> stop,
      boolean ignoreEos) {
    public boolean greedy() {
      return temperature == 0;
    }
  }
}
