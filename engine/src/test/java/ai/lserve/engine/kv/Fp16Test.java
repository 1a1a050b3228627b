package ai.lserve.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Fp16Test {
  @Test
  void everyHalfRoundTrips() {
    for (int h = 0; h < 0x10000; h++) {
      float f = Fp16.toFloat((short) h);
      if (Float.isNaN(f)) {
        assertHalfNaN(Fp16.fromFloat(f));
      } else {
        assertEquals(h, Fp16.fromFloat(f) & 0xffff, Integer.toHexString(h));
        assertEquals(Float.floatToRawIntBits(f), Float.floatToRawIntBits(Fp16.round(f)));
      }
    }
  }

  /** Midpoints between neighbouring halves go to the even one; a hair off goes to the nearer. */
  @Test
  void tiesGoToEvenEverywhere() {
    for (int sign : new int[] {0, 0x8000}) {
      for (int h = 0; h < 0x7c00; h++) { // up to and including the pair (65504, infinity)
        float lo = Fp16.toFloat((short) (sign | h));
        float hi = Fp16.toFloat((short) (sign | (h + 1)));
        float mid = h + 1 == 0x7c00 ? Math.copySign(65520f, lo) : (lo + hi) / 2; // exact in float
        int even = (h & 1) == 0 ? h : h + 1;
        assertEquals(sign | even, Fp16.fromFloat(mid) & 0xffff, () -> "tie above " + lo);
        float towardLo = sign == 0 ? Math.nextDown(mid) : Math.nextUp(mid);
        float towardHi = sign == 0 ? Math.nextUp(mid) : Math.nextDown(mid);
        assertEquals(sign | h, Fp16.fromFloat(towardLo) & 0xffff, () -> "below the tie " + mid);
        assertEquals(sign | (h + 1), Fp16.fromFloat(towardHi) & 0xffff, () -> "above " + mid);
      }
    }
  }

  @Test
  void overflowsToInfinity() {
    assertEquals(0x7bff, Fp16.fromFloat(65504f));
    assertEquals(0x7bff, Fp16.fromFloat(Math.nextDown(65520f)));
    assertEquals(0x7c00, Fp16.fromFloat(65520f));
    assertEquals(0x7c00, Fp16.fromFloat(1e5f));
    assertEquals(0x7c00, Fp16.fromFloat(Float.MAX_VALUE));
    assertEquals(0x7c00, Fp16.fromFloat(Float.POSITIVE_INFINITY));
    assertEquals((short) 0xfc00, Fp16.fromFloat(-1e5f));
    assertEquals((short) 0xfc00, Fp16.fromFloat(Float.NEGATIVE_INFINITY));
    assertEquals(Fp16.MAX, Fp16.toFloat((short) 0x7bff));
  }

  @Test
  void subnormalsAndZero() {
    assertEquals(0x0001, Fp16.fromFloat(0x1p-24f));
    assertEquals(0x0000, Fp16.fromFloat(0x1p-25f)); // tie between 0 and 2^-24: even is 0
    assertEquals(0x0001, Fp16.fromFloat(Math.nextUp(0x1p-25f)));
    assertEquals(0x0002, Fp16.fromFloat(3 * 0x1p-25f)); // tie between 1 and 2 units
    assertEquals(0x03ff, Fp16.fromFloat(1023 * 0x1p-24f));
    assertEquals(0x0400, Fp16.fromFloat(0x1p-14f)); // smallest normal
    assertEquals(0x0400, Fp16.fromFloat(Math.nextDown(0x1p-14f)));
    assertEquals(0x0000, Fp16.fromFloat(Float.MIN_VALUE));
    assertEquals((short) 0x8000, Fp16.fromFloat(-Float.MIN_VALUE));
    assertEquals((short) 0x8000, Fp16.fromFloat(-0f));
    assertEquals((short) 0x8001, Fp16.fromFloat(-0x1p-24f));
  }

  @Test
  void nanStaysNaN() {
    assertHalfNaN(Fp16.fromFloat(Float.NaN));
    assertHalfNaN(Fp16.fromFloat(Float.intBitsToFloat(0x7f800001))); // payload only in low bits
    assertHalfNaN(Fp16.fromFloat(Float.intBitsToFloat(0xffffffff)));
    assertTrue(Float.isNaN(Fp16.round(Float.NaN)));
  }

  /** Random floats in and around the half range land on a nearest half. */
  @Test
  void randomFloatsRoundToANearestHalf() {
    SplittableRandom rnd = new SplittableRandom(1);
    for (int i = 0; i < 1_000_000; i++) {
      float f = Float.intBitsToFloat(rnd.nextInt(0x2f000000, 0x47800000) | (rnd.nextInt(2) << 31));
      short h = Fp16.fromFloat(f);
      double err = Math.abs((double) f - Fp16.toFloat(h));
      if ((h & 0x7fff) == 0x7c00) {
        assertTrue(Math.abs(f) >= 65520f, () -> f + " overflowed");
        continue;
      }
      for (int step : new int[] {-1, 1}) {
        int n = (h & 0x7fff) + step;
        if (n >= 0 && n < 0x7c00) {
          double other = Math.abs((double) f - Fp16.toFloat((short) ((h & 0x8000) | n)));
          assertTrue(err <= other, () -> f + " -> " + Fp16.toFloat(h));
        }
      }
    }
  }

  @Test
  void everyBf16RoundTrips() {
    for (int h = 0; h < 0x10000; h++) {
      float f = Fp16.bf16ToFloat((short) h);
      if (Float.isNaN(f)) {
        assertTrue(Float.isNaN(Fp16.bf16ToFloat(Fp16.bf16FromFloat(f))));
      } else {
        assertEquals(h, Fp16.bf16FromFloat(f) & 0xffff, Integer.toHexString(h));
        assertEquals(Float.floatToRawIntBits(f), Float.floatToRawIntBits(Fp16.bf16Round(f)));
      }
    }
  }

  @Test
  void bf16TiesGoToEven() {
    for (int h = 0; h < 0x10000; h++) {
      if ((h & 0x7fff) >= 0x7f80) {
        continue; // infinity and NaN have no upper neighbour
      }
      int mid = h << 16 | 0x8000;
      int even = (h & 1) == 0 ? h : h + 1;
      assertEquals(even, Fp16.bf16FromFloat(Float.intBitsToFloat(mid)) & 0xffff);
      assertEquals(h, Fp16.bf16FromFloat(Float.intBitsToFloat(mid - 1)) & 0xffff);
      assertEquals(h + 1, Fp16.bf16FromFloat(Float.intBitsToFloat(mid + 1)) & 0xffff);
    }
    assertEquals(0x7f80, Fp16.bf16FromFloat(Float.MAX_VALUE)); // past the last tie: infinity
    assertEquals((short) 0xff80, Fp16.bf16FromFloat(-Float.MAX_VALUE));
  }

  @Test
  void bf16RandomFloatsRoundToANearestValue() {
    SplittableRandom rnd = new SplittableRandom(2);
    for (int i = 0; i < 1_000_000; i++) {
      float f = Float.intBitsToFloat(rnd.nextInt());
      short h = Fp16.bf16FromFloat(f);
      float r = Fp16.bf16ToFloat(h);
      if (Float.isNaN(f)) {
        assertTrue(Float.isNaN(r));
        continue;
      }
      if (Float.isInfinite(r)) {
        assertTrue(Math.abs(f) >= Float.intBitsToFloat(0x7f7f8000), () -> f + " overflowed");
        continue;
      }
      double err = Math.abs((double) f - r);
      for (int step : new int[] {-1, 1}) {
        int n = (h & 0x7fff) + step;
        if (n >= 0 && n < 0x7f80) {
          double other = Math.abs((double) f - Fp16.bf16ToFloat((short) ((h & 0x8000) | n)));
          assertTrue(err <= other, () -> f + " -> " + r);
          if (err == other) {
            assertEquals(0, h & 1, () -> f + " tied and went odd");
          }
        }
      }
    }
  }

  private static void assertHalfNaN(short h) {
    assertEquals(0x7c00, h & 0x7c00, () -> Integer.toHexString(h & 0xffff));
    assertTrue((h & 0x3ff) != 0, () -> Integer.toHexString(h & 0xffff));
    assertTrue(Float.isNaN(Fp16.toFloat(h)));
  }
}
