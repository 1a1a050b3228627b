package ai.lserve.engine.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * A checkpoint tensor memory-mapped from its file: the bytes stay in the page cache, never in the
 * Java heap, and rows are decoded to float32 on demand. Thread-safe: decoding only uses absolute
 * reads and per-thread scratch.
 */
public final class WeightTensor {
  /** Elements decoded per bulk read of 16-bit data; bounds the per-thread scratch to 32 KiB. */
  private static final int CHUNK = 16 * 1024;

  private static final ThreadLocal<short[]> SCRATCH =
      ThreadLocal.withInitial(() -> new short[CHUNK]);

  private final TensorInfo info;
  private final ByteBuffer mapped;
  private final ShortBuffer halves;
  private final FloatBuffer floats;
  private final int cols;
  private final int rows;

  /** {@code mapped} holds exactly the tensor's bytes. */
  WeightTensor(TensorInfo info, ByteBuffer mapped) {
    this.info = info;
    this.mapped = mapped.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    this.halves = info.dtype().bytes == 2 ? this.mapped.asShortBuffer() : null;
    this.floats = info.dtype() == DType.F32 ? this.mapped.asFloatBuffer() : null;
    long[] shape = info.shape();
    this.cols = shape.length == 0 ? 1 : Math.toIntExact(shape[shape.length - 1]);
    this.rows = cols == 0 ? 0 : Math.toIntExact(info.numel() / cols);
  }

  public String name() {
    return info.name();
  }

  public DType dtype() {
    return info.dtype();
  }

  public long[] shape() {
    return info.shape().clone();
  }

  /** Rows of the matrix view: shape[0] for 2-D (all leading dimensions in general), 1 for 1-D. */
  public int rows() {
    return rows;
  }

  /** The last dimension. */
  public int cols() {
    return cols;
  }

  /** A read-only little-endian view of the raw bytes, e.g. for uploading to a GPU. */
  public ByteBuffer bytes() {
    return mapped.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Decodes row {@code row} into {@code dst[dstOffset .. dstOffset + cols)}. */
  public void readRow(int row, float[] dst, int dstOffset) {
    readRows(row, 1, dst, dstOffset);
  }

  /**
   * Decodes {@code count} consecutive rows, starting at {@code firstRow}, into the front of dst.
   */
  public void readRows(int firstRow, int count, float[] dst) {
    readRows(firstRow, count, dst, 0);
  }

  /** The whole tensor as float32; meant for small tensors such as norm weights. */
  public float[] toFloatArray() {
    float[] out = new float[Math.toIntExact(info.numel())];
    decode(0, out, 0, out.length);
    return out;
  }

  private void readRows(int firstRow, int count, float[] dst, int dstOffset) {
    if (firstRow < 0 || count < 0 || firstRow > rows - count) {
      throw new IndexOutOfBoundsException(
          String.format(
              "rows [%d, %d) of %s, which has %d", firstRow, firstRow + count, name(), rows));
    }
    decode(firstRow * cols, dst, dstOffset, count * cols);
  }

  /** Decodes elements [first, first + n) to dst[off ..]; element offsets fit an int (< 2 GiB). */
  private void decode(int first, float[] dst, int off, int n) {
    if (info.dtype() == DType.F32) {
      floats.get(first, dst, off, n);
      return;
    }
    short[] scratch = SCRATCH.get();
    boolean bf16 = info.dtype() == DType.BF16;
    for (int done = 0; done < n; ) {
      int len = Math.min(CHUNK, n - done);
      halves.get(first + done, scratch, 0, len);
      int base = off + done;
      if (bf16) {
        for (int i = 0; i < len; i++) {
          dst[base + i] = DType.bf16ToFloat(scratch[i]);
        }
      } else {
        for (int i = 0; i < len; i++) {
          dst[base + i] = DType.f16ToFloat(scratch[i]);
        }
      }
      done += len;
    }
  }
}
