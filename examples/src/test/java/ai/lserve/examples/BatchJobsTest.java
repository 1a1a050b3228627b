package ai.lserve.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's main job (LocalBatchJob) and the spark-submit job (ClusterBatchJob, here on
 * local[2] over the main job's documents) end to end with the bundled model on the CPU, on three
 * short documents so that the suite stays quick.
 */
class BatchJobsTest {
  static final Path MODEL = repoRoot().resolve("examples/models/lserve-needle-7m");

  static Path repoRoot() {
    Path d = Path.of("").toAbsolutePath();
    while (d != null && !Files.exists(d.resolve("examples/pom.xml"))) d = d.getParent();
    if (d == null) throw new IllegalStateException("repository root not found above " + Path.of("").toAbsolutePath());
    return d;
  }

  /** What {@code main} prints to stdout (and still shows it). */
  static String stdout(ThrowingRunnable main) throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    try {
      main.run();
    } finally {
      System.setOut(old);
    }
    String out = bytes.toString(StandardCharsets.UTF_8);
    old.print(out);
    return out;
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  @Test
  void localJobAnswersTheQuestionsAndTheClusterJobRerunsItsDocuments(@TempDir Path dir) throws Exception {
    String out = stdout(() -> LocalBatchJob.main(new String[] {"--model", MODEL.toString(), "--rows", "3",
        "--length", "450-600", "--mode", "dense", "--master", "local[2]", "--output", dir.toString()}));
    assertTrue(out.contains("3 documents (passkey, multikey, kv, 450-600 characters, seed 1)"), out);
    assertTrue(out.contains("3 documents (0 errors)"), out);
    assertTrue(out.contains("mode dense, device cpu"), out);

    long right = 0;
    SparkSession spark = SparkSession.builder().master("local[1]").config("spark.ui.enabled", "false").getOrCreate();
    try {
      List<Row> rows = spark.read().parquet(dir.resolve("results").toString()).orderBy("id").collectAsList();
      assertEquals(3, rows.size());
      for (Row r : rows) {
        boolean correct = r.getString(r.fieldIndex("generated_text")).strip().equals(r.getString(r.fieldIndex("answer")));
        assertEquals(correct, r.getBoolean(r.fieldIndex("correct")), r.toString());
        if (correct) right++;
      }
      assertTrue(right >= 2, "the trained model answers short documents: " + rows);
      assertTrue(out.contains("exact match " + right + "/3"), out);
    } finally {
      spark.stop();
    }

    Map<String, String> conf = Map.of("spark.master", "local[2]", "spark.ui.enabled", "false",
        "spark.lserve.model", MODEL.toString(), "spark.lserve.device", "cpu", "spark.lserve.mode", "dense");
    conf.forEach(System::setProperty);
    long expected = right;
    try {
      String cluster = stdout(() -> ClusterBatchJob.main(new String[] {"--input", dir.resolve("documents").toString(),
          "--template", "{document}{question}", "--option", "max_new_tokens=11", "--output",
          dir.resolve("cluster").toString()}));
      assertTrue(cluster.contains("lserve: wrote 3 rows (0 errors)"), cluster);
      assertTrue(cluster.contains("lserve: exact match " + expected), cluster);
    } finally {
      conf.keySet().forEach(System::clearProperty);
    }
  }
}
