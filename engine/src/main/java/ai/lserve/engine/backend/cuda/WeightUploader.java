package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

import ai.lserve.engine.model.DType;
import ai.lserve.engine.model.WeightTensor;
import java.nio.ByteBuffer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;

/**
 * Streams weights from the memory-mapped checkpoint to the GPU as bf16: chunks are copied into two
 * pinned buffers in turn, so reading the page cache overlaps the transfer of the previous chunk;
 * F32 and F16 chunks land in a device staging buffer and a kernel converts them.
 */
final class WeightUploader implements AutoCloseable {
  private static final int CHUNK = 32 << 20;

  private final CudaDevice device;
  private final Launcher launcher;
  private final PinnedBuffer[] pinned = {new PinnedBuffer(CHUNK), new PinnedBuffer(CHUNK)};
  private final CUevent[] done = {new CUevent(), new CUevent()};
  private final boolean[] pending = new boolean[2];
  private final CUdeviceptr[] staging;
  private int next;

  /** {@code staging} holds two device buffers of CHUNK bytes (scratch while weights load). */
  WeightUploader(CudaDevice device, Launcher launcher, CUdeviceptr[] staging) {
    this.device = device;
    this.launcher = launcher;
    this.staging = staging;
    for (CUevent e : done) cuEventCreate(e, 0);
  }

  static long stagingBytes() {
    return CHUNK;
  }

  void upload(WeightTensor t, CUdeviceptr dst) {
    DType type = t.dtype();
    ByteBuffer src = t.bytes();
    long total = src.remaining();
    for (long off = 0; off < total; off += CHUNK) {
      int len = (int) Math.min(CHUNK, total - off);
      int slot = next;
      next ^= 1;
      if (pending[slot]) cuEventSynchronize(done[slot]);
      ByteBuffer p = pinned[slot].buffer();
      p.put(src.duplicate().position((int) off).limit((int) off + len));
      if (type == DType.BF16) {
        cuMemcpyHtoDAsync(dst.withByteOffset(off), pinned[slot].at(0), len, device.stream());
      } else {
        cuMemcpyHtoDAsync(staging[slot], pinned[slot].at(0), len, device.stream());
        long n = len / type.bytes;
        long outOff = off / type.bytes * 2;
        launcher.launch(type == DType.F32 ? "f32_to_bf16" : "f16_to_bf16", Launcher.blocks(n), 1, 1, 256, 0,
            dst.withByteOffset(outOff), staging[slot], n);
      }
      cuEventRecord(done[slot], device.stream());
      pending[slot] = true;
    }
  }

  @Override
  public void close() {
    device.synchronize();
    for (CUevent e : done) cuEventDestroy(e);
    for (PinnedBuffer p : pinned) p.close();
  }
}
