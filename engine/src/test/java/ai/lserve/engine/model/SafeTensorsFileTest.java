package ai.lserve.engine.model;

import static ai.lserve.engine.model.Rejections.assertRejected;
import static ai.lserve.engine.model.SafeTensorsWriter.entry;
import static ai.lserve.engine.model.SafeTensorsWriter.header;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.lserve.engine.model.SafeTensorsWriter.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsFileTest {
  @TempDir Path dir;

  @Test
  void readsHeaderInOffsetOrderIgnoringMetadata() throws IOException {
    Path f = dir.resolve("m.safetensors");
    // Entries listed out of offset order, metadata in the middle, 8 bytes of trailing padding.
    String header =
        header(
            entry("b", "F32", new long[] {2}, 8, 16),
            "\"__metadata__\":{\"format\":\"pt\"}",
            entry("a", "BF16", new long[] {2, 2}, 0, 8),
            entry("empty", "F16", new long[] {0, 4}, 16, 16));
    ByteBuffer data = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
    data.putShort((short) 0x3F80)
        .putShort((short) 0x4000)
        .putShort((short) 0x4040)
        .putShort((short) 0x4080);
    data.putFloat(5f).putFloat(6f);
    SafeTensorsWriter.writeRaw(f, header, data.array());
    try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
      assertEquals(f, st.file());
      assertEquals(List.of("a", "b", "empty"), List.copyOf(st.tensors().keySet()));
      TensorInfo a = st.tensors().get("a");
      assertEquals(DType.BF16, a.dtype());
      assertArrayEquals(new long[] {2, 2}, a.shape());
      assertEquals(0, a.begin());
      assertEquals(8, a.end());
      assertEquals(4, a.numel());
      assertEquals(f, a.file());
      assertArrayEquals(new float[] {1, 2, 3, 4}, st.map("a").toFloatArray());
      assertArrayEquals(new float[] {5, 6}, st.map("b").toFloatArray());
      assertEquals(0, st.map("empty").toFloatArray().length);
      assertRejected(f, "no tensor named zzz", () -> st.map("zzz"));
    }
  }

  @Test
  void truncatedFile() throws IOException {
    Path f = dir.resolve("t.safetensors");
    Files.write(f, new byte[5]);
    assertRejected(
        f,
        "truncated file: 5 bytes, a safetensors file starts with an 8-byte header length",
        () -> SafeTensorsFile.open(f));
  }

  @Test
  void headerLengthBeyondTheEndOfTheFile() throws IOException {
    Path f = dir.resolve("h.safetensors");
    Files.write(f, withLength(1000, "{}"));
    assertRejected(
        f,
        "header length 1000 goes beyond the end of the file (10 bytes)",
        () -> SafeTensorsFile.open(f));
    Files.write(f, withLength(-1, "{}")); // unsigned 2^64 - 1
    assertRejected(
        f, "header length 18446744073709551615 goes beyond the end", () -> SafeTensorsFile.open(f));
  }

  @Test
  void headerLengthOverTheReferenceLimit() throws IOException {
    Path f = dir.resolve("big.safetensors");
    Files.write(f, withLength(100_000_008L, "{}"));
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(100_000_100L); // sparse
    }
    assertRejected(
        f,
        "header length 100000008 is over the 100000000-byte limit",
        () -> SafeTensorsFile.open(f));
  }

  @Test
  void badJsonHeader() {
    Path f = dir.resolve("j.safetensors");
    SafeTensorsWriter.writeRaw(f, "{\"a\": {\"dtype\": \"F32\",", new byte[0]);
    assertRejected(f, "bad JSON in header: ", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(f, "[1, 2]", new byte[0]);
    assertRejected(f, "bad JSON in header: expected an object", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(f, "{\"a\":1,\"a\":2}", new byte[0]);
    assertRejected(f, "bad JSON in header: Duplicate field 'a'", () -> SafeTensorsFile.open(f));
  }

  @Test
  void headerThatIsNotUtf8() throws IOException {
    Path f = dir.resolve("u.safetensors");
    byte[] header = "{\"\u00e9\":1}  ".getBytes(StandardCharsets.ISO_8859_1); // lone 0xE9 byte
    ByteBuffer b =
        ByteBuffer.allocate(8 + header.length)
            .order(ByteOrder.LITTLE_ENDIAN)
            .putLong(header.length)
            .put(header);
    Files.write(f, b.array());
    assertRejected(f, "bad JSON in header: not valid UTF-8", () -> SafeTensorsFile.open(f));
  }

  @Test
  void entriesMissingFields() {
    Path f = dir.resolve("e.safetensors");
    SafeTensorsWriter.writeRaw(f, "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
    assertRejected(f, "tensor w: missing dtype", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(
        f, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]);
    assertRejected(
        f, "tensor w: shape must be a list of integers, got null", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(f, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]);
    assertRejected(
        f, "tensor w: data_offsets must be a list of 2 integers", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(
        f, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[4]);
    assertRejected(
        f, "tensor w: data_offsets must be a list of 2 integers", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(f, "{\"w\":[1]}", new byte[4]);
    assertRejected(f, "tensor w: header entry is not an object", () -> SafeTensorsFile.open(f));
  }

  @Test
  void negativeDimension() {
    Path f = dir.resolve("n.safetensors");
    SafeTensorsWriter.writeRaw(
        f, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,4]}}", new byte[4]);
    assertRejected(
        f, "tensor w: shape holds -1, not a non-negative integer", () -> SafeTensorsFile.open(f));
  }

  @Test
  void offsetsOutOfRange() {
    Path f = dir.resolve("o.safetensors");
    SafeTensorsWriter.writeRaw(f, header(entry("w", "F32", new long[] {4}, 0, 16)), new byte[12]);
    assertRejected(
        f,
        "tensor w: data_offsets [0, 16] out of range of the 12-byte data section",
        () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(f, header(entry("w", "F32", new long[] {0}, 8, 4)), new byte[12]);
    assertRejected(f, "tensor w: data_offsets [8, 4] out of range", () -> SafeTensorsFile.open(f));
  }

  @Test
  void byteLengthNotMatchingShapeAndDtype() {
    Path f = dir.resolve("l.safetensors");
    SafeTensorsWriter.writeRaw(
        f, header(entry("w", "F32", new long[] {2, 3}, 0, 20)), new byte[24]);
    assertRejected(
        f, "tensor w: 20 bytes for shape [2, 3] of F32 needs 24", () -> SafeTensorsFile.open(f));
    SafeTensorsWriter.writeRaw(
        f, header(entry("w", "BF16", new long[] {2, 3}, 0, 24)), new byte[24]);
    assertRejected(
        f, "tensor w: 24 bytes for shape [2, 3] of BF16 needs 12", () -> SafeTensorsFile.open(f));
  }

  @Test
  void overlappingTensorsNamesBoth() {
    Path f = dir.resolve("v.safetensors");
    String header =
        header(
            entry("first", "F32", new long[] {4}, 0, 16),
            entry("second", "F32", new long[] {4}, 12, 28));
    SafeTensorsWriter.writeRaw(f, header, new byte[28]);
    assertRejected(
        f, "tensors first [0, 16) and second [12, 28) overlap", () -> SafeTensorsFile.open(f));
    String nested = // "small" lies wholly inside "outer"
        header(
            entry("outer", "F32", new long[] {6}, 0, 24),
            entry("small", "F32", new long[] {1}, 4, 8));
    SafeTensorsWriter.writeRaw(f, nested, new byte[24]);
    assertRejected(
        f, "tensors outer [0, 24) and small [4, 8) overlap", () -> SafeTensorsFile.open(f));
  }

  @Test
  void unsupportedDtypeNamesTheTensor() {
    Path f = dir.resolve("d.safetensors");
    Map<String, Tensor> t = new LinkedHashMap<>();
    t.put("model.norm.weight", new Tensor("F64", new long[] {2}, new byte[16]));
    SafeTensorsWriter.write(f, t);
    assertRejected(
        f, "unsupported dtype F64 of tensor model.norm.weight", () -> SafeTensorsFile.open(f));
  }

  @Test
  void tensorsOf2GiBOrMoreAreRefusedBeforeMapping() {
    Path f = dir.resolve("huge.safetensors");
    SafeTensorsWriter.writeSparse(f, Map.of("huge", Map.entry(DType.BF16, new long[] {1L << 30})));
    assertRejected(
        f,
        "tensor huge: 2147483648 bytes, tensors of 2 GiB or more are not supported",
        () -> SafeTensorsFile.open(f));
  }

  @Test
  void missingFile() {
    Path f = dir.resolve("absent.safetensors");
    assertRejected(f, "cannot open", () -> SafeTensorsFile.open(f));
  }

  private static byte[] withLength(long headerLength, String header) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(8 + h.length)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putLong(headerLength)
        .put(h)
        .array();
  }
}
