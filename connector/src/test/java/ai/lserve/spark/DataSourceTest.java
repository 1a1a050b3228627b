package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.metric.SQLMetric;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.jdk.javaapi.CollectionConverters;

class DataSourceTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static String docs;
  static final int N = 10;

  @BeforeAll
  static void writeInput() {
    spark = TestSpark.local();
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < N; i++)
      rows.add(RowFactory.create(i, "title " + i, i == 3 ? null : "Clause " + i + ": the parties agree that"));
    StructType schema = new StructType().add("id", DataTypes.IntegerType).add("title", DataTypes.StringType)
        .add("body", DataTypes.StringType);
    docs = dir.resolve("docs").toString();
    spark.createDataFrame(rows, schema).repartition(3).write().parquet(docs);
  }

  static Dataset<Row> lserve(Map<String, String> options) {
    return spark.read().format("lserve").options(options).load();
  }

  @Test
  void everyInputRowComesOutOnceWithItsGeneration() {
    Dataset<Row> out = lserve(Map.of("path", docs, "prompt_column", "body", "max_new_tokens", "3"));
    assertEquals(List.of("id", "title", "body", "generated_text", "error", "finish_reason", "prompt_tokens",
        "completion_tokens", "timings"), List.of(out.columns()));
    List<Row> rows = out.collectAsList();
    assertEquals(N, rows.size());
    assertEquals(N, rows.stream().map(r -> r.getInt(0)).distinct().count());
    for (Row r : rows) {
      if (r.getInt(0) == 3) {
        assertTrue(r.isNullAt(3) && r.isNullAt(4), "a null prompt gives no generation and no error");
      } else {
        assertNull(r.getAs("error"));
        assertEquals(3, (int) r.getAs("completion_tokens"));
        assertTrue(r.<Integer>getAs("prompt_tokens") > 0);
      }
    }
  }

  @Test
  void selectingFieldsOfTheTimingsStructReadsTheRightFields() {
    // Spark prunes inside structs: only these three timings fields are asked for.
    List<Row> rows = lserve(Map.of("path", docs, "prompt_column", "body", "max_new_tokens", "4"))
        .where("body IS NOT NULL")
        .select("timings.queue_ms", "timings.prefill_ms", "timings.first_token_ms").collectAsList();
    assertEquals(N - 1, rows.size());
    for (Row r : rows) assertEquals(r.getDouble(0) + r.getDouble(1), r.getDouble(2), 1e-6, "first token = queue + prefill");
  }

  @Test
  void templateOverColumnsAndMetricsOnTheScan() {
    Dataset<Row> out = lserve(Map.of("path", docs, "format", "parquet", "template", "Title: {title}\n{{note}} {id}",
        "max_new_tokens", "2"));
    Dataset<Row> selected = out.select("id", "generated_text", "prompt_tokens");
    List<Row> rows = selected.collectAsList();
    assertEquals(N, rows.size());
    assertTrue(rows.stream().allMatch(r -> !r.isNullAt(2)));
    SparkPlan scan = CollectionConverters.asJava(selected.queryExecution().executedPlan().collectLeaves()).get(0);
    Map<String, SQLMetric> metrics = CollectionConverters.asJava(scan.metrics());
    assertEquals(N, metrics.get("lserveRows").value());
    assertEquals(2L * N, metrics.get("lserveGeneratedTokens").value());
    assertTrue(metrics.get("lservePromptTokens").value() > 0);
  }

  @Test
  void readsCatalogTablesAndFailsOnRowErrorsWhenAsked() {
    spark.sql("DROP TABLE IF EXISTS lserve_docs");
    spark.read().parquet(docs).withColumn("body", org.apache.spark.sql.functions.expr("IF(id = 5, '', body)"))
        .write().format("parquet").saveAsTable("lserve_docs");
    List<Row> rows = lserve(Map.of("table", "lserve_docs", "prompt_column", "body", "max_new_tokens", "1"))
        .select("id", "error").collectAsList();
    assertEquals(N, rows.size());
    assertEquals(List.of(5), rows.stream().filter(r -> !r.isNullAt(1)).map(r -> r.getInt(0)).toList());
    Exception e = assertThrows(Exception.class, () -> lserve(Map.of("table", "lserve_docs", "prompt_column", "body",
        "on_error", "fail")).collectAsList());
    assertTrue(SqlFunctionsTest.messages(e).contains("format(\"lserve\") cannot generate the row whose prompt starts \"\" "
        + "(0 chars): prompt is empty"), SqlFunctionsTest.messages(e));
  }

  @Test
  void readsOnlyInputColumnsWithoutGenerating() {
    long before = Engines.snapshot().values().stream().mapToLong(s -> s.requestsFinished()).sum();
    List<Row> rows = lserve(Map.of("path", docs, "prompt_column", "body")).select("id").collectAsList();
    assertEquals(N, rows.size());
    long after = Engines.snapshot().values().stream().mapToLong(s -> s.requestsFinished()).sum();
    assertEquals(before, after, "no generation column read, so nothing generated");
  }

  @Test
  void rejectsUnknownOptionsAndNonFileInputs() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> lserve(Map.of("path", docs, "prompt_column", "body", "max_tokens", "3")).schema());
    assertTrue(e.getMessage().contains("unknown option 'max_tokens'"), e.getMessage());
    assertTrue(e.getMessage().contains("max_new_tokens"), e.getMessage());
    spark.range(3).selectExpr("CAST(id AS STRING) AS body").createOrReplaceTempView("not_files");
    e = assertThrows(IllegalArgumentException.class,
        () -> lserve(Map.of("table", "not_files", "prompt_column", "body")).schema());
    assertTrue(e.getMessage().contains("lserve_generate"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> lserve(Map.of("path", docs, "template", "{missing}")).schema());
    assertTrue(e.getMessage().contains("'missing'"), e.getMessage());
  }
}
