package ai.lserve.spark;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Every option the connector takes. The same name works as a per-call option ({@code
 * map('max_new_tokens','64')}, a {@code format("lserve")} option) and as session configuration
 * with the {@code spark.lserve.} prefix; per-call values win.
 */
public enum LServeOption {
  // Where the model is and where it runs.
  MODEL("model", Scope.ANY, "model directory: a local path, or a Hadoop file system URI (hdfs://, s3a://, ...) copied once per node"),
  DEVICE("device", Scope.ANY, "auto (a GPU when one is assigned or the only one visible, else the CPU), cpu, or cuda"),
  GPU("gpu", Scope.ANY, "CUDA device ordinal to use when Spark assigns no GPU (e.g. in local mode)"),
  CACHE_DIR("cache_dir", Scope.ANY, "node-local directory for models copied from remote file systems"),
  ON_ERROR("on_error", Scope.ANY, "fail (default of lserve_generate) or null: a row that cannot be generated gives null and its error"),
  // Engine options (one engine per distinct set of them).
  MEMORY_FRACTION("memory_fraction", Scope.ANY, "share of the GPU memory the engine may take, in (0, 1]"),
  THREADS("threads", Scope.ANY, "CPU threads of the CPU backend"),
  KV_CACHE_BYTES("kv_cache_bytes", Scope.ANY, "bytes of KV cache pages (0 sizes the pool automatically)"),
  MAX_BATCH_TOKENS("max_batch_tokens", Scope.ANY, "tokens one forward step may process (prompt chunk size)"),
  MAX_MODEL_LEN("max_model_len", Scope.ANY, "longest prompt plus output (0 takes the model's max_position_embeddings)"),
  MAX_RUNNING("max_running", Scope.ANY, "sequences decoded together at most"),
  MODE("mode", Scope.ANY, "dense, lserve, or auto (lserve when the model has a head pattern)"),
  STREAMING_FRACTION("streaming_fraction", Scope.ANY, "share of KV heads that are streaming heads, in [0, 1]"),
  PATTERN("pattern", Scope.ANY, "head pattern TSV on the executors' local file system"),
  SINK("sink", Scope.ANY, "sink tokens of streaming heads (multiple of 64)"),
  LOCAL("local", Scope.ANY, "recent tokens of streaming heads in decode (multiple of 64)"),
  PREFILL_LOCAL("prefill_local", Scope.ANY, "recent tokens of streaming heads in prefill"),
  BUDGET("budget", Scope.ANY, "tokens a retrieval head reads per decode step (multiple of 64, >= 128)"),
  REUSE_INTERVAL("reuse_interval", Scope.ANY, "decode steps one page selection serves"),
  KV_BITS("kv_bits", Scope.ANY, "KV cache precision: 16, 8 or 4 (32 on the CPU)"),
  SELECTION("selection", Scope.ANY, "page selection per kv_head or query_head"),
  PIN_FIRST_PAGE("pin_first_page", Scope.ANY, "true: retrieval heads always read the first page too"),
  // Generation defaults.
  MAX_NEW_TOKENS("max_new_tokens", Scope.ANY, "most tokens to generate per row"),
  TEMPERATURE("temperature", Scope.ANY, "sampling temperature; 0 is greedy"),
  TOP_K("top_k", Scope.ANY, "sample among the k most likely tokens (0 = off)"),
  TOP_P("top_p", Scope.ANY, "nucleus sampling mass, in (0, 1]"),
  SEED("seed", Scope.ANY, "random seed of sampled generations"),
  STOP("stop", Scope.ANY, "a stop string, or a JSON array of them"),
  IGNORE_EOS("ignore_eos", Scope.ANY, "true: keep generating past end-of-sequence tokens"),
  // Driver side.
  PROGRESS_INTERVAL("progress_interval", Scope.ANY, "seconds between progress log lines on the driver (0 = off)"),
  // format("lserve") only.
  PATH("path", Scope.SOURCE, "input files (with 'format'), e.g. a parquet directory"),
  FORMAT("format", Scope.SOURCE, "format of the input files: parquet, json, csv, orc, text, ..."),
  TABLE("table", Scope.SOURCE, "input table name (instead of path)"),
  PROMPT_COLUMN("prompt_column", Scope.SOURCE, "input column holding the prompt"),
  TEMPLATE("template", Scope.SOURCE, "prompt template over input columns, e.g. 'Summarize: {body}'");

  /** Where an option is accepted. */
  public enum Scope {
    ANY,
    SOURCE
  }

  /** Prefix of the session configuration keys. */
  public static final String CONF_PREFIX = "spark.lserve.";

  /** Data source options with this prefix go to the input's own reader (e.g. input.header=true). */
  public static final String INPUT_PREFIX = "input.";

  private static final Map<String, LServeOption> BY_NAME =
      Arrays.stream(values()).collect(Collectors.toMap(o -> o.name, Function.identity()));

  private final String name;
  private final Scope scope;
  private final String description;

  LServeOption(String name, Scope scope, String description) {
    this.name = name;
    this.scope = scope;
    this.description = description;
  }

  /** The option's name, as written in option maps; {@code spark.lserve.<name>} in the conf. */
  public String key() {
    return name;
  }

  public String confKey() {
    return CONF_PREFIX + name;
  }

  public Scope scope() {
    return scope;
  }

  public String description() {
    return description;
  }

  public static Optional<LServeOption> find(String key) {
    return Optional.ofNullable(BY_NAME.get(key.toLowerCase(Locale.ROOT)));
  }

  /** The options valid in a scope, comma-separated, for error messages. */
  public static String names(boolean withSourceOptions) {
    return Arrays.stream(values())
        .filter(o -> withSourceOptions || o.scope == Scope.ANY)
        .map(o -> o.name)
        .collect(Collectors.joining(", "));
  }
}
