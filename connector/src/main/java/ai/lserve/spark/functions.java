package ai.lserve.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.SparkSession;

/**
 * DataFrame helpers, in the style of {@code org.apache.spark.sql.functions}:
 * {@code df.select(lserve_generate(col("body"), Map.of("max_new_tokens", "64")))}. They register
 * the SQL functions in the active session when needed. From PySpark or Scala, use the SQL names
 * through {@code expr(...)}.
 */
public final class functions {
  private functions() {}

  public static Column lserve_generate(Column prompt) {
    return call(LServe.GENERATE, prompt);
  }

  public static Column lserve_generate(Column prompt, Map<String, String> options) {
    return call(LServe.GENERATE, prompt, options(options));
  }

  public static Column lserve_generate(Column prompt, Column options) {
    return call(LServe.GENERATE, prompt, options);
  }

  public static Column lserve_generate_result(Column prompt) {
    return call(LServe.GENERATE_RESULT, prompt);
  }

  public static Column lserve_generate_result(Column prompt, Map<String, String> options) {
    return call(LServe.GENERATE_RESULT, prompt, options(options));
  }

  public static Column lserve_generate_result(Column prompt, Column options) {
    return call(LServe.GENERATE_RESULT, prompt, options);
  }

  public static Column lserve_device() {
    return call(LServe.DEVICE);
  }

  public static Column lserve_device(Map<String, String> options) {
    return call(LServe.DEVICE, options(options));
  }

  /** A literal {@code MAP<STRING,STRING>} column of options, keys in order. */
  public static Column options(Map<String, String> options) {
    List<Column> kv = new ArrayList<>();
    new TreeMap<>(options).forEach((k, v) -> {
      kv.add(org.apache.spark.sql.functions.lit(k));
      kv.add(org.apache.spark.sql.functions.lit(v));
    });
    return kv.isEmpty()
        ? org.apache.spark.sql.functions.lit(null).cast(FunctionBuilder.OPTIONS)
        : org.apache.spark.sql.functions.map(kv.toArray(Column[]::new));
  }

  private static Column call(String name, Column... args) {
    SparkSession spark = SparkSession.active();
    if (!spark.catalog().functionExists(name)) LServe.register(spark);
    return org.apache.spark.sql.functions.call_function(name, args);
  }
}
