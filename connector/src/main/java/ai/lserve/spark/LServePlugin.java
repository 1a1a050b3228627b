package ai.lserve.spark;

import ai.lserve.engine.runtime.EngineStats;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code spark.plugins=ai.lserve.spark.LServePlugin}: tells the engines which GPUs the executor
 * owns (for jobs that give executors GPUs without assigning them to tasks), exports engine gauges
 * through Spark's metrics system, and closes the engines when the executor shuts down.
 */
public final class LServePlugin implements SparkPlugin {
  private static final Logger LOG = LoggerFactory.getLogger(LServePlugin.class);
  private static volatile List<String> executorGpus = List.of();

  /** GPU addresses of this executor, empty without the plugin or without GPU resources. */
  public static List<String> executorGpus() {
    return executorGpus;
  }

  @Override
  public DriverPlugin driverPlugin() {
    return null;
  }

  @Override
  public ExecutorPlugin executorPlugin() {
    return new ExecutorPlugin() {
      @Override
      public void init(PluginContext ctx, Map<String, String> extraConf) {
        ResourceInformation gpu = ctx.resources().get("gpu");
        executorGpus = gpu == null ? List.of() : List.of(gpu.addresses());
        LOG.info("lserve: executor {} owns GPUs {}", ctx.executorID(), executorGpus.isEmpty() ? "none" : Arrays.toString(gpu.addresses()));
        MetricRegistry m = ctx.metricRegistry();
        m.register("engines", (Gauge<Integer>) () -> Engines.snapshot().size());
        gauge(m, "runningSequences", EngineStats::running);
        gauge(m, "waitingSequences", EngineStats::waiting);
        gauge(m, "generatedTokens", EngineStats::generatedTokens);
        gauge(m, "promptTokens", EngineStats::promptTokens);
      }

      @Override
      public void shutdown() {
        Engines.closeAll();
      }
    };
  }

  private static void gauge(MetricRegistry m, String name, ToLongFunction<EngineStats> f) {
    m.register(name, (Gauge<Long>) () -> Engines.snapshot().values().stream().mapToLong(f).sum());
  }
}
