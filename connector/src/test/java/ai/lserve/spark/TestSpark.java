package ai.lserve.spark;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;

/** The test suite's Spark: one local[2] session shared by the test classes of a JVM. */
final class TestSpark {
  private static SparkSession shared;
  private static final Path WAREHOUSE = tempDir("lserve-test-warehouse");

  private TestSpark() {}

  /** The bundled model (lserve-needle-7m); -Dlserve.test.model=DIR points the tests at another one. */
  static Path model() {
    String p = System.getProperty("lserve.test.model");
    Path dir = p != null ? Path.of(p) : repoRoot().resolve("examples/models/lserve-needle-7m");
    if (!Files.isRegularFile(dir.resolve("tokenizer.json")))
      throw new IllegalStateException("test model with a tokenizer not found at " + dir.toAbsolutePath());
    return dir.toAbsolutePath();
  }

  static Path repoRoot() {
    Path d = Path.of("").toAbsolutePath();
    while (d != null && !Files.exists(d.resolve("connector/pom.xml"))) d = d.getParent();
    if (d == null) throw new IllegalStateException("repository root not found above " + Path.of("").toAbsolutePath());
    return d;
  }

  private static Path tempDir(String prefix) {
    try {
      Path d = Files.createTempDirectory(prefix);
      d.toFile().deleteOnExit();
      return d;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static synchronized SparkSession local() {
    if (shared == null || shared.sparkContext().isStopped()) {
      shared = base().master("local[2]").appName("lserve-tests").getOrCreate();
      LServe.register(shared);
    }
    return shared;
  }

  /** Settings every test session shares: loopback, no UI, Kryo with every class registered. */
  static SparkSession.Builder base() {
    return SparkSession.builder()
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.warehouse.dir", WAREHOUSE.toString())
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.kryo.registrator", LServeKryoRegistrator.class.getName())
        .config("spark.lserve.model", model().toString())
        .config("spark.lserve.device", "cpu")
        .config("spark.lserve.threads", "2")
        .config("spark.lserve.kv_cache_bytes", String.valueOf(64 << 20)) // several engines share the test JVM
        .config("spark.lserve.max_new_tokens", "4")
        .config("spark.lserve.ignore_eos", "true") // the trained model may end early; tests count the tokens
        .config("spark.lserve.temperature", "0")
        .config("spark.lserve.max_model_len", "1024");
  }

  /** Stops the shared session, for a test class that needs a Spark of its own. */
  static synchronized void stop() {
    SparkSession active = SparkSession.getActiveSession().getOrElse(() -> null);
    if (active != null) active.stop();
    if (shared != null) shared.stop();
    shared = null;
    SparkSession.clearActiveSession();
    SparkSession.clearDefaultSession();
  }
}
