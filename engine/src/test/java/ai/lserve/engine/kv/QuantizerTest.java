package ai.lserve.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class QuantizerTest {
  private static final int VECTORS = 300;

  /** A family of test vectors: given the randomness and D, one vector (never all zero). */
  private record Family(String name, BiFunction<SplittableRandom, Integer, float[]> make) {}

  private static final Family[] FAMILIES = {
    new Family("unit normal", (r, d) -> normal(r, d, 1, 0)),
    new Family(
        "scaled and offset",
        (r, d) -> {
          float sigma = (float) Math.pow(10, r.nextDouble(-4, 3));
          return normal(r, d, sigma, (float) (sigma * 3 * r.nextGaussian()));
        }),
    new Family(
        "keys with outlier channels",
        (r, d) -> {
          float[] x = normal(r, d, 1, 0);
          for (int c = 3; c < d; c += 37) { // the same channels in every token, as in real keys
            x[c] *= 10;
          }
          return x;
        }),
    new Family(
        "all equal",
        (r, d) -> {
          float[] x = new float[d];
          Arrays.fill(x, (float) (Math.pow(10, r.nextDouble(-3, 4)) * (r.nextBoolean() ? 1 : -1)));
          return x;
        }),
    new Family("all negative", (r, d) -> map(normal(r, d, 1, 0), v -> -Math.abs(v) - 0.5f)),
    new Family(
        "tiny range",
        (r, d) ->
            normal(r, d, 1e-6f * (float) r.nextDouble(0.1, 10), (float) (r.nextGaussian() * 10))),
    new Family("fp16-subnormal scale", (r, d) -> normal(r, d, 1e-5f, 0)),
    new Family(
        "near the fp16 limits",
        (r, d) -> map(normal(r, d, 2e4f, 0), v -> Math.max(-Fp16.MAX, Math.min(Fp16.MAX, v)))),
  };

  @Test
  void everyChannelIsWithinTheBoundAndTheBoundIsReached() {
    SplittableRandom rnd = new SplittableRandom(7);
    for (int bits : new int[] {8, 4}) {
      for (int d : new int[] {128, 16}) {
        for (Family f : FAMILIES) {
          double worstRatio = 0;
          for (int v = 0; v < VECTORS; v++) {
            float[] x = f.make.apply(rnd, d);
            float[] xHat = roundTrip(x, bits);
            float bound = Quantizer.errorBound(min(x), max(x), bits);
            for (int c = 0; c < d; c++) {
              double err = Math.abs((double) x[c] - xHat[c]);
              int ch = c;
              assertTrue(
                  err <= bound,
                  () -> String.format("%s, %d bits, D=%d, channel %d: |%s - %s| > %s",
                      f.name, bits, d, ch, x[ch], xHat[ch], bound));
              worstRatio = Math.max(worstRatio, err / bound);
            }
          }
          double ratio = worstRatio;
          assertTrue(
              ratio >= 1 / 3.0,
              () -> String.format("%s, %d bits, D=%d: error reaches only %.3f of the bound",
                  f.name, bits, d, ratio));
        }
      }
    }
  }

  @Test
  void boundIsUsefulForUnitNormalData() {
    SplittableRandom rnd = new SplittableRandom(8);
    for (int v = 0; v < VECTORS; v++) {
      float[] x = normal(rnd, 128, 1, 0);
      float min = min(x);
      float max = max(x);
      assertTrue(Quantizer.errorBound(min, max, 8) <= 0.02f, () -> min + ".." + max);
      assertTrue(Quantizer.errorBound(min, max, 4) <= 0.5f, () -> min + ".." + max);
      // Within 1% of the ideal half step (max - min) / (2 qmax).
      assertTrue(Quantizer.errorBound(min, max, 8) <= 1.01 * (max - min) / 510);
      assertTrue(Quantizer.errorBound(min, max, 4) <= 1.01 * (max - min) / 30);
    }
  }

  @Test
  void codesSpanTheFullRange() {
    SplittableRandom rnd = new SplittableRandom(9);
    for (int bits : new int[] {8, 4}) {
      int qmax = (1 << bits) - 1;
      for (int d : new int[] {128, 16}) {
        for (Family f : new Family[] {FAMILIES[0], FAMILIES[2]}) {
          for (int v = 0; v < VECTORS; v++) {
            float[] x = f.make.apply(rnd, d);
            int[] codes = codes(x, bits);
            int lo = 0;
            int hi = 0;
            for (int c = 0; c < d; c++) {
              lo = x[c] < x[lo] ? c : lo;
              hi = x[c] > x[hi] ? c : hi;
            }
            assertEquals(0, codes[lo], f.name);
            assertEquals(qmax, codes[hi], f.name);
          }
        }
      }
    }
  }

  @Test
  void exactGridsQuantizeExactlyAndPackLowNibbleFirst() {
    float[] x4 = new float[16];
    for (int c = 0; c < 16; c++) {
      x4[c] = (c * 7) % 16; // 0..15 in a scrambled order: scale 1, zero 0
    }
    byte[] codes = new byte[8];
    short[] params = new short[2];
    assertEquals(8, Quantizer.quantize(x4, 0, 16, 4, codes, 0, params, 0));
    assertEquals(1f, Fp16.toFloat(params[0]));
    assertEquals(0f, Fp16.toFloat(params[1]));
    for (int i = 0; i < 8; i++) {
      assertEquals((int) x4[2 * i] | (int) x4[2 * i + 1] << 4, codes[i] & 0xff, "byte " + i);
    }
    assertEquals(0x70, codes[0] & 0xff); // channel 0 -> 0 (low), channel 1 -> 7 (high)
    assertArrayEquals(x4, roundTrip(x4, 4));

    float[] x8 = new float[256];
    for (int c = 0; c < 256; c++) {
      x8[c] = (c * 37) % 256 - 100; // -100..155: scale 1, zero -100
    }
    codes = new byte[256];
    assertEquals(256, Quantizer.quantize(x8, 0, 256, 8, codes, 0, params, 0));
    for (int c = 0; c < 256; c++) {
      assertEquals((int) x8[c] + 100, codes[c] & 0xff);
    }
    assertArrayEquals(x8, roundTrip(x8, 8));
  }

  @Test
  void zeroVectorUsesTheSmallestScale() {
    float[] x = new float[16];
    byte[] codes = new byte[16];
    short[] params = new short[2];
    Quantizer.quantize(x, 0, 16, 8, codes, 0, params, 0);
    assertEquals(0x0001, params[0]); // 2^-24
    assertEquals(0, params[1]);
    assertArrayEquals(new byte[16], codes);
    assertArrayEquals(x, roundTrip(x, 4));
  }

  @Test
  void storesScaleAndZeroAsHalves() {
    float[] x = {-1.3f, 0.2f, 2.9f, 0.7f};
    short[] params = new short[2];
    Quantizer.quantize(x, 0, 4, 4, new byte[2], 0, params, 0);
    assertEquals(Fp16.fromFloat((2.9f - -1.3f) / 15), params[0]);
    assertEquals(Fp16.fromFloat(-1.3f), params[1]);
  }

  @Test
  void isDeterministicAndHonoursOffsets() {
    SplittableRandom rnd = new SplittableRandom(10);
    for (int bits : new int[] {8, 4}) {
      float[] x = normal(rnd, 128, 1, 0.3f);
      float[] padded = new float[128 + 5];
      System.arraycopy(x, 0, padded, 5, 128);
      byte[] a = new byte[128];
      byte[] b = new byte[128 + 3];
      short[] pa = new short[2];
      short[] pb = new short[2 + 4];
      int n = Quantizer.quantize(x, 0, 128, bits, a, 0, pa, 0);
      assertEquals(n, Quantizer.quantize(padded, 5, 128, bits, b, 3, pb, 4));
      assertArrayEquals(Arrays.copyOf(a, n), Arrays.copyOfRange(b, 3, 3 + n));
      assertArrayEquals(pa, Arrays.copyOfRange(pb, 4, 6));
      float[] first = new float[128];
      float[] again = new float[128 + 2];
      Quantizer.dequantize(a, 0, 128, bits, pa, 0, first, 0);
      Quantizer.dequantize(b, 3, 128, bits, pb, 4, again, 2);
      assertArrayEquals(first, Arrays.copyOfRange(again, 2, 130));
      assertArrayEquals(first, roundTrip(x, bits));
    }
  }

  @Test
  void rejectsWhatItCannotStore() {
    byte[] codes = new byte[16];
    short[] params = new short[2];
    assertMessage("bits must be 8 or 4, got 2",
        () -> Quantizer.quantize(new float[4], 0, 4, 2, codes, 0, params, 0));
    assertMessage("cannot quantize 3 channels at 4 bits",
        () -> Quantizer.quantize(new float[4], 0, 3, 4, codes, 0, params, 0));
    assertMessage("cannot quantize 0 channels at 8 bits",
        () -> Quantizer.quantize(new float[4], 0, 0, 8, codes, 0, params, 0));
    assertMessage("channel 1 is NaN",
        () -> Quantizer.quantize(new float[] {0, Float.NaN}, 0, 2, 8, codes, 0, params, 0));
    assertMessage("channel 0 is 70000.0, outside the fp16 range",
        () -> Quantizer.quantize(new float[] {7e4f, 0}, 0, 2, 8, codes, 0, params, 0));
    assertThrows(IndexOutOfBoundsException.class,
        () -> Quantizer.quantize(new float[8], 0, 8, 8, new byte[7], 0, params, 0));
  }

  private static void assertMessage(String expected, Runnable action) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }

  private static float[] roundTrip(float[] x, int bits) {
    byte[] codes = new byte[x.length];
    short[] params = new short[2];
    Quantizer.quantize(x, 0, x.length, bits, codes, 0, params, 0);
    float[] out = new float[x.length];
    Quantizer.dequantize(codes, 0, x.length, bits, params, 0, out, 0);
    return out;
  }

  /** The codes of x, unpacked. */
  private static int[] codes(float[] x, int bits) {
    byte[] packed = new byte[x.length];
    Quantizer.quantize(x, 0, x.length, bits, packed, 0, new short[2], 0);
    int[] codes = new int[x.length];
    for (int c = 0; c < x.length; c++) {
      codes[c] = bits == 8 ? packed[c] & 0xff : (packed[c / 2] >>> (c % 2 * 4)) & 0xf;
    }
    return codes;
  }

  private static float[] normal(SplittableRandom r, int d, float sigma, float mean) {
    float[] x = new float[d];
    for (int c = 0; c < d; c++) {
      x[c] = mean + sigma * (float) r.nextGaussian();
    }
    return x;
  }

  private interface FloatOp {
    float apply(float v);
  }

  private static float[] map(float[] x, FloatOp op) {
    for (int c = 0; c < x.length; c++) {
      x[c] = op.apply(x[c]);
    }
    return x;
  }

  private static float min(float[] x) {
    float m = x[0];
    for (float v : x) {
      m = Math.min(m, v);
    }
    return m;
  }

  private static float max(float[] x) {
    float m = x[0];
    for (float v : x) {
      m = Math.max(m, v);
    }
    return m;
  }
}
