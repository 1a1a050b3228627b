package ai.lserve.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.SafeTensorsWriter.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightTensorTest {
  private static final float[] F32 = {1.5f, -2.25f, 3e-38f, Float.MIN_VALUE, -0.0f, 1e30f};

  /** bf16 bits: 1, -2, 1/3 rounded, +inf, a subnormal, -0, 0.5, 3. */
  private static final short[] BF16 = {
    0x3F80, (short) 0xC000, 0x3EAB, 0x7F80, 0x0001, (short) 0x8000, 0x3F00, 0x4040
  };

  @TempDir static Path dir;
  static SafeTensorsFile file;

  @BeforeAll
  static void write() {
    Map<String, Tensor> t = new LinkedHashMap<>();
    t.put("f32", Tensor.of(DType.F32, new long[] {2, 3}, F32));
    t.put("bf16", new Tensor("BF16", new long[] {2, 4}, shorts(BF16)));
    short[] all = new short[0x10000];
    for (int i = 0; i < all.length; i++) {
      all[i] = (short) i;
    }
    t.put("f16", new Tensor("F16", new long[] {256, 256}, shorts(all)));
    t.put("vec", Tensor.of(DType.F32, new long[] {5}, new float[] {1, 2, 3, 4, 5}));
    t.put("cube", Tensor.of(DType.F32, new long[] {2, 3, 4}, new float[24]));
    SafeTensorsWriter.write(dir.resolve("w.safetensors"), t);
    file = SafeTensorsFile.open(dir.resolve("w.safetensors"));
  }

  @AfterAll
  static void close() {
    file.close();
  }

  @Test
  void rowsAndColsViewTheTensorAsAMatrix() {
    WeightTensor m = file.map("f32");
    assertEquals("f32", m.name());
    assertEquals(DType.F32, m.dtype());
    assertArrayEquals(new long[] {2, 3}, m.shape());
    assertEquals(2, m.rows());
    assertEquals(3, m.cols());
    WeightTensor v = file.map("vec");
    assertEquals(1, v.rows());
    assertEquals(5, v.cols());
    WeightTensor c = file.map("cube");
    assertEquals(6, c.rows());
    assertEquals(4, c.cols());
  }

  @Test
  void f32RowIsExactAndLandsAtTheOffset() {
    float[] dst = new float[7];
    Arrays.fill(dst, Float.NaN);
    file.map("f32").readRow(1, dst, 2);
    assertTrue(Float.isNaN(dst[1]) && Float.isNaN(dst[5]));
    assertBits(Arrays.copyOfRange(F32, 3, 6), Arrays.copyOfRange(dst, 2, 5));
  }

  @Test
  void bf16RowsDecodeToKnownValues() {
    float[] dst = new float[8];
    file.map("bf16").readRows(0, 2, dst);
    assertBits(
        new float[] {
          1f,
          -2f,
          0.333984375f,
          Float.POSITIVE_INFINITY,
          Float.intBitsToFloat(0x10000),
          -0f,
          0.5f,
          3f
        },
        dst);
    float[] row = new float[4];
    file.map("bf16").readRow(1, row, 0);
    assertBits(Arrays.copyOfRange(dst, 4, 8), row);
  }

  @Test
  void f16EveryBitPatternDecodesExactly() {
    float[] dst = new float[0x10000]; // more than one decode chunk
    file.map("f16").readRows(0, 256, dst);
    for (int h = 0; h < dst.length; h++) {
      float expected = SafeTensorsWriter.halfValue((short) h);
      if (Float.isNaN(expected)) {
        assertTrue(Float.isNaN(dst[h]), Integer.toHexString(h));
      } else {
        assertEquals(
            Float.floatToRawIntBits(expected),
            Float.floatToRawIntBits(dst[h]),
            Integer.toHexString(h));
      }
    }
    float[] row = new float[256];
    file.map("f16").readRow(0x3C, row, 0); // 0x3C00..0x3CFF: 1.0 and up
    assertEquals(1.0f, row[0]);
    assertEquals(1 + 1 / 1024f, row[1]);
  }

  @Test
  void concurrentReadersGetTheSameRows() {
    WeightTensor w = file.map("f16");
    float[] sequential = new float[0x10000];
    w.readRows(0, 256, sequential);
    float[] parallel = new float[0x10000];
    IntStream.range(0, 256).parallel().forEach(r -> w.readRow(r, parallel, r * 256));
    assertArrayEquals(sequential, parallel);
  }

  @Test
  void toFloatArrayReadsWholeTensor() {
    assertArrayEquals(new float[] {1, 2, 3, 4, 5}, file.map("vec").toFloatArray());
    assertBits(F32, file.map("f32").toFloatArray());
  }

  @Test
  void bytesAreAReadOnlyLittleEndianViewOfTheTensor() {
    ByteBuffer b = file.map("f32").bytes();
    assertTrue(b.isReadOnly());
    assertEquals(ByteOrder.LITTLE_ENDIAN, b.order());
    assertEquals(24, b.remaining());
    assertEquals(-2.25f, b.getFloat(4));
    assertThrows(ReadOnlyBufferException.class, () -> b.put(0, (byte) 1));
    assertEquals((short) 0xC000, file.map("bf16").bytes().getShort(2));
  }

  @Test
  void rowsOutsideTheTensorAreRefused() {
    WeightTensor w = file.map("f32");
    assertThrows(IndexOutOfBoundsException.class, () -> w.readRow(2, new float[3], 0));
    assertThrows(IndexOutOfBoundsException.class, () -> w.readRow(-1, new float[3], 0));
    assertThrows(IndexOutOfBoundsException.class, () -> w.readRows(1, 2, new float[6]));
    assertThrows(IndexOutOfBoundsException.class, () -> w.readRow(0, new float[2], 0));
  }

  @Test
  void mappedTensorsOutliveTheFile() {
    try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("w.safetensors"))) {
      WeightTensor w = f.map("vec");
      f.close();
      assertArrayEquals(new float[] {1, 2, 3, 4, 5}, w.toFloatArray());
    }
  }

  private static byte[] shorts(short[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (short s : values) {
      b.putShort(s);
    }
    return b.array();
  }

  private static void assertBits(float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(
          Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]), "element " + i);
    }
  }
}
