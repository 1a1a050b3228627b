package ai.lserve.engine.kv;

import java.util.Objects;

/**
 * Asymmetric 8- or 4-bit quantization of one vector: one token of one KV head, all head_dim
 * channels (QServe's "fine-grained" KV cache, spec §5.1). Unlike QServe, which stores the zero
 * point in code units, the zero point here is the value of code 0, so dequantization is a single
 * fma, {@code code·scale + zero}, and neither fp16 parameter can overflow: both are bounded by the
 * vector's own values, which must lie within the fp16 range.
 *
 * <p>Parameters: {@code scale = fp16((max − min)/qmax)}, {@code zero = fp16(min)}; codes are
 * {@code clamp(rint((x − zero)/scale), 0, qmax)} with the subtraction and division in float32.
 * When the scale rounds to 0 (a constant vector, or a range under qmax·2^-25) it becomes 2^-24,
 * the smallest positive half: the division stays finite, and the whole range then spans at most
 * qmax/2 codes, so the vector is resolved to half a step unless the rounding of zero dominates.
 */
public final class Quantizer {
  private Quantizer() {}

  /** The smallest positive half, 2^-24, the scale of a vector whose range rounds to no scale. */
  private static final short MIN_SCALE = 0x0001;

  /**
   * Quantizes {@code x[off, off+n)} into {@code codes} from {@code codeOff}: 8 bits one unsigned
   * code per byte; 4 bits two per byte, channel 2i in the low nibble and 2i+1 in the high one (n
   * even). Writes {@code params[paramOff] = fp16 scale} and {@code params[paramOff+1] = fp16 zero}.
   *
   * @return the number of code bytes written
   * @throws IllegalArgumentException for bits other than 8 or 4, an empty vector, an odd one at 4
   *     bits, or a value that is NaN or beyond ±65504
   */
  public static int quantize(
      float[] x,
      int off,
      int n,
      int bits,
      byte[] codes,
      int codeOff,
      short[] params,
      int paramOff) {
    int qmax = qmax(bits);
    int bytes = codeBytes(n, bits);
    Objects.checkFromIndexSize(off, n, x.length);
    Objects.checkFromIndexSize(codeOff, bytes, codes.length);
    Objects.checkFromIndexSize(paramOff, 2, params.length);
    float min = Float.POSITIVE_INFINITY;
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      float v = x[off + i];
      if (!(Math.abs(v) <= Fp16.MAX)) { // also catches NaN
        throw new IllegalArgumentException(
            "channel " + i + " is " + v + ", outside the fp16 range ±65504 of a quantized KV cache");
      }
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    short s = scale(min, max, qmax);
    short z = Fp16.fromFloat(min);
    float scale = Fp16.toFloat(s);
    float zero = Fp16.toFloat(z);
    if (bits == 8) {
      for (int i = 0; i < n; i++) {
        codes[codeOff + i] = (byte) code(x[off + i], zero, scale, qmax);
      }
    } else {
      for (int i = 0; i < n; i += 2) {
        int lo = code(x[off + i], zero, scale, qmax);
        int hi = code(x[off + i + 1], zero, scale, qmax);
        codes[codeOff + i / 2] = (byte) (lo | hi << 4);
      }
    }
    params[paramOff] = s;
    params[paramOff + 1] = z;
    return bytes;
  }

