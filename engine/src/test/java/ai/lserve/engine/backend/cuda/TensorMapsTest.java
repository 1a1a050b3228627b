package ai.lserve.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The wgmma GEMM's tensor maps, encoded by the driver through JNA. */
@Tag("gpu")
class TensorMapsTest {
  @Test
  void encodesMapsAndNamesTheMatrixItRejects() {
    GpuTests.assumeGpu();
    try (CudaBackend gpu = GpuTests.open()) {
      TensorMaps maps = TensorMaps.open();
      assertNotNull(maps, "JNA reaches cuTensorMapEncodeTiled on a GPU host");
      CUdeviceptr base = ((CudaTensor) gpu.tensor(300, 4096)).ptr();
      TensorMaps.TensorMap a = maps.bf16(base, 300, 4096, 128), b = maps.bf16(base, 300, 4096, 64);
      assertEquals(TensorMaps.BYTES / 8, a.words().length);
      assertNotEquals(java.util.Arrays.toString(a.words()), java.util.Arrays.toString(b.words()), "the box is in the map");
      // Rows 8 bytes apart: the driver wants strides in multiples of 16 bytes.
      CudaException e = assertThrows(CudaException.class, () -> maps.bf16(base, 300, 4, 64));
      assertTrue(e.getMessage().contains("300 x 4 matrix, boxes of 64 x 64"), e.getMessage());
    }
  }
}
