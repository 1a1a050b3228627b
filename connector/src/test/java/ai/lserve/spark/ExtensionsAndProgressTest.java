package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import ai.lserve.spark.source.LServeSource;
import java.util.List;
import java.util.ServiceLoader;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.SparkSessionExtensionsProvider;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry;
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry$;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

class ExtensionsAndProgressTest {
  @Test
  void extensionsInjectTheFunctions() {
    SparkSessionExtensions ext = new SparkSessionExtensions();
    new LServeExtensions().apply(ext);
    FunctionRegistry registry = ext.registerFunctions(FunctionRegistry$.MODULE$.builtin().clone());
    List<String> names = CollectionConverters.asJava(registry.listFunction()).stream()
        .map(FunctionIdentifier::funcName).toList();
    assertTrue(names.containsAll(List.of(LServe.GENERATE, LServe.GENERATE_RESULT, LServe.DEVICE)), names.toString());
  }

  @Test
  void servicesMakeTheFunctionsAndTheShortNameAvailableFromTheJar() {
    assertTrue(ServiceLoader.load(SparkSessionExtensionsProvider.class).stream()
        .anyMatch(p -> p.type() == LServeExtensions.class));
    assertTrue(ServiceLoader.load(DataSourceRegister.class).stream()
        .anyMatch(p -> p.type() == LServeSource.class));
  }

  @Test
  void theListenerSumsTheRunsRowsAndTokens() throws Exception {
    SparkSession spark = TestSpark.local();
    spark.sql("SELECT lserve_generate(concat('x', id), map('max_new_tokens', '2', 'ignore_eos', 'true')) "
        + "FROM range(0, 5, 1, 2)").collectAsList();
    spark.sparkContext().listenerBus().waitUntilEmpty();
    ProgressListener.Status run = Progress.of(spark).listener().lastRun();
    assertEquals(5, run.rows());
    assertEquals(10, run.tokens());
    assertTrue(run.toString().startsWith("lserve: 5 rows, 10 tokens generated in "), run.toString());
  }
}
