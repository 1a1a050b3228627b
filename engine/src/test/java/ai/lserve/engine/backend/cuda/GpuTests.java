package ai.lserve.engine.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Tensor;
import ai.lserve.engine.model.DType;
import ai.lserve.engine.model.SafeTensorsFile;
import ai.lserve.engine.model.SafeTensorsWriter;
import ai.lserve.engine.model.WeightTensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Helpers of the GPU tests: the skip when there is no GPU, random data, weights in a file. */
final class GpuTests {
  private GpuTests() {}

  /** Skips the calling test, with the reason, where the CUDA backend cannot run. */
  static void assumeGpu() {
    assumeTrue(CudaProbe.unavailableReason().isEmpty(),
        () -> "GPU test skipped: " + CudaProbe.unavailableReason().orElse(""));
  }

  static CudaBackend open() {
    return (CudaBackend) CudaBackend.open(0, 0.25, true);
  }

  /** Uniform values in ±[0.05, 1) scaled, rounded to bf16 (never zero). */
  static float[] random(Random r, int n, float scale) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      float v = (0.05f + 0.95f * r.nextFloat()) * (r.nextBoolean() ? 1 : -1) * scale;
      x[i] = SafeTensorsWriter.round(DType.BF16, v);
    }
    return x;
  }

  static double relativeL2(float[] got, float[] want) {
    double num = 0, den = 0;
    for (int i = 0; i < got.length; i++) {
      double e = (double) got[i] - want[i];
      num += e * e;
      den += (double) want[i] * want[i];
    }
    return Math.sqrt(num / den);
  }

  static float[] round(DType type, float[] x) {
    float[] y = new float[x.length];
    for (int i = 0; i < x.length; i++) y[i] = SafeTensorsWriter.round(type, x[i]);
    return y;
  }

  /** Writes one tensor to a safetensors file and maps it back. */
  static WeightTensor weight(Path dir, String name, DType type, long[] shape, float[] values) {
    Path file = dir.resolve(name + ".safetensors");
    Map<String, SafeTensorsWriter.Tensor> m = new LinkedHashMap<>();
    m.put(name, SafeTensorsWriter.Tensor.of(type, shape, values));
    SafeTensorsWriter.write(file, m);
    return SafeTensorsFile.open(file).map(name);
  }

  /** A tensor of the backend set to these values. */
  static Tensor tensor(Backend b, int rows, int cols, float[] values) {
    Tensor t = b.tensor(rows, cols);
    b.fromHost(t, values);
    return t;
  }
}
