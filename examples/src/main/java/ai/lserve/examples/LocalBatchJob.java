package ai.lserve.examples;

import static org.apache.spark.sql.functions.col;

import ai.lserve.engine.eval.Evaluator;
import ai.lserve.engine.eval.Tasks;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.spark.LServe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The quick start: a local Spark batch job over long documents that the bundled model can answer
 * questions about. It writes a table of seeded documents in the formats lserve-needle-7m was
 * trained on (filler text holding a pass key, magic numbers or key-value records; a question; the
 * expected answer: {@link Tasks#documents}), answers every question with {@code format("lserve")}
 * (each partition hands all its rows to the engine at once), writes the results as Parquet and
 * prints them with the exact-match accuracy, tokens and time. Runs on the CPU when no GPU is present.
 *
 * <pre>examples/run-local.sh [--model DIR] [--rows N] [--length MIN-MAX] [--tasks T,...] [--seed S]
 *     [--mode auto|dense|lserve] [--output DIR] [--master M]</pre>
 */
public final class LocalBatchJob {
  static final StructType SCHEMA = new StructType()
      .add("id", DataTypes.IntegerType)
      .add("task", DataTypes.StringType)
      .add("document", DataTypes.StringType)
      .add("question", DataTypes.StringType)
      .add("answer", DataTypes.StringType);

  private static final String USAGE = "usage: LocalBatchJob [--model DIR] [--rows N] [--length MIN-MAX (characters = "
      + "tokens of the bundled model)] [--tasks passkey,multikey,kv,vartrack] [--seed S] [--mode auto|dense|lserve] "
      + "[--output DIR] [--master M]";

  private LocalBatchJob() {}

  public static void main(String[] args) throws Exception {
    String model = "examples/models/lserve-needle-7m", master = "local[*]", mode = "auto", output = null;
    List<String> tasks = List.of("passkey", "multikey", "kv");
    int rows = 6, minChars = 2000, maxChars = 3000;
    long seed = 1;
    try {
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--help")) {
          System.out.println(USAGE);
          return;
        }
        if (i + 1 == args.length)
          throw new IllegalArgumentException(a.startsWith("--") ? a + " needs a value" : "unknown argument " + a);
        String v = args[++i];
        switch (a) {
          case "--model" -> model = v;
          case "--rows" -> rows = number(a, v);
          case "--length" -> {
            String[] mm = v.split("-", 2);
            minChars = number(a, mm[0]);
            maxChars = mm.length == 2 ? number(a, mm[1]) : minChars;
          }
          case "--tasks" -> tasks = List.of(v.split(",\\s*"));
          case "--seed" -> seed = number(a, v);
          case "--mode" -> mode = v;
          case "--output" -> output = v;
          case "--master" -> master = v;
          default -> throw new IllegalArgumentException("unknown argument " + a);
        }
      }
      if (rows < 1) throw new IllegalArgumentException("--rows must be at least 1, got " + rows);
      if (!List.of("auto", "dense", "lserve").contains(mode))
        throw new IllegalArgumentException("--mode must be auto, dense or lserve, got " + mode);
      Tasks.document(seed, 0, tasks, minChars, maxChars); // checks the tasks and lengths before Spark starts
    } catch (IllegalArgumentException e) {
      System.err.println("error: " + e.getMessage() + "\n" + USAGE);
      System.exit(2);
    }
    Path modelDir = Path.of(model).toAbsolutePath();
    if (!Files.isRegularFile(modelDir.resolve("config.json"))) {
      System.err.println("error: no model (config.json) in " + modelDir + " (run from the repository root or pass --model)");
      System.exit(2);
    }
    Path work = output != null ? Path.of(output).toAbsolutePath() : Files.createTempDirectory("lserve-example-");
    int maxNew = tasks.stream().mapToInt(Evaluator::maxNewTokens).max().orElseThrow();
    SparkSession spark = SparkSession.builder()
        .master(master)
        .appName("lserve local batch")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", work.resolve("warehouse").toString())
        .config("spark.lserve.model", modelDir.toString())
        .config("spark.lserve.mode", mode)
        .config("spark.lserve.max_model_len", String.valueOf(maxChars + 1 + maxNew)) // <s>, prompt, answer
        .config("spark.lserve.max_new_tokens", String.valueOf(maxNew))
        .config("spark.lserve.temperature", "0")
        .config("spark.lserve.progress_interval", "10")
        .getOrCreate();
    try {
      LServe.register(spark);
      String docs = work.resolve("documents").toString(), results = work.resolve("results").toString();
      List<Row> table = Tasks.documents(seed, rows, tasks, minChars, maxChars).stream()
          .map(d -> RowFactory.create(d.id(), d.task(), d.text(), d.question(), d.answer()))
          .toList();
      spark.createDataFrame(table, SCHEMA).repartition(2).write().mode("overwrite").parquet(docs);
      String device = spark.sql("SELECT lserve_device().device").first().getString(0);
      String resolvedMode = !mode.equals("auto") ? mode
          : Files.isRegularFile(modelDir.resolve(Engine.PATTERN_FILE)) ? "lserve (auto: the model has a head pattern)"
          : "dense (auto: the model has no head pattern)";
      System.out.printf(Locale.ROOT, "lserve example: %d documents (%s, %,d-%,d characters, seed %d) in %s%n"
              + "  model %s, mode %s, device %s, master %s%n", rows, String.join(", ", tasks), minChars, maxChars, seed,
          docs, modelDir.getFileName(), resolvedMode, device, master);

      long start = System.nanoTime();
      Dataset<Row> answered = spark.read().format("lserve")
          .option("path", docs)
          .option("template", "{document}{question}")
          .load()
          .select(col("id"), col("task"), col("question"), col("answer"), col("generated_text"), col("error"),
              col("finish_reason"), col("prompt_tokens"), col("completion_tokens"), col("timings.total_ms").as("total_ms"));
      Answers.score(answered).write().mode("overwrite").parquet(results);
      double secs = (System.nanoTime() - start) / 1e9;

      Dataset<Row> out = spark.read().parquet(results).cache();
      System.out.println("\nresults (id, task, prompt tokens, question, expected -> generated):");
      for (Row r : out.orderBy("id").limit(20).collectAsList())
        System.out.printf(Locale.ROOT, "  #%-3d %-8s %,6d  %-52s %-9s -> %-11s %s%n", r.getInt(0), r.getString(1),
            r.isNullAt(7) ? 0 : r.getInt(7), question(r.getString(2)), r.getString(3),
            r.isNullAt(5) ? quoted(r.getString(4)) : "error: " + r.getString(5),
            r.getBoolean(r.fieldIndex("correct")) ? "ok" : "WRONG");
      Row t = out.selectExpr("count(*)", "count(error)", "sum(prompt_tokens)", "sum(completion_tokens)").first();
      long prompt = t.isNullAt(2) ? 0 : t.getLong(2), generated = t.isNullAt(3) ? 0 : t.getLong(3);
      System.out.printf(Locale.ROOT, "%nexact match %s%n%d documents (%d errors) in %.1f s, mode %s, device %s: "
              + "%,d prompt tokens (%,.0f/s), %,d generated tokens%nresults: %s (parquet)%n",
          Answers.accuracy(out), t.getLong(0), t.getLong(1), secs, resolvedMode.split(" ")[0], device, prompt,
          prompt / secs, generated, results);
    } finally {
      spark.stop();
    }
  }

  private static int number(String option, String value) {
    try {
      return Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(option + " takes a number, got '" + value + "'");
    }
  }

  /** The question without its answer prompt: " What is the pass key? The pass key is" -> "What is the pass key?". */
  private static String question(String q) {
    int end = q.indexOf('?');
    return (end < 0 ? q : q.substring(0, end + 1)).strip();
  }

  private static String quoted(String s) {
    String t = s == null ? "" : s.replaceAll("\\s+", " ").strip();
    return '"' + (t.length() > 40 ? t.substring(0, 40) + "…" : t) + '"';
  }
}
