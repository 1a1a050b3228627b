package ai.lserve.spark;

import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;

/**
 * The progress counters of a Spark application: named accumulators that tasks add to (their values
 * reach the driver with executor heartbeats while tasks still run, and show in the Spark UI) and the
 * listener that logs them with rate and ETA.
 */
public record Progress(SparkContext context, LongAccumulator rows, LongAccumulator tokens, ProgressListener listener) {
  public static final String ROWS = "lserve rows";
  public static final String TOKENS = "lserve generated tokens";

  private static Progress current;

  /** This application's counters, created with the listener on first use. */
  public static synchronized Progress of(SparkSession spark) {
    SparkContext sc = spark.sparkContext();
    if (current == null || current.context != sc || sc.isStopped()) {
      LongAccumulator rows = sc.longAccumulator(ROWS);
      LongAccumulator tokens = sc.longAccumulator(TOKENS);
      double interval = Settings.parse(Settings.fromConf(LServe.conf(spark))).progressIntervalSeconds();
      ProgressListener l = new ProgressListener(rows.id(), tokens.id(), (long) (interval * 1000));
      sc.addSparkListener(l);
      current = new Progress(sc, rows, tokens, l);
    }
    return current;
  }
}
