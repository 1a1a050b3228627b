package ai.lserve.engine.kv;

import ai.lserve.engine.model.DType;

/**
 * Narrowing float32 to IEEE binary16 and to bfloat16, both rounding to nearest, ties to even, as
 * CUDA's {@code __float2half_rn} and {@code __float2bfloat16_rn} do, so that values the CPU stores
 * match what a GPU kernel would store (Float.floatToFloat16 arrives only in Java 20).
 */
public final class Fp16 {
  private Fp16() {}

  /** The largest finite half, 65504. */
  public static final float MAX = 65504f;

  /** float32 to binary16; beyond ±65504 (from 65520 on) gives infinity, NaN stays a quiet NaN. */
  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs > 0x7f800000) { // NaN: keep the top of the payload, set the quiet bit so it stays NaN
      return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff));
    }
    if (abs >= 0x477ff000) { // 65520 and up, infinity included: the tie at 65520 goes to even, inf
      return (short) (sign | 0x7c00);
    }
    if (abs >= 0x38800000) { // normal half (>= 2^-14): rebias the exponent 127 -> 15, round off 13
      int h = abs - (112 << 23);
      h += 0xfff + ((h >>> 13) & 1); // a carry out of the mantissa correctly bumps the exponent
      return (short) (sign | (h >>> 13));
    }
    // Subnormal half: count units of 2^-24. Scaling by 2^24 is exact and leaves < 1024, and rint
    // rounds ties to even; 1024 itself comes out as the smallest normal, 0x400.
    return (short) (sign | (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f));
  }

  public static float toFloat(short h) {
    return DType.f16ToFloat(h);
  }

  /** The nearest half to {@code f}, as a float. */
  public static float round(float f) {
    return toFloat(fromFloat(f));
  }

  /** float32 to bfloat16 (drop the low 16 bits, rounding); NaN stays a quiet NaN. */
  public static short bf16FromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) { // rounding could carry a NaN into infinity
      return (short) ((bits >>> 16) | 0x40);
    }
    // Overflow needs no case: a carry out of the mantissa of the largest floats yields infinity.
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  public static float bf16ToFloat(short h) {
    return DType.bf16ToFloat(h);
  }

  /** The nearest bfloat16 to {@code f}, as a float. */
  public static float bf16Round(float f) {
    return bf16ToFloat(bf16FromFloat(f));
  }
}