  /**
   * Writes {@code code·scale + zero} for the n channels into {@code dst} from {@code dstOff}. The
   * product is exact in float32 (at most 8 + 11 significant bits), so the one rounding of the add
   * is the one an fp32 fma makes: a GPU kernel's fma gives the same bits.
   */
  public static void dequantize(
      byte[] codes, int codeOff, int n, int bits, short[] params, int paramOff, float[] dst, int dstOff) {
    qmax(bits);
    Objects.checkFromIndexSize(codeOff, codeBytes(n, bits), codes.length);
    Objects.checkFromIndexSize(paramOff, 2, params.length);
    Objects.checkFromIndexSize(dstOff, n, dst.length);
    float scale = Fp16.toFloat(params[paramOff]);
    float zero = Fp16.toFloat(params[paramOff + 1]);
    if (bits == 8) {
      for (int i = 0; i < n; i++) {
        dst[dstOff + i] = (codes[codeOff + i] & 0xff) * scale + zero;
      }
    } else {
      for (int i = 0; i < n; i += 2) {
        int b = codes[codeOff + i / 2];
        dst[dstOff + i] = (b & 0xf) * scale + zero;
        dst[dstOff + i + 1] = ((b >>> 4) & 0xf) * scale + zero;
      }
    }
  }

  /**
   * A proven bound on |x − x̂| for every channel of a vector with this min and max. With s and z
   * the scale and zero quantize stores, and reach = max(max − z, z − min) ≥ |x − z|:
   *
   * <pre>
   *   max(s/2, z − min, max − z − qmax·s) + 2^-22·reach + 2^-23·(|z| + qmax·s)
   * </pre>
   *
   * Unclamped, rint moves t = (x − z)/s by at most 1/2: s/2. A code clamped to 0 means x < z, so
   * x̂ = z is off by at most z − min (zero rounded above min); one clamped to qmax means x exceeds
   * z + qmax·s by at most max − z − qmax·s (scale rounded down, or zero below min). float32
   * rounding of x − z and of the division moves t by at most (2^-23 + 2^-48)·|t|, the error by as
   * much times reach; the dequantizing add rounds once, by at most 2^-24·|x̂| ≤ 2^-24·(|z| +
   * qmax·s). The coefficients 2^-22 and 2^-23 leave room for this method's own double arithmetic
   * (under 2^-51 of reach + |z| + qmax·s), and the result is rounded up to float.
   *
   * <p>For fp16-normal parameters s ≤ (1 + 2^-11)·(max − min)/qmax and |z − min| ≤ 2^-11·|min|, so
   * the bound is about (max − min)/(2·qmax) unless |min| is several times the range.
   */
  public static float errorBound(float min, float max, int bits) {
    int qmax = qmax(bits);
    if (!(-Fp16.MAX <= min && min <= max && max <= Fp16.MAX)) {
      throw new IllegalArgumentException(
          "need -65504 <= min <= max <= 65504, got min " + min + ", max " + max);
    }
    double s = Fp16.toFloat(scale(min, max, qmax));
    double z = Fp16.round(min);
    double reach = Math.max(max - z, z - min);
    double worst = Math.max(s / 2, Math.max(z - min, max - z - qmax * s));
    double bound = worst + 0x1p-22 * reach + 0x1p-23 * (Math.abs(z) + qmax * s);
    float f = (float) bound;
    return f < bound ? Math.nextUp(f) : f;
  }

  private static int qmax(int bits) {
    if (bits != 8 && bits != 4) {
      throw new IllegalArgumentException("bits must be 8 or 4, got " + bits);
    }
    return (1 << bits) - 1;
  }

  private static int codeBytes(int n, int bits) {
    if (n < 1 || (bits == 4 && n % 2 != 0)) {
      throw new IllegalArgumentException(
          "cannot quantize " + n + " channels at " + bits + " bits (need n >= 1, even at 4 bits)");
    }
    return bits == 8 ? n : n / 2;
  }

  private static short scale(float min, float max, int qmax) {
    short s = Fp16.fromFloat((max - min) / qmax);
    return s == 0 ? MIN_SCALE : s;
  }

  private static int code(float x, float zero, float scale, int qmax) {
    // |x − zero| <= 131008 and scale >= 2^-24, so the quotient is finite; a huge one saturates
    // the int cast and is clamped like any other.
    int c = (int) Math.rint((x - zero) / scale);
    return Math.max(0, Math.min(qmax, c));
  }
}
