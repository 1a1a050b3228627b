package ai.lserve.spark;

import ai.lserve.spark.Settings.DevicePolicy;
import java.io.File;
import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * Picks the device of a task's engine: the GPU Spark assigned to the task, else one of the GPUs
 * the executor owns (seen by {@link LServePlugin}), else the {@code gpu} option, else the only
 * visible GPU, else the CPU. Spark addresses are physical ids; they become CUDA ordinals through
 * CUDA_VISIBLE_DEVICES when the process is restricted to some GPUs.
 */
public final class GpuResolver {
  private static final String CUDA_VISIBLE_DEVICES = System.getenv("CUDA_VISIBLE_DEVICES");
  private static final int VISIBLE_GPUS = visibleGpus(CUDA_VISIBLE_DEVICES);

  private GpuResolver() {}

  /** Everything the choice depends on, gathered by {@link #here} or given by tests. */
  public record Inputs(
      DevicePolicy policy,
      Integer gpuOption,
      List<String> taskGpus,
      List<String> executorGpus,
      String cudaVisibleDevices,
      int visibleGpus,
      int partitionId) {}

  /**
   * The chosen device.
   *
   * @param device "cpu" or "cuda:N", as the engine takes it
   * @param source task, executor, option, visible or cpu
   * @param reason one sentence for the log
   */
  public record Choice(String device, String source, String reason) implements Serializable {}

  public static Choice resolve(Inputs in) {
    if (in.policy() == DevicePolicy.CPU) return new Choice("cpu", "cpu", "device=cpu");
    if (!in.taskGpus().isEmpty()) {
      String a = in.taskGpus().get(0);
      return cuda(a, in.cudaVisibleDevices(), "task", "Spark assigned GPU address " + a + " to the task");
    }
    if (!in.executorGpus().isEmpty()) {
      List<String> g = in.executorGpus();
      String a = g.get(Math.floorMod(in.partitionId(), g.size()));
      String why = g.size() == 1
          ? "the executor owns GPU address " + a
          : String.format("the executor owns GPUs %s; partition %d takes address %s", g, in.partitionId(), a);
      return cuda(a, in.cudaVisibleDevices(), "executor", why);
    }
    if (in.gpuOption() != null)
      return new Choice("cuda:" + in.gpuOption(), "option", "option gpu=" + in.gpuOption());
    if (in.visibleGpus() == 1) return new Choice("cuda:0", "visible", "the only visible GPU");
    String none = in.visibleGpus() == 0
        ? "no GPU is visible"
        : in.visibleGpus() + " GPUs are visible but Spark assigned none and no gpu option is set";
    if (in.policy() == DevicePolicy.CUDA)
      throw new IllegalStateException("device=cuda but " + none
          + "; give executors GPU resources (spark.executor.resource.gpu.amount and spark.task.resource.gpu.amount, "
          + "outside local mode) or set spark.lserve.gpu");
    return new Choice("cpu", "cpu", none);
  }

  /** The choice for the current task (or the driver, outside tasks). */
  public static Choice here(Settings s) {
    TaskContext tc = TaskContext.get();
    List<String> task = List.of();
    int partition = 0;
    if (tc != null) {
      partition = tc.partitionId();
      Map<String, ResourceInformation> r = tc.resourcesJMap();
      ResourceInformation gpu = r == null ? null : r.get("gpu");
      if (gpu != null) task = Arrays.asList(gpu.addresses());
    }
    return resolve(new Inputs(s.device(), s.gpu(), task, LServePlugin.executorGpus(), CUDA_VISIBLE_DEVICES,
        VISIBLE_GPUS, partition));
  }

  /** The CUDA ordinal of a Spark GPU address. */
  static int ordinal(String address, String cudaVisibleDevices) {
    String a = address.trim();
    if (cudaVisibleDevices != null && !cudaVisibleDevices.isBlank()) {
      List<String> visible = Arrays.stream(cudaVisibleDevices.split(",")).map(String::trim).toList();
      int i = visible.indexOf(a);
      if (i >= 0) return i;
    }
    try {
      int n = Integer.parseInt(a);
      if (n >= 0) return n;
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw new IllegalArgumentException(String.format(
        "GPU address '%s' is neither a device number nor an entry of CUDA_VISIBLE_DEVICES=%s",
        address, cudaVisibleDevices));
  }

  /** GPUs this process can use: CUDA_VISIBLE_DEVICES when set, else the driver's device list. */
  static int visibleGpus(String cudaVisibleDevices) {
    if (cudaVisibleDevices != null) {
      int n = 0;
      for (String s : cudaVisibleDevices.split(",")) {
        String t = s.trim();
        if (t.isEmpty() || t.startsWith("-") || t.equals("NoDevFiles")) break; // CUDA stops at the first invalid entry
        n++;
      }
      return n;
    }
    String[] gpus = new File("/proc/driver/nvidia/gpus").list();
    return gpus == null ? 0 : gpus.length;
  }

  private static Choice cuda(String address, String cvd, String source, String why) {
    int n = ordinal(address, cvd);
    String mapped = cvd != null && !String.valueOf(n).equals(address.trim())
        ? " (CUDA ordinal " + n + " under CUDA_VISIBLE_DEVICES=" + cvd + ")"
        : "";
    return new Choice("cuda:" + n, source, why + mapped);
  }
}
