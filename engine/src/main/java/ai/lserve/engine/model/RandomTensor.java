package ai.lserve.engine.model;

import ai.lserve.engine.kv.Fp16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A weight of a synthetic model: bf16 values drawn from a counter-based generator, so any element
 * can be made anywhere (a GPU kernel, a file writer, the CPU) without the others and always equal.
 * Element i is {@code fma(r, scale, mean)} rounded to bf16, where r is a signed 24-bit integer taken
 * from splitmix64(key + i·φ) and {@code key} mixes the model seed with the tensor's name: a uniform
 * distribution of the given mean and standard deviation. Integer arithmetic and one fused
 * multiply-add make the Java and CUDA values bit-identical (kernels/src/synth.cuh).
 *
 * @param shape [rows, cols] for a matrix, [n] for a vector
 */
public record RandomTensor(String name, long[] shape, long key, float mean, float std) {
  static final long GOLDEN = 0x9E3779B97F4A7C15L;

  /** The tensor {@code name} of a model with this seed. */
  public static RandomTensor of(String name, long[] shape, long seed, float mean, float std) {
    return new RandomTensor(name, shape, mix(seed ^ mix(name.hashCode() * GOLDEN)), mean, std);
  }

  /** Multiplier of the 24-bit integer: a uniform of this std spans ±std·√3. */
  public float scale() {
    return (float) (std * Math.sqrt(3) / (1 << 23));
  }

  public long numel() {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  public int rows() {
    return shape.length == 1 ? 1 : Math.toIntExact(shape[0]);
  }

  public int cols() {
    return Math.toIntExact(shape[shape.length - 1]);
  }

  /** Element {@code i} as bf16 bits. */
  public short bf16(long i) {
    int r = (int) (mix(key + i * GOLDEN) >>> 40) - (1 << 23);
    return Fp16.bf16FromFloat(Math.fma((float) r, scale(), mean));
  }

  /** Writes elements [first, first + count) as little-endian bf16 into {@code out}. */
  public void fill(long first, int count, ByteBuffer out) {
    float s = scale();
    for (int j = 0; j < count; j++) {
      int r = (int) (mix(key + (first + j) * GOLDEN) >>> 40) - (1 << 23);
      out.putShort(Fp16.bf16FromFloat(Math.fma((float) r, s, mean)));
    }
  }

  /** The values in the heap, as a mapped tensor would hold them; for small models on the CPU. */
  public WeightTensor materialize() {
    long bytes = 2 * numel();
    if (bytes > Integer.MAX_VALUE)
      throw new IllegalArgumentException("synthetic tensor " + name + " is too large for the CPU (" + bytes + " bytes)");
    ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    fill(0, (int) numel(), b);
    return new WeightTensor(new TensorInfo(name, DType.BF16, shape.clone(), 0, bytes, Path.of("synthetic")), b.flip());
  }

  /** splitmix64's finalizer. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
