package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.*;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * One GPU through JCuda's driver API: its primary context (made current on every thread that
 * uses it, see {@link #bind}), the kernels module loaded from the fatbin resource, and the stream
 * all work is queued on.
 */
final class CudaDevice implements AutoCloseable {
  private final int ordinal;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final CUmodule module = new CUmodule();
  private final CUstream stream = new CUstream();
  private final Map<String, CUfunction> functions = new HashMap<>();
  private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);
  private final String name;
  private boolean closed;

  private CudaDevice(int ordinal, byte[] fatbin) {
    this.ordinal = ordinal;
    int[] count = {0};
    try {
      setExceptionsEnabled(true);
      cuInit(0);
      cuDeviceGetCount(count);
    } catch (UnsatisfiedLinkError | CudaException e) {
      throw new IllegalStateException("device cuda:" + ordinal + ": cannot initialize CUDA (" + e.getMessage()
          + "); is the NVIDIA driver installed and a GPU visible? use --device cpu otherwise", e);
    }
    if (ordinal >= count[0])
      throw new IllegalStateException("device cuda:" + ordinal + " does not exist: this machine has " + count[0]
          + " visible GPU" + (count[0] == 1 ? "" : "s"));
    cuDeviceGet(device, ordinal);
    cuDevicePrimaryCtxRetain(context, device);
    bind();
    byte[] nameBytes = new byte[256];
    cuDeviceGetName(nameBytes, nameBytes.length, device);
    String n = new String(nameBytes, StandardCharsets.US_ASCII);
    this.name = n.substring(0, Math.max(0, n.indexOf('\0')));
    try {
      cuModuleLoadData(module, fatbin);
    } catch (CudaException e) {
      cuDevicePrimaryCtxRelease(device);
      throw new IllegalStateException("the CUDA kernels do not load on " + name + " (" + e.getMessage()
          + "): they are built by nvcc 13 for sm_80/89/90a + compute_90 PTX and need an R580 or newer driver", e);
    }
    cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
  }

  /** Opens GPU {@code ordinal}; a clear error when the machine has no usable GPU or no kernels. */
  static CudaDevice open(int ordinal) {
    CudaProbe.unavailableReason().ifPresent(reason -> {
      throw new IllegalStateException("device cuda:" + ordinal + ": " + reason);
    });
    byte[] fatbin;
    try (InputStream in = CudaDevice.class.getResourceAsStream(CudaProbe.FATBIN)) {
      fatbin = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the kernels' fatbin", e);
    }
    return new CudaDevice(ordinal, fatbin);
  }

  /** Makes the context current on the calling thread (once per thread). */
  void bind() {
    if (!bound.get()) {
      cuCtxSetCurrent(context);
      bound.set(true);
    }
  }

  CUstream stream() {
    return stream;
  }

  CUfunction function(String kernel) {
    return functions.computeIfAbsent(kernel, k -> {
      CUfunction f = new CUfunction();
      cuModuleGetFunction(f, module, k);
      return f;
    });
  }

  int attribute(int attribute) {
    int[] v = {0};
    cuDeviceGetAttribute(v, attribute, device);
    return v[0];
  }

  int multiprocessors() {
    return attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  }

  /** Free and total device memory, bytes. */
  long[] memory() {
    long[] free = {0}, total = {0};
    cuMemGetInfo(free, total);
    return new long[] {free[0], total[0]};
  }

  void synchronize() {
    cuStreamSynchronize(stream);
  }

  int ordinal() {
    return ordinal;
  }

  String name() {
    return name;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    bind();
    cuStreamSynchronize(stream);
    cuStreamDestroy(stream);
    cuModuleUnload(module);
    cuDevicePrimaryCtxRelease(device);
  }
}
