package ai.lserve.engine.backend;

import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.backend.cuda.CudaBackend;
import ai.lserve.engine.runtime.EngineOptions;

/**
 * Opens the backend a device option names. Only a {@code cuda} device touches the CUDA backend's
 * classes, and only it loads JCuda's native library.
 */
public final class Backends {
  private Backends() {}

  public static Backend open(EngineOptions options) {
    String device = options.device();
    if (device.equals("cpu") || device.equals("auto")) return new CpuBackend(options.threads());
    if (device.equals("cuda") || device.matches("cuda:\\d+"))
      return CudaBackend.open(device.equals("cuda") ? 0 : Integer.parseInt(device.substring(5)), options.memoryFraction());
    throw new IllegalArgumentException("unknown device '" + device + "' (expected cpu, cuda, cuda:N or auto)");
  }
}
