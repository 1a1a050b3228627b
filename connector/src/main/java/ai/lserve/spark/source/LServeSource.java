package ai.lserve.spark.source;

import ai.lserve.spark.LServe;
import ai.lserve.spark.LocalModeGuard;
import ai.lserve.spark.Settings;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * {@code spark.read.format("lserve")}: reads an input of documents and gives each row with its
 * generation. Options: the input ({@code path} + {@code format}, or {@code table}; {@code input.*}
 * for the input's reader), the prompt ({@code prompt_column} or {@code template}), and any lserve
 * option, over the session's {@code spark.lserve.*} configuration.
 */
public final class LServeSource implements TableProvider, DataSourceRegister {
  private LServeTable table; // Spark asks for the schema, then the table, with the same options

  @Override
  public String shortName() {
    return "lserve";
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return table(options).schema();
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return table(properties);
  }

  private LServeTable table(Map<String, String> options) {
    if (table != null && table.options().equals(Map.copyOf(options))) return table;
    SparkSession spark = SparkSession.active();
    LocalModeGuard.check(spark.sparkContext());
    Map<String, String> merged;
    SourceOptions source;
    try {
      merged = Settings.merge(Settings.fromConf(LServe.conf(spark)), options, true);
      Settings.parse(merged).requireModel();
      source = SourceOptions.of(merged);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("format(\"lserve\"): " + e.getMessage(), e);
    }
    table = new LServeTable(Map.copyOf(options), merged, source, FileInput.resolve(LServe.classic(spark), source));
    return table;
  }
}
