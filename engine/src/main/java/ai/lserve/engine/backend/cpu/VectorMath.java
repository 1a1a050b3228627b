package ai.lserve.engine.backend.cpu;

/**
 * Float32 loops shared by the CPU operations, each with one fixed summation order (so a row's
 * result never depends on the batch). They run on the Vector API when the JVM has the
 * {@code jdk.incubator.vector} module (bin/lserve, Spark and the tests add it; about 4x faster),
 * else as plain loops.
 */
final class VectorMath {
  private static final boolean SIMD = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

  private VectorMath() {}

  static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    if (SIMD) return SimdMath.dot(a, aOff, b, bOff, n);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      s0 += a[aOff + i] * b[bOff + i];
      s1 += a[aOff + i + 1] * b[bOff + i + 1];
      s2 += a[aOff + i + 2] * b[bOff + i + 2];
      s3 += a[aOff + i + 3] * b[bOff + i + 3];
    }
    for (; i < n; i++) s0 += a[aOff + i] * b[bOff + i];
    return (s0 + s1) + (s2 + s3);
  }

  /** acc[accOff + i] += a * x[xOff + i]. */
  static void axpy(float a, float[] x, int xOff, float[] acc, int accOff, int n) {
    if (SIMD) {
      SimdMath.axpy(a, x, xOff, acc, accOff, n);
      return;
    }
    for (int i = 0; i < n; i++) acc[accOff + i] += a * x[xOff + i];
  }
}
