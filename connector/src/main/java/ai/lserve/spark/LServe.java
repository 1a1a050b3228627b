package ai.lserve.spark;

import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry;
import org.apache.spark.sql.connector.catalog.CatalogManager;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Entry point: {@code LServe.register(spark)} adds the SQL functions to a session (or list
 * {@link LServeExtensions} in {@code spark.sql.extensions} to have them in every session):
 *
 * <ul>
 *   <li>{@code lserve_generate(prompt [, options])} → STRING; a null prompt gives null; a row that
 *       cannot be generated fails the query with its problem, unless {@code on_error} is 'null';
 *   <li>{@code lserve_generate_result(prompt [, options])} → STRUCT of text, error, finish_reason,
 *       prompt_tokens, completion_tokens, timings; a row's problem goes to error;
 *   <li>{@code lserve_device([options])} → the device a task's engine would use, and why.
 * </ul>
 *
 * Options are a {@code MAP<STRING,STRING>} overriding the session's {@code spark.lserve.*}
 * configuration; see {@link LServeOption}.
 */
public final class LServe {
  public static final String GENERATE = "lserve_generate";
  public static final String GENERATE_RESULT = "lserve_generate_result";
  public static final String DEVICE = "lserve_device";

  private LServe() {}

  /** Registers the functions in the session (replacing any of the same names). */
  public static void register(SparkSession spark) {
    LocalModeGuard.check(spark.sparkContext());
    FunctionRegistry registry = classic(spark).sessionState().functionRegistry();
    for (FunctionBuilder.Kind k : FunctionBuilder.Kind.values())
      registry.registerFunction(tempFunction(k.sqlName), k.info(), new FunctionBuilder(k));
    Progress.of(spark);
  }

  /** A session temporary function's identifier, as {@code createOrReplaceTempFunction} makes it. */
  private static FunctionIdentifier tempFunction(String name) {
    return new FunctionIdentifier(name, Option.apply(CatalogManager.SESSION_NAMESPACE()),
        Option.apply(CatalogManager.SYSTEM_CATALOG_NAME()));
  }

  /** The session's {@code spark.lserve.*} configuration entries, with their full keys. */
  public static Map<String, String> conf(SparkSession spark) {
    Map<String, String> out = new TreeMap<>();
    CollectionConverters.asJava(spark.conf().getAll()).forEach((k, v) -> {
      if (k.startsWith(LServeOption.CONF_PREFIX)) out.put(k, v);
    });
    return out;
  }

  public static org.apache.spark.sql.classic.SparkSession classic(SparkSession spark) {
    if (spark instanceof org.apache.spark.sql.classic.SparkSession c) return c;
    throw new IllegalArgumentException(
        "lserve needs a classic Spark session (its functions run in the executors' JVMs), not Spark Connect");
  }
}
