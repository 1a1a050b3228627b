package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;
import jcuda.driver.CUdeviceptr;

/**
 * Small host-device copies through pinned memory: per-step uploads (token ids, step metadata,
 * page lists) into scratch device memory, and downloads (logits, selections) that wait for the
 * stream. Upload space is reused once the stream has drained ({@link #reset}). Uploads go through
 * the {@link StepGraph}: inside a decode step's segment they become copies of the graph, which read
 * the pinned bytes when it runs; a download first issues the open segment.
 */
final class Transfers implements AutoCloseable {
  private final CudaDevice device;
  private final DeviceArena arena;
  private final StepGraph graph;
  private final PinnedBuffer up = new PinnedBuffer(8 << 20), down = new PinnedBuffer(8 << 20);
  private long used;

  Transfers(CudaDevice device, DeviceArena arena, StepGraph graph) {
    this.device = device;
    this.arena = arena;
    this.graph = graph;
  }

  /** Room for {@code bytes} in the upload buffer; waits for the stream when it must reuse it. */
  private long reserve(long bytes) {
    long need = (bytes + 15) & -16;
    if (used + need > up.capacity()) {
      graph.flush();
      device.synchronize();
      used = 0;
      up.ensure(need);
    }
    long at = used;
    used += need;
    return at;
  }

  /** A scratch copy of values[0, n) on the device. */
  CUdeviceptr ints(int[] values, int n) {
    long bytes = 4L * Math.max(1, n);
    long at = reserve(bytes);
    ByteBuffer b = up.buffer();
    b.position((int) at);
    b.asIntBuffer().put(values, 0, n);
    CUdeviceptr dst = arena.scratch(bytes);
    if (n > 0) graph.copy(dst, up.at(at), 4L * n);
    return dst;
  }

  CUdeviceptr ints(int[] values) {
    return ints(values, values.length);
  }

  /** Copies bytes the caller wrote with {@code fill} into dst, asynchronously. */
  void upload(CUdeviceptr dst, long bytes, Consumer<ByteBuffer> fill) {
    long at = reserve(bytes);
    ByteBuffer b = up.buffer();
    b.position((int) at).limit((int) (at + bytes));
    fill.accept(b.slice().order(ByteOrder.LITTLE_ENDIAN));
    graph.copy(dst, up.at(at), bytes);
  }

  /** Waits for the stream, then returns {@code bytes} copied from src (valid until the next call). */
  ByteBuffer download(CUdeviceptr src, long bytes) {
    graph.flush();
    down.ensure(bytes);
    cuMemcpyDtoHAsync(down.at(0), src, bytes, device.stream());
    device.synchronize();
    return down.buffer().limit((int) bytes);
  }

  /** Forgets past uploads; the caller has drained the stream. */
  void reset() {
    used = 0;
  }

  @Override
  public void close() {
    up.close();
    down.close();
  }
}
