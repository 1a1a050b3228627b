package ai.lserve.engine.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** {@link VectorMath}'s loops on the Vector API; loaded only when the module is present. */
final class SimdMath {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private SimdMath() {}

  static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    FloatVector acc = FloatVector.zero(S);
    int i = 0;
    for (int end = S.loopBound(n); i < end; i += S.length())
      acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
    float s = acc.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
    return s;
  }

  static void axpy(float a, float[] x, int xOff, float[] acc, int accOff, int n) {
    FloatVector va = FloatVector.broadcast(S, a);
    int i = 0;
    for (int end = S.loopBound(n); i < end; i += S.length())
      FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, acc, accOff + i)).intoArray(acc, accOff + i);
    for (; i < n; i++) acc[accOff + i] += a * x[xOff + i];
  }
}
