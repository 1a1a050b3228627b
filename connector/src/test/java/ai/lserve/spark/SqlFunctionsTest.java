package ai.lserve.spark;

import static ai.lserve.spark.functions.lserve_generate;
import static ai.lserve.spark.functions.lserve_generate_result;
import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.*;

import ai.lserve.engine.runtime.EngineStats;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The SQL functions and their DataFrame helpers on local[2], with the bundled model on the CPU. */
class SqlFunctionsTest {
  static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.local();
  }

  static Row result(String sql) {
    return spark.sql("SELECT " + sql).first().getStruct(0);
  }

  /** The messages of an exception and its causes, where Spark puts a task's failure. */
  static String messages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (; t != null; t = t.getCause()) sb.append(t.getMessage()).append('\n');
    return sb.toString();
  }

  @Test
  void generatesTextForEachRow() {
    List<Row> rows = spark.sql(
        "SELECT id, lserve_generate(concat('The parties agree that ', id)) AS t FROM range(4)").collectAsList();
    assertEquals(4, rows.size());
    for (Row r : rows) assertNotNull(r.getString(1));
  }

  @Test
  void structVariantReportsTokensAndTimings() {
    Row s = result("lserve_generate_result('Hello there', map('max_new_tokens', '3'))");
    assertNull(s.getAs("error"));
    assertNotNull(s.getAs("text"));
    assertEquals(3, (int) s.getAs("completion_tokens"));
    assertTrue(s.<Integer>getAs("prompt_tokens") > 1);
    assertEquals("length", s.getAs("finish_reason"));
    Row t = s.getAs("timings");
    assertTrue(t.<Double>getAs("total_ms") >= t.<Double>getAs("prefill_ms"));
  }

  @Test
  void nullPromptGivesNull() {
    Row r = spark.sql("SELECT lserve_generate(CAST(NULL AS STRING)), lserve_generate_result(NULL)").first();
    assertTrue(r.isNullAt(0));
    assertTrue(r.isNullAt(1));
  }

  @Test
  void rowProblemsGoToTheErrorFieldOrFailTheQueryNamingTheRow() {
    assertEquals("prompt is empty", result("lserve_generate_result('')").getAs("error"));
    String tooLong = "lserve_generate_result(repeat('lorem ipsum ', 400))";
    assertTrue(result(tooLong).<String>getAs("error").contains("context holds 1024"), result(tooLong).toString());

    Exception e = assertThrows(Exception.class,
        () -> spark.sql("SELECT lserve_generate(p) FROM VALUES ('fine'), ('') AS v(p)").collectAsList());
    assertTrue(messages(e).contains("lserve_generate cannot generate the row whose prompt starts \"\" (0 chars): prompt is empty"),
        messages(e));
    e = assertThrows(Exception.class,
        () -> spark.sql("SELECT lserve_generate(repeat('Whereas the parties ', 300))").collectAsList());
    assertTrue(messages(e).contains("prompt starts \"Whereas the parties Whereas"), messages(e));
    assertTrue(messages(e).contains("(6,000 chars)"), messages(e));

    Row r = spark.sql("SELECT lserve_generate('', map('on_error', 'null')), lserve_generate('ok', map('on_error', 'null'))")
        .first();
    assertTrue(r.isNullAt(0));
    assertNotNull(r.getString(1));
  }

  @Test
  void badLiteralOptionsFailAnalysisNamingTheOption() {
    Exception e = assertThrows(Exception.class,
        () -> spark.sql("SELECT lserve_generate('x', map('max_tokens', '3'))").collectAsList());
    assertTrue(messages(e).contains("unknown option 'max_tokens'; valid options are: model, device"), messages(e));
    assertTrue(messages(e).contains("max_new_tokens"), messages(e));
    e = assertThrows(Exception.class,
        () -> spark.sql("SELECT lserve_generate_result('x', map('temperature', 'hot'))").collectAsList());
    assertTrue(messages(e).contains("invalid option 'temperature' = 'hot': expected a number"), messages(e));
    e = assertThrows(Exception.class, () -> spark.sql("SELECT lserve_generate('x', map('sink', '10'))").collectAsList());
    assertTrue(messages(e).contains("invalid option 'sink' = '10'"), messages(e));
    e = assertThrows(Exception.class, () -> spark.sql("SELECT lserve_generate()").collectAsList());
    assertTrue(messages(e).contains("lserve_generate takes (prompt[, options]), got 0 argument(s)"), messages(e));
  }

  @Test
  void badOptionsFromColumnsAreRowErrors() {
    Row s = spark.sql("SELECT lserve_generate_result('x', map('temperature', t)) FROM VALUES ('hot') AS v(t)")
        .first().getStruct(0);
    assertEquals("invalid option 'temperature' = 'hot': expected a number", s.getAs("error"));
    Exception e = assertThrows(Exception.class,
        () -> spark.sql("SELECT lserve_generate('x', map(k, '1')) FROM VALUES ('max_tokens') AS v(k)").collectAsList());
    assertTrue(messages(e).contains("unknown option 'max_tokens'"), messages(e));
  }

  @Test
  void callOptionsOverrideTheSessionConfiguration() {
    assertEquals(4, (int) result("lserve_generate_result('a b c')").getAs("completion_tokens")); // session: 4
    assertEquals(2, (int) result("lserve_generate_result('a b c', map('max_new_tokens', '2'))").getAs("completion_tokens"));
    spark.conf().set("spark.lserve.max_new_tokens", "3");
    try {
      assertEquals(3, (int) result("lserve_generate_result('a b c')").getAs("completion_tokens"));
      assertEquals(1, (int) result("lserve_generate_result('a b c', map('max_new_tokens', '1'))").getAs("completion_tokens"));
    } finally {
      spark.conf().set("spark.lserve.max_new_tokens", "4");
    }
    spark.conf().set("spark.lserve.max_tokens", "3");
    try {
      Exception e = assertThrows(Exception.class, () -> spark.sql("SELECT lserve_generate('x')").collectAsList());
      assertTrue(messages(e).contains("unknown configuration 'spark.lserve.max_tokens'"), messages(e));
    } finally {
      spark.conf().unset("spark.lserve.max_tokens");
    }
  }

  @Test
  void dataFrameHelpers() {
    List<Row> rows = spark.sql("SELECT 'The parties' AS p UNION ALL SELECT 'The court'")
        .select(lserve_generate(col("p"), Map.of("max_new_tokens", "2")).as("t"),
            lserve_generate_result(col("p")).as("r"))
        .collectAsList();
    assertEquals(2, rows.size());
    for (Row r : rows) {
      assertNotNull(r.getString(0));
      assertEquals(4, (int) r.getStruct(1).getAs("completion_tokens"));
    }
  }

  @Test
  void describeFunctionListsTheOptions() {
    String d = spark.sql("DESCRIBE FUNCTION EXTENDED lserve_generate").collectAsList().toString();
    assertTrue(d.contains("lserve_generate(prompt[, options])") && d.contains("max_new_tokens: most tokens"), d);
  }

  @Test
  void nonStringPromptsAreCast() {
    assertNotNull(spark.sql("SELECT lserve_generate(42)").first().getString(0));
  }

  @Test
  void oneEnginePerJvmSharedByConcurrentTasksThatBatchTogether() {
    int before = Engines.opened();
    // Options of their own make a fresh engine; 8 rows in 4 partitions run as 2 concurrent tasks.
    List<Row> rows = spark.sql("SELECT id, lserve_generate(concat('Clause ', id, ': the parties agree'), "
            + "map('max_running', '64', 'max_new_tokens', '24', 'ignore_eos', 'true')) FROM range(0, 8, 1, 4)")
        .collectAsList();
    assertEquals(8, rows.size());
    assertEquals(1, Engines.opened() - before, "one engine for all tasks");
    EngineStats stats = Engines.snapshot().entrySet().stream()
        .filter(e -> e.getKey().options().maxRunning() == 64).findFirst().orElseThrow().getValue();
    assertEquals(8, stats.requestsFinished());
    assertTrue(stats.maxSequencesInStep() > 1, "requests of concurrent tasks batched: " + stats);
  }

  @Test
  void deviceResolution() {
    Row cpu = spark.sql("SELECT lserve_device()").first().getStruct(0);
    assertEquals("cpu", cpu.getAs("device"));
    Row option = spark.sql("SELECT lserve_device(map('device', 'auto', 'gpu', '1'))").first().getStruct(0);
    assertEquals("cuda:1", option.getAs("device"));
    assertEquals("option", option.getAs("source"));
  }

  @Test
  void progressAccumulatorsCountRowsAndTokens() {
    Progress p = Progress.of(spark);
    long rows = p.rows().value(), tokens = p.tokens().value();
    spark.sql("SELECT lserve_generate(concat('x', id), map('max_new_tokens', '2', 'ignore_eos', 'true')) FROM range(3)")
        .collectAsList();
    assertEquals(3, p.rows().value() - rows);
    assertEquals(6, p.tokens().value() - tokens);
  }
}
