package ai.lserve.engine.backend;

import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.backend.cuda.CudaBackend;
import ai.lserve.engine.backend.cuda.CudaProbe;
import ai.lserve.engine.runtime.EngineOptions;
import java.util.Optional;

/**
 * Opens the backend a device option names. Only a {@code cuda} device, or {@code auto} on a
 * machine whose probe finds a driver, a GPU device node and the kernels, touches the CUDA
 * backend's classes and loads JCuda's native library.
 */
public final class Backends {
  private Backends() {}

  public static Backend open(EngineOptions options) {
    String device = options.device();
    if (device.equals("cpu")) return new CpuBackend(options.threads());
    if (device.equals("auto")) return auto(options);
    if (device.equals("cuda") || device.matches("cuda:\\d+"))
      return CudaBackend.open(device.equals("cuda") ? 0 : Integer.parseInt(device.substring(5)), options.memoryFraction(), options.cudaGraphs());
    throw new IllegalArgumentException("unknown device '" + device + "' (expected cpu, cuda, cuda:N or auto)");
  }

  /** cuda:0 when the probe says a GPU is usable and it opens, else the CPU; says which on stderr. */
  private static Backend auto(EngineOptions options) {
    Optional<String> unavailable = CudaProbe.unavailableReason().or(CudaProbe::noDeviceNode);
    if (unavailable.isEmpty()) {
      try {
        Backend b = CudaBackend.open(0, options.memoryFraction(), options.cudaGraphs());
        System.err.println("device auto: " + b.name());
        return b;
      } catch (RuntimeException e) {
        unavailable = Optional.of(e.getMessage());
      }
    }
    System.err.println("device auto: cpu (" + unavailable.get() + ")");
    return new CpuBackend(options.threads());
  }
}
