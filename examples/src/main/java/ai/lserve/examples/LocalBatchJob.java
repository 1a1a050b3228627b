package ai.lserve.examples;

import ai.lserve.spark.LServe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The quick start: a local Spark batch job that writes a table of long documents, summarizes every
 * one with {@code format("lserve")} (each partition hands all its rows to the engine at once), and
 * prints sample results and throughput. Runs on the CPU when no GPU is present.
 *
 * <pre>examples/run-local.sh [--model DIR] [--rows N] [--words N] [--max-new-tokens N] [--master M]</pre>
 */
public final class LocalBatchJob {
  private LocalBatchJob() {}

  public static void main(String[] args) throws Exception {
    String model = "examples/models/tiny-random-llama", master = "local[*]", mode = "auto";
    int rows = 24, words = 450, maxNew = 32;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--model" -> model = args[++i];
        case "--rows" -> rows = Integer.parseInt(args[++i]);
        case "--words" -> words = Integer.parseInt(args[++i]);
        case "--max-new-tokens" -> maxNew = Integer.parseInt(args[++i]);
        case "--master" -> master = args[++i];
        case "--mode" -> mode = args[++i];
        default -> {
          System.err.println("usage: LocalBatchJob [--model DIR] [--rows N] [--words N] [--max-new-tokens N] "
              + "[--master M] [--mode auto|dense|lserve]");
          System.exit(args[i].equals("--help") ? 0 : 2);
        }
      }
    }
    Path modelDir = Path.of(model).toAbsolutePath();
    if (!Files.isDirectory(modelDir)) {
      System.err.println("error: model directory " + modelDir + " not found (run from the repository root or pass --model)");
      System.exit(2);
    }
    Path work = Files.createTempDirectory("lserve-example-");
    SparkSession spark = SparkSession.builder()
        .master(master)
        .appName("lserve local batch")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", work.resolve("warehouse").toString())
        .config("spark.lserve.model", modelDir.toString())
        .config("spark.lserve.mode", mode)
        .config("spark.lserve.max_model_len", "4096")
        .config("spark.lserve.max_new_tokens", String.valueOf(maxNew))
        .config("spark.lserve.temperature", "0")
        .config("spark.lserve.progress_interval", "5")
        .getOrCreate();
    try {
      LServe.register(spark);
      String docs = work.resolve("docs").toString();
      Documents.generate(spark, rows, words, 2).write().parquet(docs);
      System.out.printf("lserve example: %d documents of ~%d words in %s, model %s, master %s%n", rows, words, docs,
          modelDir.getFileName(), master);

      long start = System.nanoTime();
      Dataset<Row> out = spark.read().format("lserve")
          .option("path", docs)
          .option("template", "Summarize the following agreement in one sentence.\n\n{body}\n\nSummary:")
          .load()
          .select("id", "title", "generated_text", "error", "finish_reason", "prompt_tokens", "completion_tokens",
              "timings.first_token_ms");
      List<Row> results = out.collectAsList();
      double secs = (System.nanoTime() - start) / 1e9;

      results = results.stream().sorted(Comparator.comparingInt(r -> r.getInt(0))).toList();
      System.out.println("\nsample results:");
      for (Row r : results.subList(0, Math.min(3, results.size())))
        System.out.printf("  #%d %s | %d prompt tokens -> %d generated (%s, first token after %.0f ms)%n      %s%n",
            r.getInt(0), r.getString(1), r.getInt(5), r.getInt(6), r.getString(4), r.getDouble(7),
            r.isNullAt(3) ? oneLine(r.getString(2)) : "error: " + r.getString(3));
      long errors = results.stream().filter(r -> !r.isNullAt(3)).count();
      long prompt = results.stream().filter(r -> !r.isNullAt(5)).mapToLong(r -> r.getInt(5)).sum();
      long generated = results.stream().filter(r -> !r.isNullAt(6)).mapToLong(r -> r.getInt(6)).sum();
      System.out.printf(Locale.ROOT, "%nthroughput: %d rows (%d errors) in %.1f s = %.2f rows/s; %,d prompt tokens "
              + "(%.0f/s), %,d generated tokens (%.1f/s)%n", results.size(), errors, secs, results.size() / secs,
          prompt, prompt / secs, generated, generated / secs);
    } finally {
      spark.stop();
    }
  }

  private static String oneLine(String s) {
    String t = s == null ? "" : s.replaceAll("\\s+", " ").strip();
    return '"' + (t.length() > 100 ? t.substring(0, 100) + "…" : t) + '"';
  }
}
