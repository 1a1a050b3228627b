package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;

import jcuda.driver.CUdeviceptr;

/**
 * The engine's device memory: one allocation, taken once. Weights and KV pools are placed from the
 * bottom and live as long as the arena; per-step scratch (activations, step metadata, attention
 * partials) is placed from the top and released all at once by {@link #resetScratch}.
 */
final class DeviceArena implements AutoCloseable {
  private static final long ALIGN = 256;

  private final CUdeviceptr base = new CUdeviceptr();
  private final long size;
  private final String origin;
  private long bottom, top, peak, generation;

  /** {@code origin} says where the size came from, for the out-of-memory message. */
  DeviceArena(long size, String origin) {
    this.size = size & -ALIGN;
    this.origin = origin;
    cuMemAlloc(base, this.size);
    this.top = this.size;
  }

  /** Permanent memory (weights, KV pages). */
  CUdeviceptr allocate(long bytes, String what) {
    long need = align(bytes);
    if (need > top - bottom)
      throw new IllegalStateException(String.format(
          "out of GPU memory: %s needs %.1f MiB but the arena (%s) has %.1f MiB left; raise the memory fraction,"
              + " lower kv-cache-bytes or max-batch-tokens", what, mib(need), origin, mib(top - bottom)));
    CUdeviceptr p = base.withByteOffset(bottom);
    bottom += need;
    peak = Math.max(peak, used());
    return p;
  }

  /** Memory valid until the next {@link #resetScratch}. */
  CUdeviceptr scratch(long bytes) {
    long need = align(bytes);
    if (need > top - bottom)
      throw new IllegalStateException(String.format(
          "out of GPU scratch memory: a step needs %.1f MiB more but only %.1f MiB are left of the arena (%s);"
              + " lower max-batch-tokens or kv-cache-bytes", mib(need), mib(top - bottom), origin));
    top -= need;
    peak = Math.max(peak, used());
    return base.withByteOffset(top);
  }

  void resetScratch() {
    top = size;
    generation++;
  }

  /** Counts {@link #resetScratch} calls: scratch taken in an earlier generation is gone. */
  long generation() {
    return generation;
  }

  /** Bytes neither permanent nor scratch. */
  long free() {
    return top - bottom;
  }

  long size() {
    return size;
  }

  /** The high-water mark of permanent plus scratch bytes. */
  long peak() {
    return peak;
  }

  private long used() {
    return bottom + (size - top);
  }

  private static long align(long bytes) {
    return Math.max(ALIGN, (bytes + ALIGN - 1) & -ALIGN);
  }

  private static double mib(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }

  @Override
  public void close() {
    cuMemFree(base);
  }
}
