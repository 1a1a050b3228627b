package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import ai.lserve.spark.GpuResolver.Choice;
import ai.lserve.spark.GpuResolver.Inputs;
import ai.lserve.spark.Settings.DevicePolicy;
import java.util.List;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

class GpuResolverTest {
  static Choice resolve(DevicePolicy p, Integer option, List<String> task, List<String> executor, String cvd, int visible,
      int partition) {
    return GpuResolver.resolve(new Inputs(p, option, task, executor, cvd, visible, partition));
  }

  @Test
  void taskResourcesComeFirst() {
    Choice c = resolve(DevicePolicy.AUTO, 5, List.of("1"), List.of("0", "1"), null, 2, 0);
    assertEquals(new Choice("cuda:1", "task", "Spark assigned GPU address 1 to the task"), c);
  }

  @Test
  void thenTheExecutorsGpusSpreadByPartition() {
    assertEquals("cuda:3", resolve(DevicePolicy.AUTO, 0, List.of(), List.of("3"), null, 4, 0).device());
    Choice c = resolve(DevicePolicy.CUDA, 0, List.of(), List.of("0", "1"), null, 2, 5);
    assertEquals("cuda:1", c.device());
    assertEquals("executor", c.source());
    assertTrue(c.reason().contains("partition 5"), c.reason());
  }

  @Test
  void thenTheOptionThenTheOnlyVisibleGpuThenTheCpu() {
    assertEquals(new Choice("cuda:2", "option", "option gpu=2"), resolve(DevicePolicy.AUTO, 2, List.of(), List.of(), null, 4, 0));
    assertEquals(new Choice("cuda:0", "visible", "the only visible GPU"), resolve(DevicePolicy.AUTO, null, List.of(), List.of(), null, 1, 0));
    Choice c = resolve(DevicePolicy.AUTO, null, List.of(), List.of(), null, 0, 0);
    assertEquals(new Choice("cpu", "cpu", "no GPU is visible"), c);
    c = resolve(DevicePolicy.AUTO, null, List.of(), List.of(), null, 2, 0);
    assertEquals("cpu", c.device());
    assertTrue(c.reason().contains("2 GPUs are visible but Spark assigned none"), c.reason());
  }

  @Test
  void cpuPolicyIgnoresGpusAndCudaPolicyNeedsOne() {
    assertEquals("cpu", resolve(DevicePolicy.CPU, 1, List.of("0"), List.of("0"), null, 1, 0).device());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> resolve(DevicePolicy.CUDA, null, List.of(), List.of(), null, 0, 0));
    assertTrue(e.getMessage().startsWith("device=cuda but no GPU is visible"), e.getMessage());
  }

  @Test
  void addressesMapThroughCudaVisibleDevices() {
    Choice c = resolve(DevicePolicy.AUTO, null, List.of("3"), List.of(), "2,3", 2, 0);
    assertEquals("cuda:1", c.device());
    assertTrue(c.reason().contains("CUDA ordinal 1 under CUDA_VISIBLE_DEVICES=2,3"), c.reason());
    assertEquals(0, GpuResolver.ordinal("GPU-aa", "GPU-aa,GPU-bb"));
    assertEquals(4, GpuResolver.ordinal("4", "0,1"));
    assertThrows(IllegalArgumentException.class, () -> GpuResolver.ordinal("GPU-cc", "GPU-aa"));
    assertEquals(2, GpuResolver.visibleGpus("0,1"));
    assertEquals(0, GpuResolver.visibleGpus(""));
    assertEquals(1, GpuResolver.visibleGpus("3,-1,4"));
  }

  @Test
  void localModeWithTaskGpusIsRejectedBeforeItHangs() {
    SparkConf conf = new SparkConf().set("spark.task.resource.gpu.amount", "1");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> LocalModeGuard.check("local[2]", conf));
    assertTrue(e.getMessage().contains("Spark never assigns GPUs to tasks in local mode"), e.getMessage());
    LocalModeGuard.check("local-cluster[1,2,1024]", conf);
    LocalModeGuard.check("local[*]", new SparkConf());
  }
}
