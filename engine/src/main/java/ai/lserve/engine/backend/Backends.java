package ai.lserve.engine.backend;

import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.runtime.EngineOptions;

/** Opens the backend a device option names. */
public final class Backends {
  private Backends() {}

  public static Backend open(EngineOptions options) {
    String device = options.device();
    if (device.equals("cpu") || device.equals("auto")) return new CpuBackend(options.threads());
    if (device.equals("cuda") || device.matches("cuda:\\d+"))
      throw new IllegalArgumentException(
          "device " + device + ": the CUDA backend is not part of this build yet; use --device cpu");
    throw new IllegalArgumentException("unknown device '" + device + "' (expected cpu, cuda, cuda:N or auto)");
  }
}
