package ai.lserve.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.sparse.SparseConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Where there is no GPU (CI), asking for one fails with a message saying so. */
class CudaUnavailableTest {
  @Test
  void cudaDeviceWithoutDriverIsAClearError() {
    assumeFalse(CudaProbe.driverPresent(), "this machine has an NVIDIA driver");
    EngineOptions o = EngineOptions.defaults().withDevice("cuda:0").withSparse(SparseConfig.dense());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Engine.open(Path.of("src/test/fixtures/tiny-mha-f32"), o).close());
    assertTrue(e.getMessage().contains("cuda:0") && e.getMessage().contains("no NVIDIA driver"), e.getMessage());
  }
}
