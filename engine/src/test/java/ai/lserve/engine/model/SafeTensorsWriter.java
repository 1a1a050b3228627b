package ai.lserve.engine.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Writes safetensors files for tests, laid out as the Rust writer does. */
public final class SafeTensorsWriter {
  private SafeTensorsWriter() {}

  /** A tensor to write; {@code dtype} is a safetensors name so tests can write unsupported ones. */
  public record Tensor(String dtype, long[] shape, byte[] data) {
    public static Tensor of(DType dtype, long[] shape, float[] values) {
      return new Tensor(dtype.name(), shape, encode(dtype, values));
    }
  }

  /** Writes the tensors packed in map order after a space-padded, 8-aligned header. */
  public static void write(Path file, Map<String, Tensor> tensors) {
    List<String> entries = new ArrayList<>(List.of("\"__metadata__\":{\"format\":\"pt\"}"));
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    tensors.forEach(
        (name, t) -> {
          entries.add(
              entry(name, t.dtype(), t.shape(), data.size(), data.size() + t.data().length));
          data.writeBytes(t.data());
        });
    writeRaw(file, header(entries.toArray(String[]::new)), data.toByteArray());
  }

  /**
   * Writes a header for tensors of the given shapes (values {dtype, shape}) and a data section of
   * the right length left as a sparse hole: a file of gigabytes that takes no time or disk.
   */
  public static void writeSparse(Path file, Map<String, Map.Entry<DType, long[]>> tensors) {
    List<String> entries = new ArrayList<>();
    long offset = 0;
    for (Map.Entry<String, Map.Entry<DType, long[]>> e : tensors.entrySet()) {
      DType dtype = e.getValue().getKey();
      long[] shape = e.getValue().getValue();
      long bytes = Arrays.stream(shape).reduce(dtype.bytes, (a, b) -> a * b);
      entries.add(entry(e.getKey(), dtype.name(), shape, offset, offset + bytes));
      offset += bytes;
    }
    writeRaw(file, header(entries.toArray(String[]::new)), new byte[0]);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(raf.length() + offset);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes an arbitrary (possibly malformed) header, padded with spaces to 8 bytes, then data. */
  public static void writeRaw(Path file, String headerJson, byte[] data) {
    byte[] header = paddedHeader(headerJson);
    ByteBuffer buf =
        ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length).put(header).put(data);
    try {
      Files.write(file, buf.array());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A header JSON object from entries made by {@link #entry} (or any other "key":value text). */
  public static String header(String... entries) {
    return "{" + String.join(",", entries) + "}";
  }

  /** One header entry, e.g. {@code "w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}. */
  public static String entry(String name, String dtype, long[] shape, long begin, long end) {
    String dims = Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(","));
    return String.format(
        "\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%d,%d]}",
        name, dtype, dims, begin, end);
  }

  /** Little-endian bytes of the values rounded to {@code dtype} (round to nearest even). */
  public static byte[] encode(DType dtype, float[] values) {
    ByteBuffer buf =
        ByteBuffer.allocate(values.length * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      switch (dtype) {
        case F32 -> buf.putFloat(v);
        case BF16 -> buf.putShort(toBf16(v));
        case F16 -> buf.putShort(toF16(v));
      }
    }
    return buf.array();
  }

  /** The value {@code v} becomes once stored as {@code dtype}. */
  public static float round(DType dtype, float v) {
    return switch (dtype) {
      case F32 -> v;
      case BF16 -> Float.intBitsToFloat(toBf16(v) << 16);
      case F16 -> halfValue(toF16(v));
    };
  }

  public static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  public static short toF16(float v) {
    int bits = Float.floatToRawIntBits(v);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) {
      return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (e <= 0) { // half subnormal (or zero)
      if (e < -10) {
        return (short) sign;
      }
      return (short) (sign | roundShift(mant | 0x800000, 14 - e));
    }
    return (short) (sign | roundShift((e << 23) | mant, 13)); // a mantissa carry bumps the exponent
  }

  private static int roundShift(int value, int shift) {
    int kept = value >>> shift;
    int rest = value & ((1 << shift) - 1);
    int half = 1 << (shift - 1);
    return rest > half || (rest == half && (kept & 1) == 1) ? kept + 1 : kept;
  }

  /** binary16 bits to their value, straight from the definition (independent of the engine). */
  public static float halfValue(short h) {
    int sign = (h >> 15) & 1;
    int exp = (h >> 10) & 0x1f;
    int mant = h & 0x3ff;
    double magnitude =
        exp == 0x1f
            ? (mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN)
            : exp == 0 ? mant * Math.pow(2, -24) : (1 + mant / 1024.0) * Math.pow(2, exp - 15);
    return (float) (sign == 1 ? -magnitude : magnitude);
  }

  private static byte[] paddedHeader(String json) {
    byte[] raw = json.getBytes(StandardCharsets.UTF_8);
    byte[] padded = Arrays.copyOf(raw, (raw.length + 7) / 8 * 8);
    Arrays.fill(padded, raw.length, padded.length, (byte) ' ');
    return padded;
  }
}
