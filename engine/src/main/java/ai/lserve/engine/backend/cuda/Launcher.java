package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.util.HashSet;
import java.util.Set;
import jcuda.CudaException;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;

/**
 * Launches kernels of the module by name with plain arguments: device pointers (null for a null
 * pointer), ints, longs and floats, through the {@link StepGraph} (which records them while a
 * decode step's graph segment is open). With {@code -Dlserve.cuda.debug=true} (or
 * LSERVE_CUDA_DEBUG=1) every launch is followed by a synchronize, so a kernel fault names its
 * kernel; graphs are then off.
 */
final class Launcher {
  static final boolean DEBUG = Boolean.getBoolean("lserve.cuda.debug") || "1".equals(System.getenv("LSERVE_CUDA_DEBUG"));
  private static final CUdeviceptr NULL = new CUdeviceptr();

  private final CudaDevice device;
  private final StepGraph graph;
  private final Set<String> largeSmem = new HashSet<>();

  Launcher(CudaDevice device, StepGraph graph) {
    this.device = device;
    this.graph = graph;
  }

  /** Blocks of 256 threads for a grid-stride loop over n elements (at most 4096). */
  static int blocks(long n) {
    return (int) Math.max(1, Math.min(4096, (n + 255) / 256));
  }

  void launch(String kernel, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    launch(false, kernel, gx, gy, gz, block, sharedBytes, args);
  }

  /**
   * Launches a kernel that waits for the kernel before it itself (pdl_wait, kernels/src/common.cuh),
   * so that it may start while that one drains ({@link DependentLaunch}).
   */
  void launchDependent(String kernel, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    launch(true, kernel, gx, gy, gz, block, sharedBytes, args);
  }

  private void launch(boolean dependent, String kernel, int gx, int gy, int gz, int block, int sharedBytes,
      Object... args) {
    if (gx == 0 || gy == 0 || gz == 0) return;
    CUfunction f = device.function(kernel);
    try {
      if (sharedBytes > 48 * 1024 && largeSmem.add(kernel))
        cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes);
      graph.launch(kernel, f, new int[] {gx, gy, gz, block, sharedBytes}, args, dependent);
      if (DEBUG) cuStreamSynchronize(device.stream());
    } catch (CudaException e) {
      throw new IllegalStateException("kernel " + kernel + " failed: " + e.getMessage(), e);
    }
  }

  /** The kernel parameter array of plain arguments. */
  static Pointer parameters(Object[] args) {
    NativePointerObject[] params = new NativePointerObject[args.length];
    for (int i = 0; i < args.length; i++) {
      Object a = args[i];
      if (a == null) params[i] = Pointer.to(NULL);
      else if (a instanceof CUdeviceptr p) params[i] = Pointer.to(p);
      else if (a instanceof Integer v) params[i] = Pointer.to(new int[] {v});
      else if (a instanceof Long v) params[i] = Pointer.to(new long[] {v});
      else if (a instanceof Float v) params[i] = Pointer.to(new float[] {v});
      else if (a instanceof TensorMaps.TensorMap t) params[i] = Pointer.to(t.words());
      else throw new IllegalArgumentException("kernel argument of type " + a.getClass());
    }
    return Pointer.to(params);
  }
}
