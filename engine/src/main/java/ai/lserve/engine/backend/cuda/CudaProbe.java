package ai.lserve.engine.backend.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Whether the CUDA backend can work here, found without loading JCuda's native library (which
 * needs the driver's libcuda.so.1): the CPU path and machines without a GPU never load it.
 */
public final class CudaProbe {
  /** The classpath resource the kernels module builds with nvcc. */
  static final String FATBIN = "/ai/lserve/kernels/lserve.fatbin";

  private static final String DRIVER = "libcuda.so.1";

  private CudaProbe() {}

  /** Whether the NVIDIA driver library is installed (in the loader cache or a usual directory). */
  public static boolean driverPresent() {
    List<String> dirs = new ArrayList<>(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
        "/lib/x86_64-linux-gnu", "/lib64", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib", "/usr/local/cuda/compat"));
    String ld = System.getenv("LD_LIBRARY_PATH");
    if (ld != null) for (String d : ld.split(":")) if (!d.isEmpty()) dirs.add(d);
    for (String d : dirs) if (Files.exists(Path.of(d, DRIVER))) return true;
    try {
      byte[] cache = Files.readAllBytes(Path.of("/etc/ld.so.cache"));
      return new String(cache, StandardCharsets.ISO_8859_1).contains(DRIVER);
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether the build compiled the kernels (nvcc was on the PATH). */
  public static boolean kernelsBuilt() {
    return CudaProbe.class.getResource(FATBIN) != null;
  }

  /** Why no GPU is visible, by its device node (/dev/nvidia0 ...), or empty when one is. */
  public static Optional<String> noDeviceNode() {
    try (var nodes = Files.list(Path.of("/dev"))) {
      if (nodes.anyMatch(p -> p.getFileName().toString().matches("nvidia\\d+"))) return Optional.empty();
    } catch (IOException | RuntimeException e) {
      // no /dev listing: treat as no GPU
    }
    return Optional.of("no GPU device node (/dev/nvidiaN) on this machine");
  }

  /** Why the CUDA backend cannot start here, or empty when it may (a GPU must still be found). */
  public static Optional<String> unavailableReason() {
    if (!driverPresent())
      return Optional.of("no NVIDIA driver on this machine (" + DRIVER + " not found); use --device cpu");
    if (!kernelsBuilt())
      return Optional.of("the CUDA kernels were not built (nvcc missing at build time): rebuild with nvcc on the PATH,"
          + " or use --device cpu");
    return Optional.empty();
  }
}
