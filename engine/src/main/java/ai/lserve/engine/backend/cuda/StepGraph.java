package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedList;
import java.util.List;
import jcuda.CudaException;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;

/**
 * CUDA graphs for decode steps. While a segment is open (in a decode step, from one layer's
 * attention to the next layer's, or to the step's first wait on the device), kernel launches and
 * host-to-device copies are recorded instead of issued. When it closes, a segment equal to one captured before (same kernels, grids,
 * arguments, device addresses, and copies from the same pinned offsets) replays that graph with one
 * launch; otherwise its operations are captured into a new graph (stream capture) and launched. A
 * graph's copies read the pinned buffer when it runs, so the step's new token ids, metadata and
 * sampling draws reach it without re-capture; what changes the operations themselves (batch shape,
 * KV splits, a new sequence) re-captures. With graphs off, or outside a segment, operations are
 * issued at once.
 */
final class StepGraph implements AutoCloseable {
  /**
   * Graphs kept: a decode step's per-layer segments (up to 128 layers) in both forms (a step that
   * selects pages and one that reuses them), for one batch shape.
   */
  private static final int CACHED = 257;
  private static final VarHandle NATIVE, OFFSET;

  static {
    try {
      NATIVE = MethodHandles.privateLookupIn(NativePointerObject.class, MethodHandles.lookup())
          .findVarHandle(NativePointerObject.class, "nativePointer", long.class);
      OFFSET = MethodHandles.privateLookupIn(Pointer.class, MethodHandles.lookup())
          .findVarHandle(Pointer.class, "byteOffset", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** The address a JCuda pointer stands for (its base plus byte offset), 0 for null. */
  static long address(Pointer p) {
    return p == null ? 0 : (long) NATIVE.get(p) + (long) OFFSET.get(p);
  }

  /** The native handle of a JCuda object (a function, a stream). */
  static long handle(NativePointerObject o) {
    return (long) NATIVE.get(o);
  }

  /**
   * One recorded operation; {@code key} identifies everything a graph bakes in ({@code dependent}
   * follows from the function).
   */
  private record Op(CUfunction function, int[] dims, Object[] args, boolean dependent, Pointer src, CUdeviceptr dst,
      long[] key) {}

  private void issue(Op op) {
    if (op.function() == null) {
      cuMemcpyHtoDAsync(op.dst(), op.src(), op.key()[op.key().length - 1], device.stream());
    } else if (op.dependent() && dependentLaunch != null) {
      dependentLaunch.launch(op.function(), op.dims(), device.stream(), op.args());
    } else {
      int[] d = op.dims();
      cuLaunchKernel(op.function(), d[0], d[1], d[2], d[3], 1, 1, d[4], device.stream(), Launcher.parameters(op.args()),
          null);
    }
  }

  private record Captured(List<Op> ops, CUgraphExec exec) {}

  private final CudaDevice device;
  private final boolean enabled;
  /** Launches kernels marked dependent (null where the device or the option has no such launches). */
  private final DependentLaunch dependentLaunch;
  /** Times every launch (then graphs are off); null when not profiling. */
  final KernelProfile profile = KernelProfile.ON ? new KernelProfile() : null;
  private final LinkedList<Captured> cache = new LinkedList<>();
  private List<Op> ops;
  private long replays;

  StepGraph(CudaDevice device, boolean enabled, boolean dependentLaunches) {
    this.device = device;
    this.enabled = enabled && profile == null;
    this.dependentLaunch = dependentLaunches ? DependentLaunch.open() : null;
  }

  boolean enabled() {
    return enabled;
  }

  /** Starts recording, unless graphs are off or a segment is already open. */
  void open() {
    if (enabled && ops == null) ops = new ArrayList<>();
  }

  /**
   * Records (or, outside a segment, issues) a launch; dims = grid x, y, z, block x, shared bytes;
   * dependent: a kernel that waits for the one before it itself (pdl_wait), launched as its
   * programmatic dependent where the device allows.
   */
  void launch(String kernel, CUfunction f, int[] dims, Object[] args, boolean dependent) {
    Op op = new Op(f, dims, args, dependent, null, null, null);
    if (ops == null) {
      CUevent stop = profile == null ? null : profile.before(kernel, device.stream());
      issue(op);
      if (stop != null) cuEventRecord(stop, device.stream());
      return;
    }
    int size = dims.length;
    for (Object a : args) size += a instanceof TensorMaps.TensorMap t ? 1 + t.words().length : 2;
    long[] key = new long[size];
    int at = 0;
    for (int d : dims) key[at++] = d;
    for (Object a : args) { // a type tag, then the value (a tensor map's every word)
      key[at++] = a == null ? 0 : a instanceof CUdeviceptr ? 1 : a instanceof Integer ? 2 : a instanceof Long ? 3
          : a instanceof Float ? 4 : 5;
      if (a instanceof TensorMaps.TensorMap t) {
        for (long w : t.words()) key[at++] = w;
        continue;
      }
      key[at++] = a == null ? 0 : a instanceof CUdeviceptr p ? address(p) : a instanceof Integer v ? v
          : a instanceof Long v ? v : Float.floatToRawIntBits((Float) a);
    }
    ops.add(new Op(f, dims, args, dependent, null, null, key));
  }

  /** Records (or issues) an asynchronous copy of pinned host memory to the device. */
  void copy(CUdeviceptr dst, Pointer src, long bytes) {
    if (ops == null) {
      cuMemcpyHtoDAsync(dst, src, bytes, device.stream());
      return;
    }
    ops.add(new Op(null, null, null, false, src, dst, new long[] {address(dst), address(src), bytes}));
  }

  /** Issues the open segment (replaying or capturing a graph) and closes it. */
  void flush() {
    if (ops == null) return;
    List<Op> segment = ops;
    ops = null;
    if (segment.isEmpty()) return;
    for (Iterator<Captured> it = cache.iterator(); it.hasNext(); ) {
      Captured c = it.next();
      if (same(c.ops(), segment)) {
        it.remove();
        cache.addFirst(c);
        cuGraphLaunch(c.exec(), device.stream());
        replays++;
        return;
      }
    }
    CUgraph graph = new CUgraph();
    CUgraphExec exec = new CUgraphExec();
    cuStreamBeginCapture(device.stream(), CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    try {
      for (Op op : segment) issue(op);
    } catch (CudaException e) {
      cuStreamEndCapture(device.stream(), graph);
      cuGraphDestroy(graph);
      throw new IllegalStateException("capturing a decode step's CUDA graph failed: " + e.getMessage(), e);
    }
    cuStreamEndCapture(device.stream(), graph);
    cuGraphInstantiate(exec, graph, 0);
    cuGraphDestroy(graph);
    cache.addFirst(new Captured(segment, exec));
    if (cache.size() > CACHED) cuGraphExecDestroy(cache.removeLast().exec());
    cuGraphLaunch(exec, device.stream());
  }

  private static boolean same(List<Op> a, List<Op> b) {
    if (a.size() != b.size()) return false;
    for (int i = 0; i < a.size(); i++) {
      Op x = a.get(i), y = b.get(i);
      if (x.function() != y.function() || !Arrays.equals(x.key(), y.key())) return false;
    }
    return true;
  }

  /** Graphs replayed so far (for tests). */
  long replays() {
    return replays;
  }

  @Override
  public void close() {
    flush();
    if (profile != null) {
      System.err.print(profile.report());
      profile.close();
    }
    for (Captured c : cache) cuGraphExecDestroy(c.exec());
    cache.clear();
  }
}
