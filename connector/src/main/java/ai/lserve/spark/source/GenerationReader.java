package ai.lserve.spark.source;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.spark.Generation;
import ai.lserve.spark.Outcome;
import ai.lserve.spark.Settings;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.execution.datasources.FilePartition;
import org.apache.spark.sql.execution.datasources.PartitionedFile;
import scala.collection.Iterator;

/**
 * Reads every row of its splits, submits all their prompts to the executor's engine at once (so
 * the engine batches them, together with other tasks' rows), and returns each row as soon as its
 * generation finishes, so output order is completion order.
 */
final class GenerationReader implements PartitionReader<InternalRow> {
  /** An input row and its generation (null future: nothing to generate). */
  private record Pending(InternalRow row, String prompt, CompletableFuture<GenerationResult> future) {}

  private final GenerationReaderFactory f;
  private final FilePartition partition;
  private final LinkedBlockingQueue<Pending> finished = new LinkedBlockingQueue<>();
  private final List<Pending> submitted = new ArrayList<>();
  private Settings settings;
  private boolean started;
  private int remaining;
  private InternalRow current;
  private long rows, errors, promptTokens, generatedTokens, startNanos, endNanos;

  GenerationReader(GenerationReaderFactory f, FilePartition partition) {
    this.f = f;
    this.partition = partition;
  }

  @Override
  public boolean next() {
    if (!started) start();
    if (remaining == 0) {
      if (endNanos == 0) endNanos = System.nanoTime();
      return false;
    }
    Pending p = take();
    remaining--;
    current = emit(p);
    return true;
  }

  @Override
  public InternalRow get() {
    return current;
  }

  private void start() {
    started = true;
    startNanos = System.nanoTime();
    Engine engine = null;
    for (PartitionedFile file : partition.files()) {
      Iterator<InternalRow> it = f.readFile.apply(file);
      while (it.hasNext()) {
        InternalRow row = it.next().copy(); // readers reuse their row objects
        remaining++;
        String prompt = f.template == null ? null : f.template.render(row);
        if (prompt == null) {
          finished.add(new Pending(row, null, null));
          continue;
        }
        if (engine == null) {
          settings = Settings.parse(f.options);
          engine = Generation.engine(settings);
        }
        Pending p = new Pending(row, prompt, Generation.submit(engine, settings, prompt));
        submitted.add(p);
        p.future().whenComplete((r, e) -> finished.add(p));
      }
    }
  }

  private Pending take() {
    TaskContext tc = TaskContext.get();
    try {
      while (true) {
        Pending p = finished.poll(200, TimeUnit.MILLISECONDS);
        if (p != null) return p;
        if (tc != null) tc.killTaskIfInterrupted();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while generating", e);
    }
  }

  private InternalRow emit(Pending p) {
    Object[] generation = null;
    if (p.future() != null) {
      Outcome o = Generation.outcomeOf(p.future());
      if (!o.ok()) {
        errors++;
        if (settings.onError(Settings.OnError.NULL) == Settings.OnError.FAIL)
          throw new IllegalArgumentException(String.format("format(\"lserve\") cannot generate %s: %s",
              Generation.describe(p.prompt()), o.error()));
      }
      rows++;
      promptTokens += o.promptTokens() == null ? 0 : o.promptTokens();
      generatedTokens += o.generatedTokens();
      f.rows.add(1);
      f.tokens.add(o.generatedTokens());
      generation = o.internalValues();
    }
    Object[] values = new Object[f.output.size()];
    for (int i = 0; i < values.length; i++) {
      int g = f.generationIndex[i];
      if (g >= 0) values[i] = generation == null ? null : generation[g];
      else values[i] = p.row().get(f.inputOrdinal[i], f.output.fields()[i].dataType());
    }
    return new GenericInternalRow(values);
  }

  @Override
  public CustomTaskMetric[] currentMetricsValues() {
    long end = endNanos != 0 ? endNanos : System.nanoTime();
    return new CustomTaskMetric[] {
      SourceMetrics.value(SourceMetrics.ROWS, rows),
      SourceMetrics.value(SourceMetrics.ERRORS, errors),
      SourceMetrics.value(SourceMetrics.PROMPT_TOKENS, promptTokens),
      SourceMetrics.value(SourceMetrics.GENERATED_TOKENS, generatedTokens),
      SourceMetrics.value(SourceMetrics.GENERATION_MS, startNanos == 0 ? 0 : (end - startNanos) / 1_000_000)
    };
  }

  /** Cancels what is still queued (a LIMIT reached, or the task killed), freeing the engine. */
  @Override
  public void close() {
    for (Pending p : submitted) p.future().cancel(false);
  }
}
