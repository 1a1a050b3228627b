package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;

/**
 * Page-locked host memory, the only host memory asynchronous copies use (a Java array is pinned
 * only for the duration of a JNI call). Grows on demand; growing frees the old buffer, so callers
 * make sure no copy still reads it.
 */
final class PinnedBuffer implements AutoCloseable {
  private Pointer pointer;
  private ByteBuffer buffer;
  private long capacity;

  PinnedBuffer(long capacity) {
    allocate(capacity);
  }

  private void allocate(long bytes) {
    if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("pinned buffer of " + bytes + " bytes exceeds 2 GiB");
    pointer = new Pointer();
    cuMemAllocHost(pointer, bytes);
    buffer = pointer.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN);
    capacity = bytes;
  }

  /** Makes room for {@code bytes}; the contents are lost when it grows. */
  void ensure(long bytes) {
    if (bytes <= capacity) return;
    cuMemFreeHost(pointer);
    allocate(Math.max(bytes, capacity * 2));
  }

  long capacity() {
    return capacity;
  }

  /** The whole buffer, position 0, little-endian. */
  ByteBuffer buffer() {
    return buffer.clear();
  }

  Pointer at(long offset) {
    return pointer.withByteOffset(offset);
  }

  @Override
  public void close() {
    cuMemFreeHost(pointer);
  }
}
