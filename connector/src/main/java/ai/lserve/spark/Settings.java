package ai.lserve.spark;

import ai.lserve.engine.model.GenerationConfig;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The connector's settings for one call: session configuration ({@code spark.lserve.*}) merged
 * with the call's options, names and values checked. Errors name the option and list the valid
 * ones, so a typo such as {@code max_tokens} is caught before any generation.
 *
 * @param model model directory or URI; null when none was configured
 * @param engine engine options; the device in it is decided per task by {@link GpuResolver}
 * @param onError null when not given, so each entry point applies its own default
 */
public record Settings(
    String model,
    DevicePolicy device,
    Integer gpu,
    String cacheDir,
    OnError onError,
    EngineOptions engine,
    SamplingParams sampling,
    double progressIntervalSeconds) {

  public enum DevicePolicy {
    AUTO, CPU, CUDA
  }

  /** What a row that cannot be generated does. */
  public enum OnError {
    /** Fails the task (and so the job) with a message naming the row's problem. */
    FAIL,
    /** Gives null text and records the problem in the error column where there is one. */
    NULL
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The {@code spark.lserve.*} entries of a configuration, prefix removed, names checked. */
  public static Map<String, String> fromConf(Map<String, String> conf) {
    Map<String, String> out = new LinkedHashMap<>();
    conf.forEach((k, v) -> {
      if (!k.startsWith(LServeOption.CONF_PREFIX)) return;
      String name = k.substring(LServeOption.CONF_PREFIX.length());
      LServeOption o = LServeOption.find(name).filter(x -> x.scope() == LServeOption.Scope.ANY)
          .orElseThrow(() -> new IllegalArgumentException(String.format(
              "unknown configuration '%s'; valid ones are spark.lserve. followed by one of: %s",
              k, LServeOption.names(false))));
      out.put(o.key(), v);
    });
    return out;
  }

  /**
   * Session options overridden by the call's. Names are checked; {@code source} also admits the
   * data source's own options and {@code input.*}.
   */
  public static Map<String, String> merge(Map<String, String> session, Map<String, String> call, boolean source) {
    Map<String, String> out = new LinkedHashMap<>(session);
    if (call == null) return out;
    call.forEach((k, v) -> {
      if (k == null) throw new IllegalArgumentException("option names must not be null");
      String key = k.toLowerCase(Locale.ROOT);
      if (source && key.startsWith(LServeOption.INPUT_PREFIX)) {
        out.put(key, v);
        return;
      }
      LServeOption o = LServeOption.find(key)
          .filter(x -> source || x.scope() == LServeOption.Scope.ANY)
          .orElseThrow(() -> new IllegalArgumentException(String.format(
              "unknown option '%s'; valid options are: %s%s", k, LServeOption.names(source),
              source ? ", and input.* for the input's reader" : "")));
      out.put(o.key(), v);
    });
    return out;
  }

  /** Parses merged options (from {@link #merge}); data-source-only entries are left to the source. */
  public static Settings parse(Map<String, String> options) {
    String model = null, cacheDir = null;
    DevicePolicy device = DevicePolicy.AUTO;
    Integer gpu = null;
    OnError onError = null;
    double progress = 10;
    EngineOptions engine = EngineOptions.defaults();
    SparseConfig sparse = SparseConfig.defaults();
    SamplingParams sampling = SamplingParams.defaults();
    for (Map.Entry<String, String> e : options.entrySet()) {
      LServeOption o = LServeOption.find(e.getKey()).orElse(null);
      if (o == null || o.scope() != LServeOption.Scope.ANY) continue;
      String v = e.getValue();
      if (v == null) throw new IllegalArgumentException("option '" + o.key() + "' must not be null");
      v = v.trim();
      try {
        switch (o) {
          case MODEL -> model = v;
          case DEVICE -> device = enumValue(DevicePolicy.class, v, "auto, cpu or cuda");
          case GPU -> gpu = nonNegative(intValue(v));
          case CACHE_DIR -> cacheDir = v;
          case ON_ERROR -> onError = enumValue(OnError.class, v, "fail or null");
          case MEMORY_FRACTION -> engine = engine.withMemoryFraction(doubleValue(v));
          case THREADS -> engine = engine.withThreads(intValue(v));
          case KV_CACHE_BYTES -> engine = engine.withKvCacheBytes(longValue(v));
          case MAX_BATCH_TOKENS -> engine = engine.withMaxBatchTokens(intValue(v));
          case MAX_MODEL_LEN -> engine = engine.withMaxModelLen(intValue(v));
          case MAX_RUNNING -> engine = engine.withMaxRunning(intValue(v));
          case MODE -> sparse = sparse.withMode(SparseConfig.Mode.parse(v));
          case STREAMING_FRACTION -> sparse = sparse.withStreamingFraction(doubleValue(v));
          case PATTERN -> sparse = sparse.withPattern(Path.of(v));
          case SINK -> sparse = sparse.withSink(intValue(v));
          case LOCAL -> sparse = sparse.withLocal(intValue(v));
          case PREFILL_LOCAL -> sparse = sparse.withPrefillLocal(intValue(v));
          case BUDGET -> sparse = sparse.withBudget(intValue(v));
          case REUSE_INTERVAL -> sparse = sparse.withReuseInterval(intValue(v));
          case KV_BITS -> sparse = sparse.withKvBits(intValue(v));
          case SELECTION -> sparse = sparse.withSelection(SparseConfig.Selection.parse(v));
          case PIN_FIRST_PAGE -> sparse = sparse.withPinFirstPage(booleanValue(v));
          case MAX_NEW_TOKENS -> sampling = sampling.withMaxNewTokens(intValue(v));
          case TEMPERATURE -> sampling = sampling.withTemperature(doubleValue(v));
          case TOP_K -> sampling = sampling.withTopK(intValue(v));
          case TOP_P -> sampling = sampling.withTopP(doubleValue(v));
          case SEED -> sampling = sampling.withSeed(longValue(v));
          case STOP -> sampling = sampling.withStop(stops(e.getValue()));
          case IGNORE_EOS -> sampling = sampling.withIgnoreEos(booleanValue(v));
          case PROGRESS_INTERVAL -> progress = nonNegative(doubleValue(v));
          default -> throw new IllegalStateException("option " + o + " has no parser");
        }
      } catch (IllegalArgumentException x) {
        throw new IllegalArgumentException(
            String.format("invalid option '%s' = '%s': %s", o.key(), e.getValue(), x.getMessage()), x);
      }
    }
    try {
      sampling.resolve(GenerationConfig.none());
    } catch (IllegalArgumentException x) {
      throw new IllegalArgumentException("invalid generation option: " + x.getMessage(), x);
    }
    return new Settings(model, device, gpu, cacheDir, onError, engine.withSparse(sparse), sampling, progress);
  }

  /** The model, or an error saying how to set it. */
  public String requireModel() {
    if (model == null || model.isEmpty())
      throw new IllegalArgumentException(
          "no model: set spark.lserve.model (a local directory or a Hadoop file system URI) or pass the option 'model'");
    return model;
  }

  public OnError onError(OnError fallback) {
    return onError != null ? onError : fallback;
  }

  private static <E extends Enum<E>> E enumValue(Class<E> type, String v, String expected) {
    try {
      return Enum.valueOf(type, v.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("expected " + expected);
    }
  }

  private static int intValue(String v) {
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected an integer");
    }
  }

  private static long longValue(String v) {
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected an integer");
    }
  }

  private static double doubleValue(String v) {
    try {
      return Double.parseDouble(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected a number");
    }
  }

  private static boolean booleanValue(String v) {
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException("expected true or false");
    };
  }

  private static int nonNegative(int n) {
    if (n < 0) throw new IllegalArgumentException("must be >= 0");
    return n;
  }

  private static double nonNegative(double d) {
    if (!(d >= 0)) throw new IllegalArgumentException("must be >= 0");
    return d;
  }

  /** One stop string, or a JSON array of them (a value starting with '['). */
  private static List<String> stops(String v) {
    if (!v.trim().startsWith("[")) return List.of(v);
    try {
      return JSON.readValue(v, new TypeReference<List<String>>() {});
    } catch (Exception e) {
      throw new IllegalArgumentException("expected a stop string or a JSON array of strings");
    }
  }
}
