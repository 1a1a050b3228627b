package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real GPU scheduling without GPUs: a local-cluster (one worker, executor JVMs of their own) whose
 * worker discovers two fake GPUs. Needs SPARK_HOME (a directory with jars/) and
 * SPARK_SCALA_VERSION in the environment, which the connector's Surefire configuration sets.
 */
class LocalClusterGpuTest {
  @TempDir static Path tmp;
  static Path script;

  @BeforeAll
  static void prepare() throws IOException {
    TestSpark.stop();
    String home = System.getenv("SPARK_HOME");
    assertNotNull(home, "SPARK_HOME must name a fake Spark home (set by the connector's pom)");
    Files.createDirectories(Path.of(home, "jars"));
    script = tmp.resolve("gpus.sh");
    Files.writeString(script, "#!/usr/bin/env bash\necho '{\"name\":\"gpu\",\"addresses\":[\"0\",\"1\"]}'\n");
    assertTrue(script.toFile().setExecutable(true));
  }

  /** A cluster whose executor owns both GPUs; with taskGpus each task asks for one. */
  static SparkSession cluster(boolean taskGpus) {
    SparkSession.Builder b = TestSpark.base()
        .master("local-cluster[1,2,1024]")
        .appName("lserve-local-cluster")
        .config("spark.executor.extraClassPath",
            System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")))
        .config("spark.worker.resource.gpu.amount", "2")
        .config("spark.worker.resource.gpu.discoveryScript", script.toString())
        .config("spark.executor.resource.gpu.amount", "2")
        .config("spark.plugins", LServePlugin.class.getName())
        .config("spark.task.maxFailures", "1")
        .config("spark.lserve.device", "auto");
    if (taskGpus) b.config("spark.task.resource.gpu.amount", "1");
    return b.getOrCreate(); // no LServe.register: the functions come from the jar's extension service
  }

  static List<Row> devices(SparkSession spark) {
    return assertTimeoutPreemptively(Duration.ofMinutes(2),
        () -> spark.sql("SELECT id, lserve_device() AS d FROM range(0, 4, 1, 4)").collectAsList());
  }

  static Set<String> field(List<Row> rows, String name) {
    return rows.stream().map(r -> r.getStruct(1).<String>getAs(name)).collect(Collectors.toSet());
  }

  @AfterEach
  void stop() {
    TestSpark.stop();
  }

  @Test
  void tasksUseTheGpuSparkAssignedThemAndTheEngineOpensThere() {
    SparkSession spark = cluster(true);
    List<Row> rows = devices(spark);
    assertEquals(4, rows.size());
    assertEquals(Set.of("cuda:0", "cuda:1"), field(rows, "device"), "two tasks at once, one per GPU: " + rows);
    assertEquals(Set.of("task"), field(rows, "source"));
    assertTrue(field(rows, "reason").stream().allMatch(r -> r.startsWith("Spark assigned GPU address")));

    Exception e = assertThrows(Exception.class, () -> assertTimeoutPreemptively(Duration.ofMinutes(2),
        () -> spark.sql("SELECT lserve_generate('hello', map('device', 'cuda'))").collectAsList()));
    String m = SqlFunctionsTest.messages(e);
    assertTrue(m.contains("cannot open the lserve engine for model") && m.matches("(?s).* on cuda:[01]: .*"), m);
  }

  @Test
  void withoutTaskGpusThePluginsExecutorGpusAreSpreadOverPartitions() {
    List<Row> rows = devices(cluster(false));
    for (Row r : rows) {
      assertEquals("executor", r.getStruct(1).getAs("source"), r.toString());
      assertEquals("cuda:" + r.getLong(0) % 2, r.getStruct(1).getAs("device"), r.toString());
    }
  }
}
