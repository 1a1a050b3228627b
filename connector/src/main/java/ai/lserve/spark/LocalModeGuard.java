package ai.lserve.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;

/**
 * Local mode never hands GPUs to tasks: a job whose tasks ask for one is queued forever without a
 * warning. Catch that configuration before the first lserve query instead.
 */
public final class LocalModeGuard {
  static final String TASK_GPU = "spark.task.resource.gpu.amount";

  private LocalModeGuard() {}

  public static void check(SparkContext sc) {
    check(sc.master(), sc.getConf());
  }

  static void check(String master, SparkConf conf) {
    boolean local = master.equals("local") || master.startsWith("local[");
    if (!local || !conf.contains(TASK_GPU)) return;
    double amount;
    try {
      amount = Double.parseDouble(conf.get(TASK_GPU));
    } catch (NumberFormatException e) {
      return; // Spark itself rejects it
    }
    if (amount > 0)
      throw new IllegalStateException(String.format(
          "%s=%s in local mode (master %s): Spark never assigns GPUs to tasks in local mode, so every job would "
              + "hang waiting for one. Remove %s and spark.executor.resource.gpu.*; lserve then uses the only "
              + "visible GPU, or set spark.lserve.gpu=N (or spark.lserve.device=cpu).",
          TASK_GPU, conf.get(TASK_GPU), master, TASK_GPU));
  }
}
