package ai.lserve.examples;

import ai.lserve.spark.LServe;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * A spark-submit job: generates for every row of an input (files or a table) with
 * {@code format("lserve")} and writes the input columns plus the generation columns as parquet.
 * The model, GPU resources and engine options come from --conf spark.lserve.* (see
 * examples/spark-submit-gpu.sh). An input with {@code task} and {@code answer} columns, such as the
 * documents LocalBatchJob writes, also gets its exact-match accuracy.
 *
 * <pre>ClusterBatchJob --input PATH|--table NAME [--format parquet] (--prompt-column C | --template T)
 *     --output PATH [--option key=value]...</pre>
 */
public final class ClusterBatchJob {
  private ClusterBatchJob() {}

  public static void main(String[] args) {
    Map<String, String> options = new LinkedHashMap<>();
    String output = null;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--input" -> options.put("path", args[++i]);
        case "--table" -> options.put("table", args[++i]);
        case "--format" -> options.put("format", args[++i]);
        case "--prompt-column" -> options.put("prompt_column", args[++i]);
        case "--template" -> options.put("template", args[++i]);
        case "--output" -> output = args[++i];
        case "--option" -> {
          String[] kv = args[++i].split("=", 2);
          if (kv.length != 2) usage("--option takes key=value, got " + args[i]);
          options.put(kv[0], kv[1]);
        }
        case "--help" -> {
          System.out.println(USAGE);
          return;
        }
        default -> usage("unknown argument " + a);
      }
    }
    if (output == null) usage("--output is required");
    SparkSession spark = SparkSession.builder().appName("lserve batch").getOrCreate();
    LServe.register(spark);
    long start = System.nanoTime();
    Dataset<Row> out = spark.read().format("lserve").options(options).load();
    out.write().mode("overwrite").parquet(output);
    Row stats = spark.read().parquet(output).agg(functions.count("*"), functions.count("error"),
        functions.sum("prompt_tokens"), functions.sum("completion_tokens")).first();
    double secs = (System.nanoTime() - start) / 1e9;
    System.out.printf("lserve: wrote %d rows (%d errors) to %s in %.1f s: %s prompt tokens, %s generated tokens "
            + "(%.1f generated tokens/s)%n", stats.getLong(0), stats.getLong(1), output, secs, stats.get(2),
        stats.get(3), stats.isNullAt(3) ? 0 : stats.getLong(3) / secs);
    Dataset<Row> written = spark.read().parquet(output);
    if (List.of(written.columns()).containsAll(List.of("task", "answer")))
      System.out.println("lserve: exact match " + Answers.accuracy(Answers.score(written)));
    spark.stop();
  }

  private static final String USAGE = "usage: ClusterBatchJob (--input PATH [--format F] | --table NAME) "
      + "(--prompt-column C | --template T) --output PATH [--option key=value]...";

  private static void usage(String problem) {
    System.err.println("error: " + problem + "\n" + USAGE);
    System.exit(2);
  }
}
