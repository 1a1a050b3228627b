package ai.lserve.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DTypeTest {
  private static final Path FILE = Path.of("model.safetensors");

  @Test
  void parsesSupportedNames() {
    assertEquals(DType.BF16, DType.parse("BF16", FILE, "t"));
    assertEquals(DType.F16, DType.parse("F16", FILE, "t"));
    assertEquals(DType.F32, DType.parse("F32", FILE, "t"));
    assertEquals(2, DType.BF16.bytes);
    assertEquals(4, DType.F32.bytes);
  }

  @Test
  void rejectsOtherDtypesNamingTheTensor() {
    CheckpointException e =
        Rejections.assertRejected(
            FILE, "unsupported dtype F64", () -> DType.parse("F64", FILE, "model.norm.weight"));
    assertEquals(
        "model.safetensors: unsupported dtype F64 of tensor model.norm.weight (supported: BF16,"
            + " F16, F32)",
        e.getMessage());
    Rejections.assertRejected(
        FILE, "unsupported dtype I8 of tensor x", () -> DType.parse("I8", FILE, "x"));
    Rejections.assertRejected(
        FILE, "unsupported dtype f32 of tensor x", () -> DType.parse("f32", FILE, "x"));
  }

  @Test
  void bf16KnownPatterns() {
    assertBits(1.0f, DType.bf16ToFloat((short) 0x3F80));
    assertBits(-2.0f, DType.bf16ToFloat((short) 0xC000));
    assertBits(0.333984375f, DType.bf16ToFloat((short) 0x3EAB));
    assertBits(-0.0f, DType.bf16ToFloat((short) 0x8000));
    assertBits(Float.POSITIVE_INFINITY, DType.bf16ToFloat((short) 0x7F80));
    assertBits(Float.intBitsToFloat(0x00010000), DType.bf16ToFloat((short) 0x0001)); // subnormal
    assertTrue(Float.isNaN(DType.bf16ToFloat((short) 0x7FC0)));
  }

  @Test
  void bf16EveryPatternIsTheUpperHalfOfAFloat() {
    for (int h = 0; h < 0x10000; h++) {
      assertEquals(
          h << 16, Float.floatToRawIntBits(DType.bf16ToFloat((short) h)), Integer.toHexString(h));
    }
  }

  @Test
  void f16KnownPatterns() {
    assertBits(1.0f, DType.f16ToFloat((short) 0x3C00));
    assertBits(-2.0f, DType.f16ToFloat((short) 0xC000));
    assertBits(65504f, DType.f16ToFloat((short) 0x7BFF));
    assertBits(0.333251953125f, DType.f16ToFloat((short) 0x3555));
    assertBits(0x1p-14f, DType.f16ToFloat((short) 0x0400)); // smallest normal
    assertBits(0x1p-24f, DType.f16ToFloat((short) 0x0001)); // smallest subnormal
    assertBits(1023 * 0x1p-24f, DType.f16ToFloat((short) 0x03FF));
    assertBits(-0.0f, DType.f16ToFloat((short) 0x8000));
    assertBits(Float.NEGATIVE_INFINITY, DType.f16ToFloat((short) 0xFC00));
    assertTrue(Float.isNaN(DType.f16ToFloat((short) 0x7E00)));
  }

  @Test
  void f16EveryPatternMatchesTheDefinition() {
    for (int h = 0; h < 0x10000; h++) {
      float expected = SafeTensorsWriter.halfValue((short) h);
      float actual = DType.f16ToFloat((short) h);
      if (Float.isNaN(expected)) {
        assertTrue(Float.isNaN(actual), Integer.toHexString(h));
      } else {
        assertBits(expected, actual);
      }
    }
  }

  private static void assertBits(float expected, float actual) {
    assertEquals(
        Float.floatToRawIntBits(expected),
        Float.floatToRawIntBits(actual),
        expected + " vs " + actual);
  }
}
