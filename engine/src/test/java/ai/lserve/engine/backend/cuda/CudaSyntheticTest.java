package ai.lserve.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.RandomTensor;
import ai.lserve.engine.model.SyntheticModel;
import ai.lserve.engine.model.SyntheticShape;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Synthetic models on the GPU: the synth kernel against RandomTensor, and the engine against the CPU. */
@Tag("gpu")
class CudaSyntheticTest {
  @BeforeAll
  static void gpu() {
    GpuTests.assumeGpu();
  }

  @Test
  void kernelMakesTheSameBitsAsJava() {
    try (CudaBackend b = GpuTests.open()) {
      for (RandomTensor t : List.of(RandomTensor.of("m", new long[] {1031, 517}, 3, 0f, 0.02f),
          RandomTensor.of("n", new long[] {4096}, 3, 1f, 0.02f))) {
        CudaWeight w = (CudaWeight) b.weight(t);
        ByteBuffer got = b.read(w.ptr(), 2 * t.numel());
        for (int i = 0; i < t.numel(); i++) assertEquals(t.bf16(i), got.getShort(2 * i), t.name() + "[" + i + "]");
      }
    }
  }

  @Test
  void syntheticModelOnTheGpuMatchesTheCpu() {
    SyntheticModel model = new SyntheticModel(SyntheticShape.named("tiny"), 0);
    int[] prompt = new Random(2).ints(700, 0, 256).toArray();
    for (SparseConfig sparse : List.of(SparseConfig.dense(), SparseConfig.defaults().withMode(SparseConfig.Mode.LSERVE)
        .withBudget(256).withKvBits(16))) {
      GenerationRequest req = GenerationRequest.ids(prompt, SamplingParams.defaults().withMaxNewTokens(8)).withPromptLogits(4);
      GenerationResult gpu, cpu;
      try (Engine e = Engine.open(model, CudaEngineTest.options("cuda:0", sparse))) {
        gpu = e.generate(req);
      }
      try (Engine e = Engine.open(model, CudaEngineTest.options("cpu", sparse))) {
        cpu = e.generate(req);
      }
      double worst = 0;
      for (int k = 0; k < 4; k++) worst = Math.max(worst, GpuTests.relativeL2(gpu.promptLogits()[k], cpu.promptLogits()[k]));
      System.out.printf("synthetic:tiny %s: prompt logits worst relative L2 %.2e, tokens gpu %s cpu %s%n", sparse.mode(),
          worst, java.util.Arrays.toString(gpu.outputIds()), java.util.Arrays.toString(cpu.outputIds()));
      // Logits only: a random model's top tokens are close, so bf16 vs f32 may flip a greedy choice.
      assertTrue(worst < 2e-2, "relative L2 " + worst);
      assertEquals(8, gpu.outputIds().length);
    }
  }
}
