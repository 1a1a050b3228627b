package ai.lserve.engine.backend.cuda;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;

/**
 * Kernel launches as programmatic dependents (compute capability 9.0 and up): the driver's
 * cuLaunchKernelEx with the programmatic-stream-serialization attribute, which JCuda 12.6 does not
 * bind, called through JNA. Such a kernel may start while the kernel before it on the stream
 * drains; it issues its weight loads and then waits for that kernel itself (pdl_wait,
 * kernels/src/common.cuh). Stream capture records the same dependency as a programmatic graph
 * edge, so decode graphs keep it. {@code -Dlserve.cuda.pdl=false} (or LSERVE_CUDA_PDL=0) launches
 * these kernels plainly, for comparison.
 */
final class DependentLaunch {
  static final boolean ENABLED = !"false".equals(System.getProperty("lserve.cuda.pdl"))
      && !"0".equals(System.getenv("LSERVE_CUDA_PDL"));
  /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuda.h). */
  private static final int PROGRAMMATIC_STREAM_SERIALIZATION = 6;
  /** sizeof(CUlaunchConfig) and sizeof(CUlaunchAttribute) on 64-bit Linux (cuda.h). */
  private static final int CONFIG_BYTES = 56, ATTRIBUTE_BYTES = 72;
  private static final int MAX_ARGS = 64;

  private final Function launchEx;
  /** The launch configuration, its one attribute after it. */
  private final Memory config = new Memory(CONFIG_BYTES + ATTRIBUTE_BYTES);
  /** The kernel's parameter pointers, then one 8-byte slot per argument value they point to. */
  private final Memory params = new Memory(16L * MAX_ARGS);

  private DependentLaunch(Function launchEx) {
    this.launchEx = launchEx;
    config.clear();
    config.setInt(CONFIG_BYTES, PROGRAMMATIC_STREAM_SERIALIZATION);
    config.setInt(CONFIG_BYTES + 8, 1); // programmaticStreamSerializationAllowed
    config.setPointer(40, config.share(CONFIG_BYTES)); // attrs
    config.setInt(48, 1); // numAttrs
  }

  /**
   * The launcher, or null (with a line on stderr) where JNA cannot reach the driver's
   * cuLaunchKernelEx: the kernels then launch plainly, which only costs speed.
   */
  static DependentLaunch open() {
    Function launchEx = JnaDriver.function("cuLaunchKernelEx", "GEMVs launch plainly");
    return launchEx == null ? null : new DependentLaunch(launchEx);
  }

  /** Launches f (dims = grid x, y, z, block x, shared bytes) with plain arguments, as {@link Launcher}'s. */
  void launch(CUfunction f, int[] dims, CUstream stream, Object[] args) {
    if (args.length > MAX_ARGS) throw new IllegalArgumentException("more than " + MAX_ARGS + " kernel arguments");
    config.setInt(0, dims[0]); // grid x, y, z
    config.setInt(4, dims[1]);
    config.setInt(8, dims[2]);
    config.setInt(12, dims[3]); // block x, y, z
    config.setInt(16, 1);
    config.setInt(20, 1);
    config.setInt(24, dims[4]); // dynamic shared memory
    config.setLong(32, StepGraph.handle(stream)); // hStream
    long values = 8L * MAX_ARGS;
    for (int i = 0; i < args.length; i++) {
      long slot = values + 8L * i;
      Object a = args[i];
      if (a == null) params.setLong(slot, 0);
      else if (a instanceof CUdeviceptr p) params.setLong(slot, StepGraph.address(p));
      else if (a instanceof Integer v) params.setInt(slot, v);
      else if (a instanceof Long v) params.setLong(slot, v);
      else if (a instanceof Float v) params.setFloat(slot, v);
      else throw new IllegalArgumentException("kernel argument of type " + a.getClass());
      params.setPointer(8L * i, params.share(slot));
    }
    int rc = launchEx.invokeInt(new Object[] {config, new com.sun.jna.Pointer(StepGraph.handle(f)), params, null});
    if (rc != CUresult.CUDA_SUCCESS) throw new CudaException(CUresult.stringFor(rc) + " (cuLaunchKernelEx)");
  }
}
