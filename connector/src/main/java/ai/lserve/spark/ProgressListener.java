package ai.lserve.spark;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple4;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Logs generation progress on the driver: rows and tokens done (finished tasks plus the live
 * values of running ones, from heartbeats), the rates, and an ETA once a task has finished (rows
 * per finished task times the tasks of the stages that generate). Counts are progress, not exact
 * results: a retried task counts again.
 */
public final class ProgressListener extends SparkListener {
  private static final Logger LOG = LoggerFactory.getLogger(ProgressListener.class);

  /** What the listener knows now. */
  public record Status(long rows, long tokens, double seconds, Double etaSeconds) {
    public double rowsPerSecond() {
      return seconds > 0 ? rows / seconds : 0;
    }

    public double tokensPerSecond() {
      return seconds > 0 ? tokens / seconds : 0;
    }

    @Override
    public String toString() {
      return String.format("lserve: %,d rows, %,d tokens generated in %.1f s (%.2f rows/s, %.1f tokens/s)%s",
          rows, tokens, seconds, rowsPerSecond(), tokensPerSecond(),
          etaSeconds == null ? "" : String.format(", ETA %.0f s", etaSeconds));
    }
  }

  private final long rowsId, tokensId, intervalMs;
  private final Map<Long, long[]> live = new HashMap<>(); // task id -> rows, tokens so far
  private final Map<Integer, Integer> stageTasks = new HashMap<>();
  private final Map<Integer, Long> stageStart = new HashMap<>(); // nanoTime at submission
  private final Set<Integer> generatingStages = new HashSet<>();
  private long doneRows, doneTokens, doneTasks, startNanos, lastLog;
  private Status lastRun;

  ProgressListener(long rowsId, long tokensId, long intervalMs) {
    this.rowsId = rowsId;
    this.tokensId = tokensId;
    this.intervalMs = intervalMs;
  }

  @Override
  public synchronized void onStageSubmitted(SparkListenerStageSubmitted e) {
    stageTasks.put(e.stageInfo().stageId(), e.stageInfo().numTasks());
    stageStart.put(e.stageInfo().stageId(), System.nanoTime());
  }

  @Override
  public synchronized void onStageCompleted(SparkListenerStageCompleted e) {
    int id = e.stageInfo().stageId();
    if (!generatingStages.contains(id)) {
      stageTasks.remove(id);
      stageStart.remove(id);
    }
  }

  @Override
  public synchronized void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate e) {
    for (Tuple4<Object, Object, Object, scala.collection.immutable.Seq<AccumulableInfo>> u :
        CollectionConverters.asJava(e.accumUpdates())) {
      long[] v = values(u._4());
      if (v == null) continue;
      live.put((Long) u._1(), v);
      seen((Integer) u._2());
    }
    maybeLog();
  }

  @Override
  public synchronized void onTaskEnd(SparkListenerTaskEnd e) {
    live.remove(e.taskInfo().taskId());
    long[] v = values(e.taskInfo().accumulables());
    if (v == null) return;
    seen(e.stageId());
    doneRows += v[0];
    doneTokens += v[1];
    doneTasks++;
    maybeLog();
  }

  @Override
  public synchronized void onJobEnd(SparkListenerJobEnd e) {
    if (startNanos != 0 && live.isEmpty()) {
      Status s = status();
      lastRun = new Status(s.rows(), s.tokens(), s.seconds(), null);
      LOG.info("{} (job {} ended)", lastRun, e.jobId());
      startNanos = 0;
      doneRows = doneTokens = doneTasks = 0;
      generatingStages.clear();
      stageStart.clear();
      stageTasks.clear();
    }
  }

  /** The totals of the last job that generated, or null before one ends. */
  public synchronized Status lastRun() {
    return lastRun;
  }

  /** Rows and tokens of the current run so far, with rate and ETA. */
  public synchronized Status status() {
    long rows = doneRows, tokens = doneTokens;
    for (long[] v : live.values()) {
      rows += v[0];
      tokens += v[1];
    }
    double secs = startNanos == 0 ? 0 : (System.nanoTime() - startNanos) / 1e9;
    Double eta = null;
    if (doneTasks > 0 && rows > 0 && secs > 0) {
      long tasks = generatingStages.stream().mapToLong(s -> stageTasks.getOrDefault(s, 0)).sum();
      double total = (double) doneRows / doneTasks * tasks;
      eta = Math.max(0, total - rows) / (rows / secs);
    }
    return new Status(rows, tokens, secs, eta);
  }

  private void seen(int stage) {
    if (generatingStages.add(stage)) {
      long submitted = stageStart.getOrDefault(stage, System.nanoTime());
      startNanos = startNanos == 0 ? submitted : Math.min(startNanos, submitted);
    }
  }

  private void maybeLog() {
    long now = System.currentTimeMillis();
    if (intervalMs > 0 && startNanos != 0 && now - lastLog >= intervalMs) {
      lastLog = now;
      LOG.info("{}", status());
    }
  }

  /** This connector's rows and tokens in a task's accumulator updates, or null if it has none. */
  private long[] values(scala.collection.Seq<AccumulableInfo> infos) {
    long[] v = null;
    for (AccumulableInfo a : CollectionConverters.asJava(infos)) {
      if (a.id() != rowsId && a.id() != tokensId || a.update().isEmpty()) continue;
      if (v == null) v = new long[2];
      v[a.id() == rowsId ? 0 : 1] = ((Number) a.update().get()).longValue();
    }
    return v;
  }
}
